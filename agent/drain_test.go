package agent_test

import (
	"fmt"
	"testing"
	"time"

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
