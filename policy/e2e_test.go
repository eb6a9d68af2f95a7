package policy_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/policy"
	"github.com/dra-project/dra/wire"
)

const (
	draHost  = "dra.dra.test"
	draRealm = "dra.test"
	ccr      = 272
)

func startAgent(t *testing.T, yaml string) *agent.Agent {
	t.Helper()
	return dratest.StartAgent(t, fmt.Sprintf("identity:\n  origin_host: %s\n  origin_realm: %s\nlisten:\n  - address: 127.0.0.1:0\n", draHost, draRealm)+yaml)
}

func server(t *testing.T, host, realm string, serve func(*dratest.Node, wire.Msg) wire.Msg) *dratest.Node {
	return dratest.Start(t, dratest.Options{Host: host, Realm: realm, Listen: true, Serve: serve})
}

// peerYAML lists servers for the agent to dial.
func peerYAML(ns ...*dratest.Node) string {
	var b strings.Builder
	b.WriteString("accept_unknown_peers: true\n")
	b.WriteString(dratest.DialYAML(ns...))
	b.WriteString("timers:\n  watchdog: 6s\n  reconnect: 1s\n  reconnect_max: 2s\n")
	return b.String()
}

func client(t *testing.T, a *agent.Agent, host, realm string) *dratest.Node {
	return dratest.Client(t, a, draHost, host, realm)
}

func waitPeers(t *testing.T, a *agent.Agent, ids ...string) { dratest.WaitPeers(t, a, ids...) }

func TestRateLimitAnswersTooBusy(t *testing.T) {
	srv := server(t, "ocs.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(srv)+`routes:
  - realm: a.test
    action: relay
    peers: [{host: ocs.a.test}]
policy:
  rate_limits:
    - name: per-client
      per: peer
      rate: 0.1
      burst: 10
`)
	waitPeers(t, a, "ocs.a.test")
	c := client(t, a, "mme.client.test", "client.test")
	var chans []<-chan wire.Msg
	for i := range 50 {
		chans = append(chans, c.Send(t, draHost, dratest.Request(4, ccr, fmt.Sprintf("mme;rl;%d", i), "mme.client.test", "client.test", "a.test", "")))
	}
	counts := map[uint32]int{}
	for _, ch := range chans {
		select {
		case ans := <-ch:
			code := dratest.ResultCode(ans)
			counts[code]++
			if code == wire.ResultTooBusy && !strings.Contains(dratest.String(ans, wire.AVPErrorMessage), "per-client") {
				t.Errorf("3004 without the rule in Error-Message: %q", dratest.String(ans, wire.AVPErrorMessage))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a request was not answered at once")
		}
	}
	if counts[wire.ResultSuccess] != 10 || counts[wire.ResultTooBusy] != 40 {
		t.Fatalf("answers %v, want 10 x 2001 and 40 x 3004", counts)
	}
	if srv.Count() != 10 {
		t.Errorf("server saw %d requests, want 10", srv.Count())
	}
}

func TestPeerACLRefusesAtCER(t *testing.T) {
	a := startAgent(t, `accept_unknown_peers: true
policy:
  peer_acl:
    deny_hosts: ["*.evil.test"]
    allow_realms: [client.test]
`)
	good := client(t, a, "mme.client.test", "client.test")
	_ = good
	tests := []struct{ host, realm string }{
		{"mme.evil.test", "client.test"}, // host denied
		{"mme.other.test", "other.test"}, // realm not allowed
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			before := a.Policy().Gate.RefusedPeer.Load()
			n := dratest.Start(t, dratest.Options{Host: tc.host, Realm: tc.realm,
				Dial: []peers.PeerConfig{{Identity: draHost, Addr: a.Addrs()[0].String(), Connect: true}}})
			deadline := time.Now().Add(5 * time.Second)
			for a.Policy().Gate.RefusedPeer.Load() == before {
				if time.Now().After(deadline) {
					t.Fatal("CER not refused")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if p := n.M.Peer(draHost); p != nil && p.Active() != nil {
				t.Fatal("refused peer is open")
			}
			if p := a.Peers().Peer(tc.host); p != nil && p.Active() != nil {
				t.Fatal("agent opened a refused peer")
			}
		})
	}
}

func TestPeerACLRefusesAtAccept(t *testing.T) {
	a := startAgent(t, `accept_unknown_peers: true
policy:
  peer_acl:
    deny_addresses: [127.0.0.0/8, "::1"]
`)
	for range 3 {
		nc, err := net.Dial("tcp", a.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		var b [1]byte
		if _, err := nc.Read(b[:]); err == nil || strings.Contains(err.Error(), "timeout") {
			t.Fatalf("connection not closed at accept: %v", err)
		}
		nc.Close()
	}
	if n := a.Policy().Gate.RefusedAddr.Load(); n != 3 {
		t.Errorf("RefusedAddr %d, want 3", n)
	}
}

func TestRouteACL(t *testing.T) {
	srv := server(t, "ocs.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(srv)+`routes:
  - name: ocs
    realm: a.test
    action: relay
    peers: [{host: ocs.a.test}]
policy:
  route_acl:
    - route: ocs
      allow_origin_realms: [client.test]
`)
	waitPeers(t, a, "ocs.a.test")
	c := client(t, a, "mme.client.test", "client.test")
	tests := []struct {
		realm string
		want  uint32
	}{{"client.test", wire.ResultSuccess}, {"evil.test", wire.ResultAuthorizationRejected}}
	for _, tc := range tests {
		ans := c.Call(t, draHost, dratest.Request(4, ccr, "mme;acl;"+tc.realm, "mme.client.test", tc.realm, "a.test", ""))
		if got := dratest.ResultCode(ans); got != tc.want {
			t.Errorf("origin realm %s: %d, want %d", tc.realm, got, tc.want)
		}
	}
	if srv.Count() != 1 {
		t.Errorf("server saw %d requests, want 1", srv.Count())
	}
}

func TestPendingCapSkipsToAlternate(t *testing.T) {
	var mu sync.Mutex
	held := 0
	slow := server(t, "slow.a.test", "a.test", func(n *dratest.Node, m wire.Msg) wire.Msg {
		mu.Lock()
		held++
		mu.Unlock()
		return nil // never answers: the request stays pending
	})
	alt := server(t, "alt.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(slow, alt)+`routing:
  timeout: 3s
  retries: 0
routes:
  - realm: a.test
    action: relay
    peers: [{host: slow.a.test, priority: 1}, {host: alt.a.test, priority: 2}]
  - realm: b.test
    action: relay
    peers: [{host: slow.a.test}]
policy:
  pending_caps:
    - peers: [slow.a.test]
      max: 1
`)
	waitPeers(t, a, "slow.a.test", "alt.a.test")
	c := client(t, a, "mme.client.test", "client.test")
	c.Send(t, draHost, dratest.Request(4, ccr, "mme;p;1", "mme.client.test", "client.test", "a.test", ""))
	deadline := time.Now().Add(5 * time.Second)
	for slow.Count() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ans := c.Call(t, draHost, dratest.Request(4, ccr, "mme;p;2", "mme.client.test", "client.test", "a.test", ""))
	if dratest.ResultCode(ans) != wire.ResultSuccess || dratest.String(ans, wire.AVPOriginHost) != "alt.a.test" {
		t.Fatalf("second request: %d from %q, want 2001 from the alternate", dratest.ResultCode(ans), dratest.String(ans, wire.AVPOriginHost))
	}
	ans = c.Call(t, draHost, dratest.Request(4, ccr, "mme;p;3", "mme.client.test", "client.test", "b.test", ""))
	if dratest.ResultCode(ans) != wire.ResultTooBusy {
		t.Fatalf("request with no alternate: %d, want 3004", dratest.ResultCode(ans))
	}
}

func TestAVPRules(t *testing.T) {
	srv := server(t, "ocs.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(srv)+`routes:
  - realm: a.test
    action: relay
    peers: [{host: ocs.a.test}]
policy:
  avp_rules:
    - name: tag-user
      when: {egress_peers: [ocs.a.test], applications: [4], avp: {code: 30, value: "apn.old"}}
      actions:
        - {action: add, code: 1, value: "policy-user"}
        - {action: replace, code: 30, value: "apn.new.example"}
        - {action: remove, code: 461}
        - {action: replace, code: 1000, vendor: 10415, type: unsigned32, value: "7"}
    - name: answer-tag
      direction: answer
      when: {ingress_peers: ["*.client.test"]}
      actions:
        - {action: add, code: 281, mandatory: false, value: "seen by policy"}
`)
	waitPeers(t, a, "ocs.a.test")
	c := client(t, a, "mme.client.test", "client.test")
	req := dratest.Request(4, ccr, "mme;avp;1", "mme.client.test", "client.test", "a.test", "")
	req = req.AppendStringAVP(30, wire.AVPFlagMandatory, 0, "apn.old")
	req = req.AppendStringAVP(461, wire.AVPFlagMandatory, 0, "service-context")
	req = req.AppendUint32AVP(1000, wire.AVPFlagMandatory, 10415, 1)
	ans := c.Call(t, draHost, req)
	if dratest.ResultCode(ans) != wire.ResultSuccess {
		t.Fatalf("answer %d", dratest.ResultCode(ans))
	}
	if got := dratest.String(ans, wire.AVPErrorMessage); got != "seen by policy" {
		t.Errorf("answer rule: Error-Message %q", got)
	}
	got := srv.Received()[0]
	if _, err := got.Validate(); err != nil {
		t.Fatalf("rewritten request malformed: %v", err)
	}
	if u := dratest.String(got, wire.AVPUserName); u != "policy-user" {
		t.Errorf("User-Name %q", u)
	}
	if s := dratest.All(got, 30); len(s) != 1 || s[0] != "apn.new.example" {
		t.Errorf("Called-Station-Id %v", s)
	}
	if s := dratest.All(got, 461); len(s) != 0 {
		t.Errorf("Service-Context-Id not removed: %v", s)
	}
	v, ok := got.Find(1000, 10415)
	if n, _ := v.Uint32(); !ok || n != 7 || v.VendorID != 10415 {
		t.Errorf("vendor AVP %v %d", ok, n)
	}
	// A request without the condition AVP is not touched.
	c.Call(t, draHost, dratest.Request(4, ccr, "mme;avp;2", "mme.client.test", "client.test", "a.test", ""))
	if u := dratest.String(srv.Received()[1], wire.AVPUserName); u != "" {
		t.Errorf("rule ran without its condition: User-Name %q", u)
	}
}

func TestTopologyHiding(t *testing.T) {
	hss := server(t, "hss.partner.test", "partner.test", nil)
	a := startAgent(t, peerYAML(hss)+`routes:
  - realm: partner.test
    action: relay
    peers: [{host: hss.partner.test}]
policy:
  topology_hiding:
    - name: roaming
      peers: [hss.partner.test]
      internal_hosts: ["*.internal.test"]
      pseudonym: edge.dra.test
      origin_realm: dra.test
`)
	waitPeers(t, a, "hss.partner.test")
	mme := client(t, a, "mme.internal.test", "internal.test")
	const sid = "mme.internal.test;th;1"
	req := dratest.Request(16777251, 316, sid, "mme.internal.test", "internal.test", "partner.test", "")
	req = req.AppendStringAVP(wire.AVPRouteRecord, wire.AVPFlagMandatory, 0, "old.internal.test")
	ans := mme.Call(t, draHost, req)
	if dratest.ResultCode(ans) != wire.ResultSuccess {
		t.Fatalf("ULR answered %d", dratest.ResultCode(ans))
	}
	got := hss.Received()[0]
	if oh, or := dratest.String(got, wire.AVPOriginHost), dratest.String(got, wire.AVPOriginRealm); oh != "edge.dra.test" || or != "dra.test" {
		t.Errorf("external side sees Origin-Host %q Origin-Realm %q", oh, or)
	}
	for _, rr := range dratest.All(got, wire.AVPRouteRecord) {
		if strings.HasSuffix(rr, ".internal.test") {
			t.Errorf("Route-Record names an internal host: %q", rr)
		}
	}
	// The external side addresses the pseudonym; the agent restores the
	// internal host and hides it in the answer.
	cancel := dratest.Request(16777251, 317, sid, "hss.partner.test", "partner.test", "dra.test", "edge.dra.test")
	ans = hss.Call(t, draHost, cancel)
	if dratest.ResultCode(ans) != wire.ResultSuccess {
		t.Fatalf("CLR answered %d: %s", dratest.ResultCode(ans), dratest.String(ans, wire.AVPErrorMessage))
	}
	if oh := dratest.String(ans, wire.AVPOriginHost); oh != "edge.dra.test" {
		t.Errorf("answer to the external side from %q", oh)
	}
	if mme.Count() != 1 {
		t.Fatalf("internal host received %d requests", mme.Count())
	}
	if dh, dr := dratest.String(mme.Received()[0], wire.AVPDestinationHost), dratest.String(mme.Received()[0], wire.AVPDestinationRealm); dh != "mme.internal.test" || dr != "internal.test" {
		t.Errorf("restored Destination-Host %q Destination-Realm %q", dh, dr)
	}
	// An unknown session toward the pseudonym cannot be restored.
	ans = hss.Call(t, draHost, dratest.Request(16777251, 317, "unknown;1", "hss.partner.test", "partner.test", "dra.test", "edge.dra.test"))
	if dratest.ResultCode(ans) != wire.ResultUnableToDeliver {
		t.Errorf("unknown session: %d, want 3002", dratest.ResultCode(ans))
	}
}

// olr encodes an OC-OLR AVP.
func olr(seq uint64, typ, pct, validity uint32) []byte {
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	g := wire.AppendAVP(nil, policy.AVPOCSequenceNumber, 0, 0, s[:])
	g = wire.AppendUint32AVP(g, policy.AVPOCReportType, 0, 0, typ)
	g = wire.AppendUint32AVP(g, policy.AVPOCReductionPercentage, 0, 0, pct)
	g = wire.AppendUint32AVP(g, policy.AVPOCValidityDuration, 0, 0, validity)
	return g
}

func TestDOICDivertsHalf(t *testing.T) {
	var sawOCSF sync.Map
	busy := server(t, "busy.a.test", "a.test", func(n *dratest.Node, m wire.Msg) wire.Msg {
		if _, ok := m.Find(policy.AVPOCSupportedFeatures, 0); ok {
			sawOCSF.Store("busy", true)
		}
		ans := n.Answer(m, wire.ResultSuccess)
		return ans.AppendAVP(policy.AVPOCOLR, 0, 0, olr(1, policy.HostReport, 50, 60))
	})
	alt := server(t, "alt.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(busy, alt)+`routes:
  - realm: a.test
    action: relay
    peers: [{host: busy.a.test, priority: 1}, {host: alt.a.test, priority: 2}]
policy:
  doic: {enabled: true}
`)
	waitPeers(t, a, "busy.a.test", "alt.a.test")
	c := client(t, a, "mme.client.test", "client.test")
	first := c.Call(t, draHost, dratest.Request(4, ccr, "mme;doic;0", "mme.client.test", "client.test", "a.test", ""))
	if _, ok := first.Find(policy.AVPOCOLR, 0); ok {
		t.Error("OC-OLR relayed to a client that did not announce DOIC")
	}
	if _, ok := sawOCSF.Load("busy"); !ok {
		t.Error("no OC-Supported-Features added to the forwarded request")
	}
	const n = 400
	for i := range n {
		ans := c.Call(t, draHost, dratest.Request(4, ccr, fmt.Sprintf("mme;doic;%d", i+1), "mme.client.test", "client.test", "a.test", ""))
		if dratest.ResultCode(ans) != wire.ResultSuccess {
			t.Fatalf("request %d: %d", i, dratest.ResultCode(ans))
		}
	}
	// Binomial(400, 0.5): 200 ± 10 (sd); 140..260 is 6 sd.
	if got := alt.Count(); got < 140 || got > 260 {
		t.Errorf("alternate received %d of %d, want about half", got, n)
	}
	if a.Policy().Overload.Diverted.Load() != alt.Count() {
		t.Errorf("diverted %d, alternate %d", a.Policy().Overload.Diverted.Load(), alt.Count())
	}
}

func TestBusyFailoverWithPolicy(t *testing.T) {
	busy := server(t, "busy.a.test", "a.test", func(n *dratest.Node, m wire.Msg) wire.Msg {
		return n.Answer(m, wire.ResultTooBusy)
	})
	alt := server(t, "alt.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(busy, alt)+`routing:
  failover_on_busy: true
routes:
  - realm: a.test
    action: relay
    peers: [{host: busy.a.test, priority: 1}, {host: alt.a.test, priority: 2}]
policy:
  max_pending: 100
  rate_limits: [{per: application, rate: 1000, burst: 100}]
  doic: {enabled: true}
`)
	waitPeers(t, a, "busy.a.test", "alt.a.test")
	c := client(t, a, "mme.client.test", "client.test")
	ans := c.Call(t, draHost, dratest.Request(4, ccr, "mme;busy;1", "mme.client.test", "client.test", "a.test", ""))
	if dratest.ResultCode(ans) != wire.ResultSuccess || dratest.String(ans, wire.AVPOriginHost) != "alt.a.test" {
		t.Fatalf("answer %d from %q, want 2001 from the alternate", dratest.ResultCode(ans), dratest.String(ans, wire.AVPOriginHost))
	}
	if busy.Count() != 1 || alt.Count() != 1 {
		t.Errorf("busy %d alternate %d", busy.Count(), alt.Count())
	}
}
