package policy_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/wire"
)

// startNamedAgent starts an agent named host (realm dra.test) relaying
// realm a.test to srv, with the given state and policy sections.
func startNamedAgent(t *testing.T, host string, srv *dratest.Node, stateYAML, policyYAML string) *agent.Agent {
	t.Helper()
	a := dratest.StartAgent(t, fmt.Sprintf("identity:\n  origin_host: %s\n  origin_realm: %s\nlisten:\n  - address: 127.0.0.1:0\n", host, draRealm)+
		peerYAML(srv)+"routes:\n  - realm: a.test\n    action: relay\n    peers: [{host: ocs.a.test}]\n"+stateYAML+policyYAML)
	waitPeers(t, a, "ocs.a.test")
	return a
}

func redisState(addr string) string {
	return fmt.Sprintf("state:\n  backend: redis\n  redis: {addrs: [%q], timeout: 200ms}\n", addr)
}

// sendAll sends n CCRs through c (connected to agentHost) at once and
// counts the answers by Result-Code.
func sendAll(t *testing.T, c *dratest.Node, agentHost, tag string, n int) map[uint32]int {
	t.Helper()
	var chans []<-chan wire.Msg
	for i := range n {
		chans = append(chans, c.Send(t, agentHost, dratest.Request(4, ccr, fmt.Sprintf("%s;%d", tag, i), c.Opts.Host, "client.test", "a.test", "")))
	}
	counts := map[uint32]int{}
	for _, ch := range chans {
		select {
		case ans := <-ch:
			counts[dratest.ResultCode(ans)]++
		case <-time.After(5 * time.Second):
			t.Fatal("a request was not answered")
		}
	}
	return counts
}

// TestSharedRateLimitAcrossAgents: two agents on one Redis with a limit of
// burst 10 (refilling at 0.1/s) admit 10 requests in all, however the
// requests are spread over them; with the embedded backend each agent
// admits its own 10.
func TestSharedRateLimitAcrossAgents(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{})
	const rule = "policy:\n  rate_limits:\n    - {name: gy, per: application, applications: [4], rate: 0.1, burst: 10}\n"
	for _, tc := range []struct {
		name      string
		state     string
		wantAdmit int
	}{
		{"embedded", "", 20},
		{"redis", redisState(rdb.Addr), 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := server(t, "ocs.a.test", "a.test", nil)
			a1 := startNamedAgent(t, "dra1.dra.test", srv, tc.state, rule)
			a2 := startNamedAgent(t, "dra2.dra.test", srv, tc.state, rule)
			c1 := dratest.Client(t, a1, "dra1.dra.test", "mme1.client.test", "client.test")
			c2 := dratest.Client(t, a2, "dra2.dra.test", "mme2.client.test", "client.test")
			var mu sync.Mutex
			total := map[uint32]int{}
			var wg sync.WaitGroup
			for i, c := range []*dratest.Node{c1, c2} {
				wg.Go(func() {
					got := sendAll(t, c, fmt.Sprintf("dra%d.dra.test", i+1), "rl-"+tc.name, 15)
					mu.Lock()
					defer mu.Unlock()
					for k, v := range got {
						total[k] += v
					}
				})
			}
			wg.Wait()
			if total[wire.ResultSuccess] != tc.wantAdmit || total[wire.ResultTooBusy] != 30-tc.wantAdmit {
				t.Fatalf("answers %v, want %d x 2001 and %d x 3004", total, tc.wantAdmit, 30-tc.wantAdmit)
			}
		})
	}
}

// TestSharedRateLimitRedisDown: with Redis unreachable each rule applies
// its on_unavailable fallback without waiting on Redis for every request,
// counts it, and uses the shared bucket again once Redis is back.
func TestSharedRateLimitRedisDown(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		wantAdmit int // of 5, burst 2
	}{
		{"", 2}, // default: local
		{"local", 2},
		{"allow", 5},
		{"refuse", 0},
	} {
		t.Run("on_unavailable="+tc.mode, func(t *testing.T) {
			rdb := redistest.Start(t, redistest.Options{})
			srv := server(t, "ocs.a.test", "a.test", nil)
			rule := "policy:\n  rate_limits:\n    - {name: gy, per: peer, rate: 0.1, burst: 2"
			if tc.mode != "" {
				rule += ", on_unavailable: " + tc.mode
			}
			a := startNamedAgent(t, draHost, srv, redisState(rdb.Addr), rule+"}\n")
			c := client(t, a, "mme.client.test", "client.test")
			if got := sendAll(t, c, draHost, "up", 1); got[wire.ResultSuccess] != 1 {
				t.Fatalf("with Redis up: %v", got)
			}
			rdb.Kill()
			start := time.Now()
			counts := map[uint32]int{}
			for i := range 5 {
				for k, v := range sendAll(t, c, draHost, fmt.Sprintf("down%d", i), 1) {
					counts[k] += v
				}
			}
			if counts[wire.ResultSuccess] != tc.wantAdmit || counts[wire.ResultTooBusy] != 5-tc.wantAdmit {
				t.Errorf("with Redis down: %v, want %d x 2001", counts, tc.wantAdmit)
			}
			// One timeout (200ms) for the first, none for the others.
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("5 requests took %s with Redis down", took)
			}
			if got := a.Policy().Shared.Unavailable.Load(); got != 5 {
				t.Errorf("rate_limit_unavailable = %d, want 5", got)
			}
			// Back: the shared bucket (new, full: no persistence) judges
			// again, and the refusing rule admits.
			rdb.Restart()
			deadline := time.Now().Add(10 * time.Second)
			for i := 0; ; i++ {
				before := a.Policy().Shared.Unavailable.Load()
				got := sendAll(t, c, draHost, fmt.Sprintf("back%d", i), 1)
				if a.Policy().Shared.Unavailable.Load() == before {
					if got[wire.ResultSuccess] != 1 {
						t.Errorf("first request judged by Redis again: %v", got)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the rate limit did not use Redis again after its restart")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}
