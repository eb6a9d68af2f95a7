package watch

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/wire"
)

const draHost, draRealm = "dra.watch.test", "watch.test"

// rig is an agent, with its admin API on loopback, between a client and
// servers that answer 2001, 3004 (the route fails over to the 2001
// server), 5012, or nothing (the route times out), with a configured peer
// that is never reachable (3002) and its accounting server on (ACRs):
// every kind of series the dashboard shows has data.
type rig struct {
	a    *agent.Agent
	yaml string // its configuration
	c    *dratest.Node
	// rate is the client's requests per second.
	rate atomic.Int64
	sent atomic.Uint64
}

// startRig starts the rig; with readToken, reads of the admin API need it.
func startRig(t *testing.T, readToken string) *rig {
	t.Helper()
	answer := func(code uint32) func(*dratest.Node, wire.Msg) wire.Msg {
		return func(n *dratest.Node, req wire.Msg) wire.Msg { return n.Answer(req, code) }
	}
	ok := dratest.Start(t, dratest.Options{Host: "ok.srv.test", Realm: "srv.test", Listen: true})
	busy := dratest.Start(t, dratest.Options{Host: "busy.srv.test", Realm: "srv.test", Listen: true, Serve: answer(wire.ResultTooBusy)})
	fail := dratest.Start(t, dratest.Options{Host: "fail.srv.test", Realm: "fail.test", Listen: true, Serve: answer(5012)})
	mute := dratest.Start(t, dratest.Options{Host: "mute.srv.test", Realm: "mute.test", Listen: true,
		Serve: func(*dratest.Node, wire.Msg) wire.Msg { return nil }})
	data := t.TempDir()
	if err := os.Chmod(data, 0o700); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`identity: {origin_host: %s, origin_realm: %s}
listen: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0", read_token: %q}
accept_unknown_peers: true
apps: {cdf: {enabled: true, data_dir: %q}}
peers:
  - {host: ok.srv.test, address: "%s", connect: true}
  - {host: busy.srv.test, address: "%s", connect: true}
  - {host: fail.srv.test, address: "%s", connect: true}
  - {host: mute.srv.test, address: "%s", connect: true}
  - {host: gone.srv.test, address: "%s", connect: true}
routing: {failover_on_busy: true, retries: 1}
routes:
  - name: srv
    realm: srv.test
    action: relay
    peers: [{host: busy.srv.test, priority: 1}, {host: ok.srv.test, priority: 2}]
  - {name: fail, realm: fail.test, action: relay, peers: [{host: fail.srv.test}]}
  - {name: mute, realm: mute.test, action: relay, timeout: 300ms, retries: 0, peers: [{host: mute.srv.test}]}
  - {name: gone, realm: gone.test, action: relay, peers: [{host: gone.srv.test}]}
  - {name: here, realm: %s, action: local}
timers: {watchdog: 6s, reconnect: 5s, reconnect_max: 10s}
`, draHost, draRealm, readToken, data, ok.Addr(), busy.Addr(), fail.Addr(), mute.Addr(), closedAddr(t), draRealm)
	cfg, err := configs.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	r := &rig{yaml: yaml}
	r.a = dratest.StartAgentConfig(t, cfg)
	dratest.WaitPeers(t, r.a, "ok.srv.test", "busy.srv.test", "fail.srv.test", "mute.srv.test")
	r.c = dratest.Client(t, r.a, draHost, "nas.cli.test", "cli.test")
	return r
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// freePort is a loopback port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// kind is one kind of request of the client's mix.
type kind struct {
	weight    int
	app, cmd  uint32
	destRealm string
}

// mix is what the client sends, in proportion: mostly CCRs that fail over
// from the busy server to the good one, some that end in 5012, 3002 (the
// unreachable peer), a timeout, 3003 (no route), and ACRs for the agent's
// own accounting server.
var mix = []kind{
	{80, 4, 272, "srv.test"},
	{5, 4, 272, "fail.test"},
	{5, 4, 272, "gone.test"},
	{2, 4, 272, "mute.test"},
	{4, 4, 272, "nowhere.test"},
	{4, 3, 271, draRealm},
}

// load sends requests at rate per second (r.rate, which the test may
// change) until the test ends; it stops before the nodes and the agent do.
// Answers are not waited for.
func (r *rig) load(t *testing.T, rate int) {
	r.rate.Store(int64(rate))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		const tick = 10 * time.Millisecond
		tk := time.NewTicker(tick)
		defer tk.Stop()
		var owed float64
		var seq int
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			owed += float64(r.rate.Load()) * tick.Seconds()
			for ; owed >= 1; owed-- {
				seq++
				k := pick(seq)
				req := dratest.Request(k.app, k.cmd, fmt.Sprintf("nas.cli.test;watch;%d", seq), "nas.cli.test", "cli.test", k.destRealm, "")
				r.c.Send(t, draHost, req)
				r.sent.Add(1)
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

// pick spreads the kinds of the mix over the sequence.
func pick(seq int) kind {
	total := 0
	for _, k := range mix {
		total += k.weight
	}
	n := seq * 37 % total
	for _, k := range mix {
		if n < k.weight {
			return k
		}
		n -= k.weight
	}
	return mix[0]
}
