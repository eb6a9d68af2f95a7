package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/wire"
)

// bindingAgent starts agent host on Redis at redisAddr, dialing servers,
// with one relay route to hss1 and hss2 of realm a.test using shared
// bindings.
func bindingAgent(t *testing.T, host, redisAddr string, servers ...*dratest.Node) *agent.Agent {
	t.Helper()
	a := dratest.StartAgent(t, fmt.Sprintf(`identity: {origin_host: %s, origin_realm: dra.test}
listen: [{address: "127.0.0.1:0"}]
accept_unknown_peers: true
%sstate:
  backend: redis
  redis: {addrs: [%q], timeout: 200ms}
routes:
  - realm: a.test
    action: relay
    shared_binding: true
    binding_ttl: 1m
    peers: [{host: hss1.a.test}, {host: hss2.a.test}]
`, host, dratest.DialYAML(servers...), redisAddr))
	for _, s := range servers {
		dratest.WaitPeers(t, a, s.Opts.Host)
	}
	return a
}

// TestSharedBindingAcrossAgents: agent A has both servers open, agent B
// only hss2. A session's requests go to one server whichever agent they
// reach: B moves a binding to a server it cannot use to hss2, and A then
// follows it there although its own choice (rendezvous hashing) would
// have been hss1 for some of the sessions.
func TestSharedBindingAcrossAgents(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{})
	s1 := dratest.Start(t, dratest.Options{Host: "hss1.a.test", Realm: "a.test", Listen: true})
	s2 := dratest.Start(t, dratest.Options{Host: "hss2.a.test", Realm: "a.test", Listen: true})
	a := bindingAgent(t, "dra1.dra.test", rdb.Addr, s1, s2)
	b := bindingAgent(t, "dra2.dra.test", rdb.Addr, s2)
	ca := dratest.Client(t, a, "dra1.dra.test", "mme1.client.test", "client.test")
	cb := dratest.Client(t, b, "dra2.dra.test", "mme2.client.test", "client.test")

	call := func(c *dratest.Node, agentHost, sid string) string {
		t.Helper()
		ans := c.Call(t, agentHost, dratest.Request(4, 272, sid, c.Opts.Host, "client.test", "a.test", ""))
		if code := dratest.ResultCode(ans); code != wire.ResultSuccess {
			t.Fatalf("%s via %s: %d %s", sid, agentHost, code, dratest.String(ans, wire.AVPErrorMessage))
		}
		return dratest.String(ans, wire.AVPOriginHost)
	}
	const n = 24
	first := map[string]int{}
	for i := range n {
		sid := fmt.Sprintf("mme;bind;%d", i)
		// First on A: bound to A's choice, hss1 or hss2.
		first[call(ca, "dra1.dra.test", sid)]++
		// On B, which has only hss2: a binding to hss1 moves to hss2.
		if got := call(cb, "dra2.dra.test", sid); got != "hss2.a.test" {
			t.Fatalf("%s via B went to %s", sid, got)
		}
		// Back on A: the binding is followed, hss1 open or not.
		for range 2 {
			if got := call(ca, "dra1.dra.test", sid); got != "hss2.a.test" {
				t.Fatalf("%s via A after B went to %s, want hss2.a.test (the binding)", sid, got)
			}
		}
	}
	if first["hss1.a.test"] == 0 || first["hss2.a.test"] == 0 {
		t.Fatalf("first requests by server %v: the test needs both", first)
	}

	// A session started on B (hss2) stays on hss2 through A.
	for i := range n {
		sid := fmt.Sprintf("mme;bindB;%d", i)
		call(cb, "dra2.dra.test", sid)
		if got := call(ca, "dra1.dra.test", sid); got != "hss2.a.test" {
			t.Fatalf("%s started on B went to %s via A", sid, got)
		}
	}

	// Redis gone: requests are still relayed (pick alone), at once.
	rdb.Kill()
	start := time.Now()
	for i := range 10 {
		call(ca, "dra1.dra.test", fmt.Sprintf("mme;down;%d", i))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("10 requests took %s with Redis down", took)
	}
}
