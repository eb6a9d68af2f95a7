package routing_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/wire"
)

const (
	draHost  = "dra.dra.test"
	draRealm = "dra.test"
	ccr      = 272
	acr      = 271
)

// startAgent runs an agent from a YAML fragment (peers, routes, routing)
// with a loopback listener.
func startAgent(t *testing.T, yaml string) *agent.Agent { return startAgentB(t, yaml) }

func startAgentB(t testing.TB, yaml string) *agent.Agent {
	t.Helper()
	return dratest.StartAgent(t, fmt.Sprintf("identity:\n  origin_host: %s\n  origin_realm: %s\nlisten:\n  - address: 127.0.0.1:0\n", draHost, draRealm)+yaml)
}

func server(t *testing.T, host, realm string, serve func(*dratest.Node, wire.Msg) wire.Msg) *dratest.Node {
	return dratest.Start(t, dratest.Options{Host: host, Realm: realm, Listen: true, Serve: serve})
}

// peerYAML lists servers for the agent to dial, then any extra peer lines.
func peerYAML(ns []*dratest.Node, extra ...string) string {
	var b strings.Builder
	b.WriteString(dratest.DialYAML(ns...))
	for _, e := range extra {
		b.WriteString(e)
	}
	b.WriteString("timers:\n  watchdog: 6s\n  reconnect: 1s\n  reconnect_max: 2s\n")
	return b.String()
}

func nodes(ns ...*dratest.Node) []*dratest.Node { return ns }

func client(t *testing.T, a *agent.Agent, host string) *dratest.Node {
	return dratest.Client(t, a, draHost, host, "client.test")
}

func waitPeers(t *testing.T, a *agent.Agent, ids ...string) { dratest.WaitPeers(t, a, ids...) }

func TestRelayByRealmAndApplication(t *testing.T) {
	ocs := server(t, "ocs.a.test", "a.test", nil)
	cdf := server(t, "cdf.b.test", "b.test", nil)
	a := startAgent(t, peerYAML(nodes(ocs, cdf))+`routes:
  - realm: a.test
    application: 4
    action: relay
    peers: [{host: ocs.a.test}]
  - realm: b.test
    application: 3
    action: proxy
    peers: [{host: cdf.b.test}]
`)
	waitPeers(t, a, "ocs.a.test", "cdf.b.test")
	c := client(t, a, "mme.client.test")

	req := dratest.Request(4, ccr, "mme;1;1", "mme.client.test", "client.test", "a.test", "")
	req = req.AppendAVP(wire.AVPProxyInfo, wire.AVPFlagMandatory, 0,
		wire.AppendStringAVP(nil, wire.AVPProxyHost, wire.AVPFlagMandatory, 0, "px.client.test"))
	sid := dratest.String(req, wire.AVPSessionID)
	ch, hbh, e2e := c.SendIDs(t, draHost, req)
	ans := <-ch
	if code := dratest.ResultCode(ans); code != wire.ResultSuccess || dratest.String(ans, wire.AVPOriginHost) != "ocs.a.test" {
		t.Fatalf("CCR answered %d by %q", code, dratest.String(ans, wire.AVPOriginHost))
	}
	if dratest.String(ans, wire.AVPSessionID) != sid {
		t.Error("Session-Id changed")
	}
	if ans.HopByHop() != hbh || ans.EndToEnd() != e2e {
		t.Errorf("answer ids %x/%x, want %x/%x", ans.HopByHop(), ans.EndToEnd(), hbh, e2e)
	}
	if got := dratest.All(ans, wire.AVPProxyInfo); len(got) != 1 {
		t.Errorf("Proxy-Info lost: %d", len(got))
	}
	got := ocs.Received()
	if len(got) != 1 {
		t.Fatalf("ocs received %d requests", len(got))
	}
	if rr := dratest.All(got[0], wire.AVPRouteRecord); len(rr) != 1 || rr[0] != "mme.client.test" {
		t.Errorf("Route-Record at the server: %v, want [mme.client.test]", rr)
	}
	if got[0].EndToEnd() != e2e {
		t.Error("End-to-End changed in transit")
	}
	if got[0].IsRetransmit() {
		t.Error("T flag on a first send")
	}

	ans = c.Call(t, draHost, dratest.Request(3, acr, "mme;1;2", "mme.client.test", "client.test", "b.test", ""))
	if dratest.ResultCode(ans) != wire.ResultSuccess || dratest.String(ans, wire.AVPOriginHost) != "cdf.b.test" {
		t.Fatalf("ACR answered by %q", dratest.String(ans, wire.AVPOriginHost))
	}
	if ocs.Count() != 1 || cdf.Count() != 1 {
		t.Errorf("ocs %d cdf %d requests", ocs.Count(), cdf.Count())
	}
}

func TestErrorAnswers(t *testing.T) {
	srv := server(t, "hss.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(srv), "  - host: absent.a.test\n    address: 127.0.0.1:1\n    connect: true\n")+`accept_unknown_peers: true
routes:
  - realm: a.test
    application: 16777251
    action: relay
    peers: [{host: hss.a.test}]
  - realm: down.test
    action: relay
    peers: [{host: absent.a.test}]
  - realm: moved.test
    action: redirect
    redirect:
      hosts: ["aaa://hss2.a.test:3868;transport=tcp"]
      usage: REALM_AND_APPLICATION
      max_cache_time: 10m
`)
	waitPeers(t, a, "hss.a.test")
	c := client(t, a, "mme.client.test")
	withProxy := func(m wire.Msg) wire.Msg {
		return m.AppendAVP(wire.AVPProxyInfo, wire.AVPFlagMandatory, 0,
			wire.AppendStringAVP(nil, wire.AVPProxyHost, wire.AVPFlagMandatory, 0, "px"))
	}
	loop := dratest.Request(16777251, 316, "s;loop", "mme.client.test", "client.test", "a.test", "")
	loop = loop.AppendRouteRecord("other.test").AppendRouteRecord(strings.ToUpper(draHost))
	noRealm := dratest.Request(16777251, 316, "s;nr", "mme.client.test", "client.test", "", "")
	ebit := dratest.Request(16777251, 316, "s;e", "mme.client.test", "client.test", "a.test", "")
	ebit.SetFlags(ebit.Flags() | wire.FlagError)

	tests := []struct {
		name string
		req  wire.Msg
		code uint32
	}{
		{"unknown realm", dratest.Request(16777251, 316, "s;1", "mme.client.test", "client.test", "nowhere.test", ""), wire.ResultRealmNotServed},
		{"application not routed", dratest.Request(4, ccr, "s;2", "mme.client.test", "client.test", "a.test", ""), wire.ResultApplicationUnsupported},
		{"loop", loop, wire.ResultLoopDetected},
		{"no eligible peer", dratest.Request(4, ccr, "s;3", "mme.client.test", "client.test", "down.test", ""), wire.ResultUnableToDeliver},
		{"destination host down", dratest.Request(16777251, 316, "s;4", "mme.client.test", "client.test", "a.test", "absent.a.test"), wire.ResultUnableToDeliver},
		{"missing destination realm", noRealm, wire.ResultMissingAVP},
		{"E bit in request", ebit, wire.ResultInvalidHdrBits},
		{"redirect", dratest.Request(1, 265, "s;5", "mme.client.test", "client.test", "moved.test", ""), wire.ResultRedirectIndication},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := withProxy(tt.req)
			sid := dratest.String(req, wire.AVPSessionID)
			ans := c.Call(t, draHost, req)
			if got := dratest.ResultCode(ans); got != tt.code {
				t.Fatalf("Result-Code %d (%s), want %d", got, dratest.String(ans, wire.AVPErrorMessage), tt.code)
			}
			if dratest.String(ans, wire.AVPOriginHost) != draHost {
				t.Errorf("Origin-Host %q", dratest.String(ans, wire.AVPOriginHost))
			}
			if wire.IsProtocolError(tt.code) != ans.IsError() {
				t.Errorf("E bit %v for %d", ans.IsError(), tt.code)
			}
			if dratest.String(ans, wire.AVPSessionID) != sid {
				t.Error("Session-Id not kept")
			}
			if len(dratest.All(ans, wire.AVPProxyInfo)) != 1 {
				t.Error("Proxy-Info not kept")
			}
			if tt.code == wire.ResultRedirectIndication {
				if h := dratest.String(ans, wire.AVPRedirectHost); h != "aaa://hss2.a.test:3868;transport=tcp" {
					t.Errorf("Redirect-Host %q", h)
				}
				u, _ := ans.Find(wire.AVPRedirectHostUsage, 0)
				mc, _ := ans.Find(wire.AVPRedirectMaxCacheTime, 0)
				uv, _ := u.Uint32()
				mv, _ := mc.Uint32()
				if uv != 3 || mv != 600 {
					t.Errorf("Redirect-Host-Usage %d, Max-Cache-Time %d", uv, mv)
				}
			}
			if tt.code == wire.ResultMissingAVP {
				if _, ok := ans.Find(wire.AVPFailedAVP, 0); !ok {
					t.Error("5005 without Failed-AVP")
				}
			}
		})
	}
	if srv.Count() != 0 {
		t.Errorf("server saw %d of the refused requests", srv.Count())
	}
}

// TestFailoverWhenServerKilled sends a steady load through two servers and
// kills one mid-way: every request must still be answered 2001.
func TestFailoverWhenServerKilled(t *testing.T) {
	s1 := server(t, "s1.a.test", "a.test", nil)
	s2 := server(t, "s2.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(s1, s2))+`routes:
  - realm: a.test
    action: relay
    sticky: false
    peers: [{host: s1.a.test}, {host: s2.a.test}]
routing:
  timeout: 1s
  retries: 2
`)
	waitPeers(t, a, "s1.a.test", "s2.a.test")
	c := client(t, a, "pgw.client.test")
	const total = 3000
	var answered, ok atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range total {
		if i == total/3 {
			s1.Kill()
		}
		sem <- struct{}{}
		wg.Add(1)
		ch := c.Send(t, draHost, dratest.Request(4, ccr, fmt.Sprintf("pgw;1;%d", i), "pgw.client.test", "client.test", "a.test", ""))
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			select {
			case ans := <-ch:
				answered.Add(1)
				if dratest.ResultCode(ans) == wire.ResultSuccess {
					ok.Add(1)
				} else {
					t.Logf("answer %d: %s", dratest.ResultCode(ans), dratest.String(ans, wire.AVPErrorMessage))
				}
			case <-time.After(10 * time.Second):
			}
		}()
	}
	wg.Wait()
	st := a.Router().Stats()
	if answered.Load() != total || ok.Load() != total {
		t.Fatalf("sent %d, answered %d, 2001 %d; stats: requests %d forwarded %d answered %d local %d dropped %d unknown %d failovers %d timeouts %d",
			total, answered.Load(), ok.Load(), st.Requests.Load(), st.Forwarded.Load(), st.Answered.Load(), st.LocalAnswers.Load(), st.AnswersDropped.Load(), st.UnknownAnswers.Load(), st.Failovers.Load(), st.Timeouts.Load())
	}
	t.Logf("s1 %d, s2 %d; failovers %d, retransmits %d", s1.Count(), s2.Count(), st.Failovers.Load(), st.Retransmits.Load())
	if s2.Count() < total/2 {
		t.Errorf("s2 carried only %d", s2.Count())
	}
}

// A server that accepts requests and never answers: Tx expires and the
// request is resent, with the T flag, to the next priority.
func TestTimeoutFailsOverWithTFlag(t *testing.T) {
	stalled := server(t, "stalled.a.test", "a.test", func(*dratest.Node, wire.Msg) wire.Msg { return nil })
	backup := server(t, "backup.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(stalled, backup))+`routes:
  - realm: a.test
    action: relay
    timeout: 300ms
    peers: [{host: stalled.a.test, priority: 1}, {host: backup.a.test, priority: 2}]
`)
	waitPeers(t, a, "stalled.a.test", "backup.a.test")
	c := client(t, a, "pgw.client.test")
	start := time.Now()
	ans := c.Call(t, draHost, dratest.Request(4, ccr, "pgw;2;1", "pgw.client.test", "client.test", "a.test", ""))
	if dratest.ResultCode(ans) != wire.ResultSuccess || dratest.String(ans, wire.AVPOriginHost) != "backup.a.test" {
		t.Fatalf("answered %d by %s", dratest.ResultCode(ans), dratest.String(ans, wire.AVPOriginHost))
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("answered after %s, before Tx", d)
	}
	got := backup.Received()
	if len(got) != 1 || !got[0].IsRetransmit() {
		t.Fatal("backup did not receive the request with the T flag")
	}
	if rr := dratest.All(got[0], wire.AVPRouteRecord); len(rr) != 1 {
		t.Errorf("Route-Record added twice on resend: %v", rr)
	}
	if stalled.Count() != 1 {
		t.Errorf("stalled server got %d", stalled.Count())
	}
	// With every peer stalled, the client gets 3002.
	backup.Kill()
	ans = c.Call(t, draHost, dratest.Request(4, ccr, "pgw;2;2", "pgw.client.test", "client.test", "a.test", ""))
	if dratest.ResultCode(ans) != wire.ResultUnableToDeliver {
		t.Fatalf("answered %d, want 3002", dratest.ResultCode(ans))
	}
}

func TestBusyAnswerFailsOver(t *testing.T) {
	busy := server(t, "busy.a.test", "a.test", func(n *dratest.Node, m wire.Msg) wire.Msg { return n.Answer(m, wire.ResultTooBusy) })
	ok := server(t, "ok.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(busy, ok))+`routes:
  - realm: a.test
    action: relay
    peers: [{host: busy.a.test, priority: 1}, {host: ok.a.test, priority: 2}]
`)
	waitPeers(t, a, "busy.a.test", "ok.a.test")
	c := client(t, a, "pgw.client.test")
	ans := c.Call(t, draHost, dratest.Request(4, ccr, "pgw;3;1", "pgw.client.test", "client.test", "a.test", ""))
	if dratest.ResultCode(ans) != wire.ResultSuccess || ok.Count() != 1 || busy.Count() != 1 {
		t.Fatalf("answered %d; busy %d ok %d", dratest.ResultCode(ans), busy.Count(), ok.Count())
	}
}

func TestSessionStickinessAndWeights(t *testing.T) {
	var srvs []*dratest.Node
	for i := range 3 {
		srvs = append(srvs, server(t, fmt.Sprintf("s%d.a.test", i), "a.test", nil))
	}
	a := startAgent(t, peerYAML(srvs)+`routes:
  - realm: a.test
    application: 4
    action: relay
    peers: [{host: s0.a.test}, {host: s1.a.test}, {host: s2.a.test}]
  - realm: w.test
    action: relay
    sticky: false
    peers: [{host: s0.a.test, weight: 3}, {host: s1.a.test, weight: 1}]
`)
	waitPeers(t, a, "s0.a.test", "s1.a.test", "s2.a.test")
	c := client(t, a, "pgw.client.test")
	owner := map[string]string{}
	for s := range 60 {
		sid := fmt.Sprintf("pgw;4;%d", s)
		for range 3 {
			ans := c.Call(t, draHost, dratest.Request(4, ccr, sid, "pgw.client.test", "client.test", "a.test", ""))
			by := dratest.String(ans, wire.AVPOriginHost)
			if prev, ok := owner[sid]; ok && prev != by {
				t.Fatalf("session %s moved from %s to %s", sid, prev, by)
			}
			owner[sid] = by
		}
	}
	for _, s := range srvs {
		if s.Count() == 0 {
			t.Errorf("%s got no session", s.Opts.Host)
		}
	}
	// Weighted share 3:1 over 800 requests without stickiness.
	before0, before1 := srvs[0].Count(), srvs[1].Count()
	for i := range 800 {
		c.Call(t, draHost, dratest.Request(4, ccr, fmt.Sprintf("w;%d", i), "pgw.client.test", "client.test", "w.test", ""))
	}
	n0, n1 := float64(srvs[0].Count()-before0), float64(srvs[1].Count()-before1)
	if ratio := n0 / n1; ratio < 2 || ratio > 4.5 {
		t.Errorf("weight 3:1 gave %v:%v (ratio %.2f)", n0, n1, ratio)
	}
}

func TestFollowRedirect(t *testing.T) {
	target := server(t, "hss2.a.test", "a.test", nil)
	redirector := server(t, "redir.a.test", "a.test", func(n *dratest.Node, m wire.Msg) wire.Msg {
		ans := n.Answer(m, wire.ResultRedirectIndication)
		ans.SetFlags(ans.Flags() | wire.FlagError)
		ans = ans.AppendStringAVP(wire.AVPRedirectHost, wire.AVPFlagMandatory, 0, "aaa://hss2.a.test:3868;transport=tcp")
		ans = ans.AppendUint32AVP(wire.AVPRedirectHostUsage, wire.AVPFlagMandatory, 0, 3)
		return ans.AppendUint32AVP(wire.AVPRedirectMaxCacheTime, wire.AVPFlagMandatory, 0, 60)
	})
	a := startAgent(t, peerYAML(nodes(target, redirector))+`routes:
  - realm: a.test
    action: relay
    peers: [{host: redir.a.test}]
routing:
  follow_redirects: true
  timeout: 2s
  retries: 2
`)
	waitPeers(t, a, "hss2.a.test", "redir.a.test")
	c := client(t, a, "mme.client.test")
	for i := range 3 {
		ans := c.Call(t, draHost, dratest.Request(16777251, 316, fmt.Sprintf("mme;5;%d", i), "mme.client.test", "client.test", "a.test", ""))
		if dratest.ResultCode(ans) != wire.ResultSuccess || dratest.String(ans, wire.AVPOriginHost) != "hss2.a.test" {
			t.Fatalf("request %d answered %d by %s", i, dratest.ResultCode(ans), dratest.String(ans, wire.AVPOriginHost))
		}
	}
	// The redirect was cached for realm and application: only the first
	// request went to the redirecting agent.
	if redirector.Count() != 1 || target.Count() != 3 {
		t.Errorf("redirector %d, target %d", redirector.Count(), target.Count())
	}
}

// A server-initiated request (RAR toward the client by Destination-Host)
// reaches the client through the agent, and its answer goes back.
func TestServerInitiatedRequest(t *testing.T) {
	ocs := server(t, "ocs.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(ocs))+`accept_unknown_peers: true
routes:
  - realm: a.test
    action: relay
    peers: [{host: ocs.a.test}]
`)
	waitPeers(t, a, "ocs.a.test")
	c := client(t, a, "pgw.client.test")
	c.Call(t, draHost, dratest.Request(4, ccr, "pgw;6;1", "pgw.client.test", "client.test", "a.test", ""))
	rar := dratest.Request(4, 258, "pgw;6;1", "ocs.a.test", "a.test", "client.test", "pgw.client.test")
	ocs.WaitOpen(t, draHost)
	ans := ocs.Call(t, draHost, rar)
	if dratest.ResultCode(ans) != wire.ResultSuccess || dratest.String(ans, wire.AVPOriginHost) != "pgw.client.test" {
		t.Fatalf("RAR answered %d by %s", dratest.ResultCode(ans), dratest.String(ans, wire.AVPOriginHost))
	}
	if c.Count() != 1 {
		t.Errorf("client received %d requests", c.Count())
	}
}

func TestUnknownAnswerDiscarded(t *testing.T) {
	srv := server(t, "s.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(srv)))
	waitPeers(t, a, "s.a.test")
	act := srv.WaitOpen(t, draHost)
	stray := srv.Answer(dratest.Request(4, ccr, "x", "s.a.test", "a.test", "a.test", ""), wire.ResultSuccess)
	stray.SetHopByHop(0xdeadbeef)
	act.Conn.Send(stray)
	deadline := time.Now().Add(3 * time.Second)
	for a.Router().Stats().UnknownAnswers.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("stray answer not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A request the agent originates (a local application's RAR) reaches its
// client by Destination-Host, and the answer comes back to the originator;
// one for an unknown realm gets the agent's own 3003.
func TestOriginate(t *testing.T) {
	a := startAgent(t, "accept_unknown_peers: true\n")
	c := client(t, a, "pgw.client.test")
	got := make(chan wire.Msg, 2)
	rar := dratest.Request(4, 258, "dra;1;1", draHost, draRealm, "client.test", "pgw.client.test")
	a.Router().Originate(rar, func(m wire.Msg) { got <- m })
	select {
	case m := <-got:
		if dratest.ResultCode(m) != wire.ResultSuccess || dratest.String(m, wire.AVPOriginHost) != "pgw.client.test" {
			t.Fatalf("answer %d from %s", dratest.ResultCode(m), dratest.String(m, wire.AVPOriginHost))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to the originated request")
	}
	if rs := c.Received(); len(rs) != 1 || len(dratest.All(rs[0], wire.AVPRouteRecord)) != 0 {
		t.Fatalf("client received %d requests (or with a Route-Record)", len(rs))
	}
	a.Router().Originate(dratest.Request(4, 258, "dra;1;2", draHost, draRealm, "nowhere.test", ""), func(m wire.Msg) { got <- m })
	if m := <-got; dratest.ResultCode(m) != wire.ResultRealmNotServed {
		t.Fatalf("answer %d, want 3003", dratest.ResultCode(m))
	}
}
