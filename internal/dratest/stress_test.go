package dratest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/peers"
)

// TestEveryRequestAnswered drives 20,000 requests with 50 in flight
// between two nodes: every request must reach the server once and every
// answer come back (a regression test for the writer's double buffering).
func TestEveryRequestAnswered(t *testing.T) {
	s := Start(t, Options{Host: "s.test", Realm: "test", Listen: true})
	c := Start(t, Options{Host: "c.test", Realm: "test", Dial: []peers.PeerConfig{{Identity: "s.test", Addr: s.Addr(), Connect: true}}})
	c.WaitOpen(t, "s.test")
	const total = 20000
	var wg sync.WaitGroup
	var lost atomic.Int64
	sem := make(chan struct{}, 50)
	for i := range total {
		sem <- struct{}{}
		wg.Add(1)
		ch := c.Send(t, "s.test", Request(4, 272, fmt.Sprint(i), "c.test", "test", "test", ""))
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				lost.Add(1)
			}
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, m := range s.Received() {
		if seen[m.EndToEnd()] {
			t.Fatalf("request %d received twice", m.EndToEnd())
		}
		seen[m.EndToEnd()] = true
	}
	if lost.Load() != 0 || len(seen) != total {
		t.Fatalf("server received %d distinct of %d; %d unanswered", len(seen), total, lost.Load())
	}
}
