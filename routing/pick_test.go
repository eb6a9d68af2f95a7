package routing_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/wire"
)

// TestLargePriorityGroup: every peer of a priority group larger than 32
// carries traffic, by weight and by session.
func TestLargePriorityGroup(t *testing.T) {
	const n, requests = 40, 1200
	var srvs []*dratest.Node
	var refs []string
	for i := range n {
		s := server(t, fmt.Sprintf("s%02d.a.test", i), "a.test", nil)
		srvs = append(srvs, s)
		refs = append(refs, "{host: "+s.Opts.Host+"}")
	}
	list := "[" + strings.Join(refs, ", ") + "]"
	a := startAgent(t, peerYAML(srvs)+`routes:
  - realm: a.test
    action: relay
    sticky: false
    peers: `+list+`
  - realm: s.test
    action: relay
    sticky: true
    peers: `+list+`
`)
	for _, s := range srvs {
		waitPeers(t, a, s.Opts.Host)
	}
	c := client(t, a, "pgw.client.test")
	for _, realm := range []string{"a.test", "s.test"} {
		before := make([]uint64, n)
		for i, s := range srvs {
			before[i] = s.Count()
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 50)
		for i := range requests {
			sem <- struct{}{}
			wg.Add(1)
			ch := c.Send(t, draHost, dratest.Request(4, ccr, fmt.Sprintf("pgw;%s;%d", realm, i), "pgw.client.test", "client.test", realm, ""))
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				select {
				case ans := <-ch:
					if code := dratest.ResultCode(ans); code != wire.ResultSuccess {
						t.Errorf("answer %d", code)
					}
				case <-time.After(10 * time.Second):
					t.Error("no answer")
				}
			}()
		}
		wg.Wait()
		for i, s := range srvs {
			if s.Count() == before[i] {
				t.Errorf("%s: peer %d of %d (%s) got none of %d requests", realm, i+1, n, s.Opts.Host, requests)
			}
		}
	}
}
