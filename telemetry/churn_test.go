package telemetry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// Unconfigured peers (accept_unknown_peers) are counted by identity while
// they are in the peer table, 64 at most at once (the others as "other"),
// and forgotten when they leave: a stream of short-lived clients leaves
// neither counters nor series behind. Before, every client that ever
// connected kept its keys and its dra_requests_total and
// dra_answers_total series for the life of the process.
func TestUnknownPeersChurn(t *testing.T) {
	a, _ := topology(t, "admin: {address: \"127.0.0.1:0\"}\n")
	rt := a.Router()
	call := func(c *dratest.Node, host string, i int) {
		t.Helper()
		req := dratest.Request(4, 272, fmt.Sprintf("%s;%d", host, i), host, "cli.test", "srv.test", "")
		if code := dratest.ResultCode(c.Call(t, draHost, req)); code != wire.ResultSuccess {
			t.Fatalf("%s: answer %d", host, code)
		}
	}
	leave := func(c *dratest.Node, i int) {
		if i%2 == 0 {
			c.Kill() // without DPR, as a crash
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c.M.Shutdown(ctx)
	}
	gone := func(hosts []string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for _, h := range hosts {
			for a.Peers().Peer(h) != nil {
				if time.Now().After(deadline) {
					t.Fatalf("peer %s still in the agent's peer table", h)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	named := func(s routing.TrafficSnapshot) (churn, other uint64) {
		for _, r := range s.Requests {
			switch {
			case strings.HasPrefix(r.Peer, "churn"):
				churn++
			case r.Peer == routing.OtherPeer:
				other += r.Count
			}
		}
		return churn, other
	}

	// More unknown peers at once than are counted by identity.
	const together = routing.MaxUnknownPeers + 6
	var clients []*dratest.Node
	var hosts []string
	for i := range together {
		h := fmt.Sprintf("churn%d.cli.test", i)
		c := dratest.Client(t, a, draHost, h, "cli.test")
		call(c, h, 0)
		clients, hosts = append(clients, c), append(hosts, h)
	}
	if churn, other := named(rt.Traffic().Snapshot()); churn != routing.MaxUnknownPeers || other != together-routing.MaxUnknownPeers {
		t.Errorf("%d peers counted by identity and %d requests as other, want %d and %d",
			churn, other, routing.MaxUnknownPeers, together-routing.MaxUnknownPeers)
	}
	for i, c := range clients {
		leave(c, i)
	}
	gone(hosts)

	// Then a stream of short-lived ones.
	const stream = 100
	hosts = hosts[:0]
	for i := range stream {
		h := fmt.Sprintf("churn-s%d.cli.test", i)
		c := dratest.Client(t, a, draHost, h, "cli.test")
		call(c, h, i)
		leave(c, i)
		hosts = append(hosts, h)
	}
	gone(hosts)

	s := rt.Traffic().Snapshot()
	if churn, _ := named(s); churn != 0 {
		t.Errorf("%d request rows of peers that left", churn)
	}
	for _, r := range s.Answers {
		if strings.HasPrefix(r.Peer, "churn") {
			t.Errorf("answer row of a peer that left: %+v", r)
		}
	}
	if k := rt.Traffic().Keys(); k > 8 {
		t.Errorf("%d traffic keys after %d unknown peers, want at most 8", k, together+stream)
	}
	var leftover []string
	for name, f := range scrape(t, a.AdminAddr()) {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "peer" && strings.HasPrefix(l.GetValue(), "churn") {
					leftover = append(leftover, name+"{peer="+l.GetValue()+"}")
				}
			}
		}
	}
	if len(leftover) > 0 {
		t.Errorf("%d series of peers that left in /metrics, first %s", len(leftover), leftover[0])
	}
}
