package interop

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/test/fdtest"
	"github.com/dra-project/dra/wire"
)

// Requests relayed by the agent and freeDiameter are credit-control
// requests (application 4, command 272) with only the base AVPs:
// freeDiameter relays them without a dictionary for the application (it
// logs them as "(no model)4/272"), parsing only Destination-Host,
// Destination-Realm, User-Name and Route-Record.
const (
	relayApp   = 4
	relayCmd   = 272
	relayCount = 50
)

// relayClient starts a dratest client that dials the peer id at addr and
// waits until the connection is usable.
func relayClient(t *testing.T, host, realm, id, addr string) *dratest.Node {
	t.Helper()
	c := dratest.Start(t, dratest.Options{Host: host, Realm: realm,
		Dial: []peers.PeerConfig{{Identity: id, Addr: addr, Connect: true}}})
	c.WaitOpen(t, id)
	return c
}

// relayServer starts a listening dratest node that answers 2001.
func relayServer(t *testing.T, host, realm string) *dratest.Node {
	t.Helper()
	return dratest.Start(t, dratest.Options{Host: host, Realm: realm, Listen: true})
}

// sendAll sends n requests for destRealm from c to its peer `to`, all at
// once, and returns the answers by Session-Id.
func sendAll(t *testing.T, c *dratest.Node, to, destRealm, prefix string, n int) map[string]wire.Msg {
	t.Helper()
	chans := make(map[string]<-chan wire.Msg, n)
	for i := range n {
		sid := fmt.Sprintf("%s;%d;%d", c.Opts.Host, time.Now().UnixNano(), i)
		if prefix != "" {
			sid = prefix + ";" + sid
		}
		chans[sid] = c.Send(t, to, dratest.Request(relayApp, relayCmd, sid, c.Opts.Host, c.Opts.Realm, destRealm, ""))
	}
	out := make(map[string]wire.Msg, n)
	timeout := time.After(8 * time.Second)
	for sid, ch := range chans {
		select {
		case a := <-ch:
			out[sid] = a
		case <-timeout:
			t.Fatalf("%s: %d of %d answers received before the timeout", c.Opts.Host, len(out), n)
		}
	}
	return out
}

// checkAnswers checks that every answer is a 2001 from server for its
// own session.
func checkAnswers(t *testing.T, answers map[string]wire.Msg, server string) {
	t.Helper()
	bad := 0
	for sid, a := range answers {
		rc := dratest.ResultCode(a)
		oh := dratest.String(a, wire.AVPOriginHost)
		got := dratest.String(a, wire.AVPSessionID)
		if rc != wire.ResultSuccess || oh != server || got != sid || a.IsError() || a.Code() != relayCmd || a.AppID() != relayApp {
			if bad++; bad <= 3 {
				t.Errorf("answer for %s: Result-Code %d from %q, Session-Id %q, flags %#x, %d/%d", sid, rc, oh, got, a.Flags(), a.AppID(), a.Code())
			}
		}
	}
	if bad > 3 {
		t.Errorf("... %d bad answers in all", bad)
	}
}

// checkReceived checks that server received exactly the sessions of
// answers, each request with the Route-Record list want.
func checkReceived(t *testing.T, server *dratest.Node, answers map[string]wire.Msg, want []string) {
	t.Helper()
	got := server.Received()
	if len(got) != len(answers) {
		t.Errorf("%s received %d requests, want %d", server.Opts.Host, len(got), len(answers))
	}
	bad := 0
	for _, m := range got {
		sid := dratest.String(m, wire.AVPSessionID)
		rr := dratest.All(m, wire.AVPRouteRecord)
		_, known := answers[sid]
		if !known || !slices.Equal(rr, want) || m.Code() != relayCmd || m.AppID() != relayApp {
			if bad++; bad <= 3 {
				t.Errorf("%s received %d/%d session %q (known %v) with Route-Record %q, want %q", server.Opts.Host, m.AppID(), m.Code(), sid, known, rr, want)
			}
		}
	}
	if bad > 3 {
		t.Errorf("... %d bad requests in all", bad)
	}
	if len(got) > 0 {
		t.Logf("Route-Record at %s: %q", server.Opts.Host, dratest.All(got[0], wire.AVPRouteRecord))
	}
}

// checkAnswerRouteRecord checks the Route-Record AVPs of the answers at
// the client: RFC 6733 puts none in answers, but freeDiameter adds the
// identity of the peer it received an answer from to the answers it
// relays; the agent passes them through unchanged and adds none.
func checkAnswerRouteRecord(t *testing.T, answers map[string]wire.Msg, want []string) {
	t.Helper()
	for sid, a := range answers {
		if rr := dratest.All(a, wire.AVPRouteRecord); !slices.Equal(rr, want) {
			t.Errorf("answer for %s carries Route-Record %q, want %q", sid, rr, want)
			return
		}
	}
}

// client -> freeDiameter -> agent -> server. freeDiameter dials the agent
// and sends realm srv.test to it with rt_default; the agent relays the
// realm to the server it dials. At the server each request carries the
// Route-Records [client, freeDiameter]: freeDiameter recorded the client,
// the agent recorded freeDiameter.
func TestRelayFreeDiameterToAgent(t *testing.T) {
	t.Parallel()
	const (
		fdID   = "fdr1.fd.test"
		cliID  = "c1.cli1.test"
		srvID  = "s1.srv.test"
		dstRlm = "srv.test"
	)
	srv := relayServer(t, srvID, dstRlm)
	a := startAgent(t, fmt.Sprintf(`peers:
  - host: %s
    address: %s
    connect: true
routes:
  - name: srv
    realm: %s
    action: relay
    peers: [{host: %s}]
`, srvID, srv.Addr(), dstRlm, srvID))
	fd := fdtest.Start(t, fdtest.Config{Identity: fdID,
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a)}, {Identity: cliID}},
		Extensions: []fdtest.Extension{
			{Name: "rt_default", Conf: fmt.Sprintf("dr=%q : %q += 100 ;\n", dstRlm, draHost)},
		}})
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 10*time.Second)
	waitPeer(t, a, fdID, 5*time.Second, isOpen)
	waitPeer(t, a, srvID, 5*time.Second, isOpen)
	c := relayClient(t, cliID, "cli1.test", fdID, fd.Addr())

	answers := sendAll(t, c, fdID, dstRlm, "", relayCount)
	checkAnswers(t, answers, srvID)
	checkReceived(t, srv, answers, []string{cliID, fdID})
	checkAnswerRouteRecord(t, answers, []string{draHost})
	if n := a.Router().Stats().Answered.Load(); n != relayCount {
		t.Errorf("agent relayed %d answers, want %d", n, relayCount)
	}
}

// client -> agent -> freeDiameter -> server. The agent dials freeDiameter
// and relays realm srv2.test to it; freeDiameter dials the server and
// sends the realm there with rt_default. At the server the Route-Records
// are [client, agent]: the agent recorded the client, freeDiameter the
// agent.
func TestRelayAgentToFreeDiameter(t *testing.T) {
	t.Parallel()
	const (
		fdID   = "fdr2.fd.test"
		cliID  = "c2.cli2.test"
		srvID  = "s2.srv2.test"
		dstRlm = "srv2.test"
	)
	srv := relayServer(t, srvID, dstRlm)
	fd := fdtest.Start(t, fdtest.Config{Identity: fdID, TcTimer: 1,
		Peers: []fdtest.Peer{{Identity: draHost}, {Identity: srvID, Addr: srv.Addr(), Realm: dstRlm, TcTimer: 1}},
		Extensions: []fdtest.Extension{
			{Name: "rt_default", Conf: fmt.Sprintf("dr=%q : %q += 100 ;\n", dstRlm, srvID)},
		}})
	a := startAgent(t, fmt.Sprintf(`peers:
  - host: %s
    realm: fd.test
    address: %s
    connect: true
routes:
  - name: via-fd
    realm: %s
    action: relay
    peers: [{host: %s}]
`, fdID, fd.Addr(), dstRlm, fdID))
	fd.WaitPeerState(t, srvID, fdtest.StateOpen, 10*time.Second)
	waitPeer(t, a, fdID, 10*time.Second, isOpen)
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 5*time.Second)
	c := relayClient(t, cliID, "cli2.test", draHost, addr(a))

	answers := sendAll(t, c, draHost, dstRlm, "", relayCount)
	checkAnswers(t, answers, srvID)
	checkReceived(t, srv, answers, []string{cliID, draHost})
	checkAnswerRouteRecord(t, answers, []string{srvID})
	if n := a.Router().Stats().Answered.Load(); n != relayCount {
		t.Errorf("agent relayed %d answers, want %d", n, relayCount)
	}
}

// A routing loop: the agent relays realm loop.test to freeDiameter, and
// freeDiameter's rt_default sends loop.test to the agent. Every request
// gets an answer, never a timeout:
//
//   - entering at the agent (client -> agent -> freeDiameter): freeDiameter
//     records the agent in Route-Record and never forwards a request to a
//     peer listed there, so the agent is no candidate and freeDiameter
//     answers 3002 DIAMETER_UNABLE_TO_DELIVER itself; the request never
//     comes back to the agent.
//   - entering at freeDiameter (client -> freeDiameter -> agent): the
//     agent's only next hop for the realm is the peer the request came
//     from; it never sends a request back there and answers 3002 itself.
//
// The agent's own check (its identity in Route-Record -> 3005) is not
// reached with freeDiameter as the other node: freeDiameter never sends a
// request to a peer already in its Route-Record.
func TestRelayLoop(t *testing.T) {
	t.Parallel()
	const (
		fdID   = "fdr3.fd.test"
		cliA   = "c3a.cli3.test" // enters at the agent
		cliF   = "c3f.cli3.test" // enters at freeDiameter
		dstRlm = "loop.test"
		n      = 10
	)
	a := startAgent(t, fmt.Sprintf(`routes:
  - name: loop
    realm: %s
    action: relay
    peers: [{host: %s}]
`, dstRlm, fdID))
	fd := fdtest.Start(t, fdtest.Config{Identity: fdID,
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a)}, {Identity: cliF}},
		Extensions: []fdtest.Extension{
			{Name: "rt_default", Conf: fmt.Sprintf("dr=%q : %q += 100 ;\n", dstRlm, draHost)},
		}})
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 10*time.Second)
	waitPeer(t, a, fdID, 5*time.Second, isOpen)
	ca := relayClient(t, cliA, "cli3.test", draHost, addr(a))
	cf := relayClient(t, cliF, "cli3.test", fdID, fd.Addr())

	ansA := sendAll(t, ca, draHost, dstRlm, "at-agent", n)
	ansF := sendAll(t, cf, fdID, dstRlm, "at-fd", n)

	for sid, m := range ansA {
		rc, oh, em := dratest.ResultCode(m), dratest.String(m, wire.AVPOriginHost), dratest.String(m, wire.AVPErrorMessage)
		if rc != wire.ResultUnableToDeliver || oh != fdID || !m.IsError() || !strings.Contains(em, "No suitable candidate") {
			t.Errorf("entering at the agent, %s: Result-Code %d from %q (E %v), Error-Message %q; want 3002 from %s", sid, rc, oh, m.IsError(), em, fdID)
			break
		}
	}
	// Entering at freeDiameter, the only next hop the agent has for the
	// realm is the peer the request came from: the agent refuses to send
	// it back and answers 3002 itself.
	for sid, m := range ansF {
		rc, oh := dratest.ResultCode(m), dratest.String(m, wire.AVPOriginHost)
		if rc != wire.ResultUnableToDeliver || oh != draHost || !m.IsError() {
			t.Errorf("entering at freeDiameter, %s: Result-Code %d from %q (E %v); want 3002 from %s", sid, rc, oh, m.IsError(), draHost)
			break
		}
	}
	st := a.Router().Stats()
	if l := st.Loops.Load(); l != 0 {
		t.Errorf("agent answered %d loops itself", l)
	}
	// Entering at the agent: one forward each; at freeDiameter: none.
	if f, r := st.Forwarded.Load(), st.Requests.Load(); f != n || r != 2*n {
		t.Errorf("agent: %d requests, %d forwards; want %d and %d", r, f, 2*n, n)
	}
	for _, m := range ansA {
		t.Logf("entering at the agent: %d %q, Route-Record %q", dratest.ResultCode(m), dratest.String(m, wire.AVPErrorMessage), dratest.All(m, wire.AVPRouteRecord))
		break
	}
	for _, m := range ansF {
		t.Logf("entering at freeDiameter: %d %q, Route-Record %q", dratest.ResultCode(m), dratest.String(m, wire.AVPErrorMessage), dratest.All(m, wire.AVPRouteRecord))
		break
	}
}
