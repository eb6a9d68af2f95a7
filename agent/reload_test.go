package agent_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

func config(t *testing.T, s1, s2, target string) *configs.Config {
	t.Helper()
	y := fmt.Sprintf(`identity:
  origin_host: dra.dra.test
  origin_realm: dra.test
listen:
  - address: 127.0.0.1:0
peers:
  - {host: s1.a.test, address: %s, connect: true}
  - {host: s2.a.test, address: %s, connect: true}
accept_unknown_peers: true
routes:
  - realm: a.test
    action: relay
    peers: [{host: %s}]
`, s1, s2, target)
	cfg, err := configs.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestReloadUnderLoad moves a realm from one server to another while
// requests flow: none fails, and new requests follow the new table.
func TestReloadUnderLoad(t *testing.T) {
	s1 := dratest.Start(t, dratest.Options{Host: "s1.a.test", Realm: "a.test", Listen: true})
	s2 := dratest.Start(t, dratest.Options{Host: "s2.a.test", Realm: "a.test", Listen: true})
	a := dratest.StartAgentConfig(t, config(t, s1.Addr(), s2.Addr(), "s1.a.test"))
	c := dratest.Start(t, dratest.Options{Host: "c.client.test", Realm: "client.test",
		Dial: []peers.PeerConfig{{Identity: "dra.dra.test", Addr: a.Addrs()[0].String(), Connect: true}}})
	for _, id := range []string{"s1.a.test", "s2.a.test"} {
		for a.Peers().Peer(id).Active() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	c.WaitOpen(t, "dra.dra.test")

	const total = 4000
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range total {
		switch i {
		case total / 2:
			if _, err := a.Reload(config(t, s1.Addr(), s2.Addr(), "s2.a.test")); err != nil {
				t.Fatal(err)
			}
		case total / 4:
			// A table that cannot be built is refused; the old one serves on.
			bad := config(t, s1.Addr(), s2.Addr(), "s1.a.test")
			bad.Routes[0].Action = "teleport"
			if _, err := a.Reload(bad); err == nil {
				t.Fatal("bad routing table accepted")
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		ch := c.Send(t, "dra.dra.test", dratest.Request(4, 272, fmt.Sprintf("c;%d", i), "c.client.test", "client.test", "a.test", ""))
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			select {
			case m := <-ch:
				if dratest.ResultCode(m) == wire.ResultSuccess {
					ok.Add(1)
				}
			case <-time.After(5 * time.Second):
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != total {
		t.Fatalf("%d of %d answered 2001 (%d unanswered)", ok.Load(), total, bad.Load())
	}
	if s1.Count() < total/2-64 || s2.Count() < total/2-64 {
		t.Errorf("s1 %d, s2 %d: the reload did not move the realm", s1.Count(), s2.Count())
	}
	before := s1.Count()
	c.Call(t, "dra.dra.test", dratest.Request(4, 272, "c;last", "c.client.test", "client.test", "a.test", ""))
	if s1.Count() != before {
		t.Error("a request after the reload went to the old server")
	}
}
