package agent_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/admin"
	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// A client peer removed by a reload keeps its connection until the
// answers to its own requests in flight have been relayed to it; only then
// does it get DPR.
func TestReloadRemovedClientGetsItsAnswers(t *testing.T) {
	s := startSlow(t, "s2.a.test", 400*time.Millisecond)
	serverLine := fmt.Sprintf("  - {host: s2.a.test, address: %s, connect: true}\n", s.Addr())
	route := "  - {name: a, realm: a.test, action: relay, peers: [{host: s2.a.test}]}\n"
	before := peerSetConfig(t, serverLine+"  - {host: c.client.test}\n", route)
	after := peerSetConfig(t, serverLine, route)
	a := dratest.StartAgentConfig(t, before)
	waitActive(t, a, "s2.a.test")
	c := dratest.Start(t, dratest.Options{Host: "c.client.test", Realm: "client.test",
		Dial: []peers.PeerConfig{{Identity: "dra.dra.test", Addr: a.Addrs()[0].String(), Connect: true}}})
	c.WaitOpen(t, "dra.dra.test")
	waitActive(t, a, "c.client.test")

	const n = 20
	var chs []<-chan wire.Msg
	for i := range n {
		chs = append(chs, c.Send(t, "dra.dra.test", dratest.Request(4, 272, fmt.Sprintf("c;d;%d", i), "c.client.test", "client.test", "a.test", "")))
	}
	// Every request has reached the agent and is waiting on the slow server.
	deadline := time.Now().Add(5 * time.Second)
	for a.Router().Stats().Forwarded.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("forwarded %d of %d", a.Router().Stats().Forwarded.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := a.Reload(after); err != nil {
		t.Fatal(err)
	}
	// While it drains, the removed client is still listed, marked removed.
	if r := a.Peers().Retiring(); len(r) != 1 || r[0].Identity != "c.client.test" || !r[0].Removed {
		t.Errorf("retiring peers: %+v", r)
	}
	listed := false
	for _, p := range a.Peers().Peers() {
		listed = listed || p.Identity() == "c.client.test"
	}
	if !listed {
		t.Error("a draining peer is missing from Peers (its pending requests would vanish from the metrics)")
	}
	for i, ch := range chs {
		select {
		case m := <-ch:
			if code := dratest.ResultCode(m); code != wire.ResultSuccess {
				t.Errorf("request %d: %d", i, code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d: no answer (the removed client was disconnected before its answers)", i)
		}
	}
	// Then the client is disconnected.
	deadline = time.Now().Add(5 * time.Second)
	for {
		if p := c.M.Peer("dra.dra.test"); p == nil || p.Active() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the removed client is still connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := a.Router().Stats().AnswersDropped.Load(); d != 0 {
		t.Errorf("%d answers dropped", d)
	}
}

// inFlight sends n requests from c to realm a.test and waits until the
// agent has forwarded them all.
func inFlight(t *testing.T, a *agent.Agent, c *dratest.Node, n int) []<-chan wire.Msg {
	t.Helper()
	before := a.Router().Stats().Forwarded.Load()
	var chs []<-chan wire.Msg
	for i := range n {
		chs = append(chs, c.Send(t, "dra.dra.test", dratest.Request(4, 272, fmt.Sprintf("c;f;%d", i), "c.client.test", "client.test", "a.test", "")))
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Router().Stats().Forwarded.Load()-before < uint64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("forwarded %d of %d", a.Router().Stats().Forwarded.Load()-before, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return chs
}

// wantAnswers checks that every request got the server's 2001.
func wantAnswers(t *testing.T, chs []<-chan wire.Msg) {
	t.Helper()
	for i, ch := range chs {
		select {
		case m := <-ch:
			if code := dratest.ResultCode(m); code != wire.ResultSuccess {
				t.Errorf("request %d: %d %q, want the server's 2001", i, code, dratest.String(m, wire.AVPErrorMessage))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d: no answer", i)
		}
	}
}

// waitDPR waits until node n's connection to the agent has ended with the
// agent's DPR, and returns when that happened.
func waitDPR(t *testing.T, n *dratest.Node) time.Time {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		in, ok := n.M.Table().Get("dra.dra.test")
		if ok && strings.Contains(in.LastError, "DPR received") {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no DPR from the agent (%+v)", n.Opts.Host, in)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAdminDisconnectDrains: `dra disconnect` (the admin API) of a server
// with requests in flight, or of a client waiting for answers, takes the
// connection out of routing at once and refuses the peer's new requests,
// but lets the answers in flight through (the server's 2001, not a 3002
// failover) before DPR, all within timers.disconnect (1 s).
func TestAdminDisconnectDrains(t *testing.T) {
	for _, tt := range []struct{ name, target string }{
		{"server with requests pending", "s2.a.test"},
		{"client awaiting answers", "c.client.test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startSlow(t, "s2.a.test", 300*time.Millisecond)
			cfg := peerSetConfig(t, fmt.Sprintf("  - {host: s2.a.test, address: %s, connect: true}\n", s.Addr()),
				"  - {name: a, realm: a.test, action: relay, peers: [{host: s2.a.test}]}\n")
			a := dratest.StartAgentConfig(t, cfg)
			waitActive(t, a, "s2.a.test")
			c := dratest.Client(t, a, "dra.dra.test", "c.client.test", "client.test")
			waitActive(t, a, "c.client.test")
			chs := inFlight(t, a, c, 20)

			ac := &admin.Client{Addr: a.AdminAddr(), Token: "tok"}
			start := time.Now()
			if err := ac.Disconnect(context.Background(), tt.target); err != nil {
				t.Fatal(err)
			}
			// Out of routing at once: a new request finds no server, or
			// the disconnected client is refused, with a reason.
			late := c.Call(t, "dra.dra.test", dratest.Request(4, 272, "c;late", "c.client.test", "client.test", "a.test", ""))
			if code, msg := dratest.ResultCode(late), dratest.String(late, wire.AVPErrorMessage); code != wire.ResultUnableToDeliver || msg == "" {
				t.Errorf("request after the disconnect: %d %q, want 3002 with an Error-Message", code, msg)
			}
			wantAnswers(t, chs)
			peer := s.Node
			if tt.target == "c.client.test" {
				peer = c
			}
			if d := waitDPR(t, peer).Sub(start); d > cfg.Timers.Disconnect {
				t.Errorf("DPR after %s, beyond timers.disconnect %s", d, cfg.Timers.Disconnect)
			}
			if n := s.late.Load(); n != 0 {
				t.Errorf("%d server answers found the connection closing", n)
			}
		})
	}
}

// TestServerDPRWithRequestsPending: a server sends DPR while requests
// forwarded to it are pending, then answers them (RFC 6733 §5.4: the DPR
// sender may still answer until the connection closes). The agent answers
// DPA, stops routing to it, keeps reading, and relays the server's 2001s
// instead of failing them over (no alternate: 3002).
func TestServerDPRWithRequestsPending(t *testing.T) {
	s := startSlow(t, "s2.a.test", 300*time.Millisecond)
	cfg := peerSetConfig(t, fmt.Sprintf("  - {host: s2.a.test, address: %s, connect: true}\n", s.Addr()),
		"  - {name: a, realm: a.test, action: relay, peers: [{host: s2.a.test}]}\n")
	a := dratest.StartAgentConfig(t, cfg)
	waitActive(t, a, "s2.a.test")
	c := dratest.Client(t, a, "dra.dra.test", "c.client.test", "client.test")
	chs := inFlight(t, a, c, 20)

	// The server's DPR, sent by hand: its own peer layer would drain first.
	conn := s.M.Peer("dra.dra.test").Active().Conn
	dpr := wire.NewMsg(wire.FlagRequest, wire.CmdDisconnectPeer, 0, conn.NextHopByHop(), 77)
	dpr = dpr.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "s2.a.test")
	dpr = dpr.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "a.test")
	dpr = dpr.AppendUint32AVP(wire.AVPDisconnectCause, wire.AVPFlagMandatory, 0, peers.CauseRebooting)
	if err := conn.Send(dpr); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if st, _ := a.Peers().Peer("s2.a.test").State(); st == peers.StateClosing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agent not Closing after the server's DPR")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if a.Peers().Peer("s2.a.test").Active() != nil {
		t.Error("a peer that sent DPR is still routed to")
	}
	wantAnswers(t, chs)
	if n := a.Router().Stats().Failovers.Load(); n != 0 {
		t.Errorf("%d requests failed over although the server answered them", n)
	}
}
