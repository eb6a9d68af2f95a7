package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/admin"
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

// peerSetConfig is a configuration with the given peers and routes (YAML
// list items), short timers and the admin API on.
func peerSetConfig(t *testing.T, peerLines, routeLines string) *configs.Config {
	t.Helper()
	y := `identity:
  origin_host: dra.dra.test
  origin_realm: dra.test
listen:
  - address: 127.0.0.1:0
admin: {address: "127.0.0.1:0", token: tok}
accept_unknown_peers: true
timers: {reconnect: 1s, reconnect_max: 2s, disconnect: 1s}
peers:
` + peerLines + `routes:
` + routeLines
	cfg, err := configs.Parse([]byte(y))
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	return cfg
}

// slowServer is a server node that answers after delay; it records whether
// every answer left while its connection to the agent was still open (no
// DPR yet).
type slowServer struct {
	*dratest.Node
	late atomic.Int64 // answers that found the connection closing
	sent atomic.Int64
}

func startSlow(t *testing.T, host string, delay time.Duration) *slowServer {
	s := &slowServer{}
	s.Node = dratest.Start(t, dratest.Options{Host: host, Realm: "a.test", Listen: true,
		// The agent is listed (not dialled), so that its row, and why its
		// connection ended, stay in the node's table.
		Dial: []peers.PeerConfig{{Identity: "dra.dra.test"}},
		Serve: func(n *dratest.Node, req wire.Msg) wire.Msg {
			ans := n.Answer(req, wire.ResultSuccess)
			p := n.M.Peer("dra.dra.test")
			time.AfterFunc(delay, func() {
				a := p.Active()
				if st, _ := p.State(); a == nil || !st.Open() || a.Conn.Send(ans) != nil {
					s.late.Add(1)
					return
				}
				s.sent.Add(1)
			})
			return nil
		}})
	return s
}

func waitActive(t *testing.T, a interface{ Peers() *peers.Manager }, id string) *peers.Active {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p := a.Peers().Peer(id); p != nil {
			if act := p.Active(); act != nil {
				return act
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer %s not open", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadPeerSetUnderLoad reloads, under steady load, a configuration
// that adds a server and a route to it, removes a server that still has
// requests pending, and changes a route's peers: nothing fails or goes
// astray, the removed server gets DPR only after answering, and the
// unchanged server keeps its connection.
func TestReloadPeerSetUnderLoad(t *testing.T) {
	s1 := dratest.Start(t, dratest.Options{Host: "s1.a.test", Realm: "a.test", Listen: true})
	s2 := startSlow(t, "s2.a.test", 150*time.Millisecond)
	s3 := dratest.Start(t, dratest.Options{Host: "s3.b.test", Realm: "b.test", Listen: true})
	before := peerSetConfig(t, fmt.Sprintf(`  - {host: s1.a.test, address: %s, connect: true}
  - {host: s2.a.test, address: %s, connect: true}
`, s1.Addr(), s2.Addr()), `  - {name: a, realm: a.test, action: relay, sticky: false, peers: [{host: s1.a.test}, {host: s2.a.test}]}
`)
	after := peerSetConfig(t, fmt.Sprintf(`  - {host: s1.a.test, address: %s, connect: true}
  - {host: s3.b.test, address: %s, connect: true}
`, s1.Addr(), s3.Addr()), `  - {name: a, realm: a.test, action: relay, peers: [{host: s1.a.test}]}
  - {name: b, realm: b.test, action: relay, peers: [{host: s3.b.test}]}
`)
	a := dratest.StartAgentConfig(t, before)
	c := dratest.Start(t, dratest.Options{Host: "c.client.test", Realm: "client.test",
		Dial: []peers.PeerConfig{{Identity: "dra.dra.test", Addr: a.Addrs()[0].String(), Connect: true}}})
	s1Conn := waitActive(t, a, "s1.a.test").Conn
	waitActive(t, a, "s2.a.test")
	s1Remote := s1.WaitOpen(t, "dra.dra.test").Conn
	c.WaitOpen(t, "dra.dra.test")

	const total = 3000
	var ok, bad, wrong atomic.Int64
	var reloaded atomic.Bool
	var s2AtReload uint64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range total {
		if i == total/2 {
			restart, err := a.Reload(after)
			if err != nil {
				t.Fatal(err)
			}
			if len(restart) != 0 {
				t.Errorf("needs restart: %v", restart)
			}
			s2AtReload = s2.Count()
			reloaded.Store(true)
		}
		dest := "a.test"
		if reloaded.Load() && i%2 == 0 {
			dest = "b.test"
		}
		sem <- struct{}{}
		wg.Add(1)
		ch := c.Send(t, "dra.dra.test", dratest.Request(4, 272, fmt.Sprintf("c;%d", i), "c.client.test", "client.test", dest, ""))
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			select {
			case m := <-ch:
				if dratest.ResultCode(m) != wire.ResultSuccess {
					bad.Add(1)
					return
				}
				origin := dratest.String(m, wire.AVPOriginHost)
				if (dest == "b.test") != (origin == "s3.b.test") {
					wrong.Add(1)
					return
				}
				ok.Add(1)
			case <-time.After(5 * time.Second):
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("requests %d: 2001 %d, failed %d, misrouted %d; s1 %d, s2 %d (%d before the reload), s3 %d; s2 answers sent %d, late %d",
		total, ok.Load(), bad.Load(), wrong.Load(), s1.Count(), s2.Count(), s2AtReload, s3.Count(), s2.sent.Load(), s2.late.Load())
	if ok.Load() != total || bad.Load() != 0 || wrong.Load() != 0 {
		t.Fatalf("%d of %d answered 2001 by the right server (%d failed, %d misrouted)", ok.Load(), total, bad.Load(), wrong.Load())
	}
	if s2AtReload == 0 || s2.Count() != s2AtReload {
		t.Errorf("s2 got %d requests before the reload and %d in all: the reload did not take it out of routing at once", s2AtReload, s2.Count())
	}
	if s2.late.Load() != 0 || s2.sent.Load() != int64(s2.Count()) {
		t.Errorf("s2 answered %d of %d requests before its DPR (%d found the connection closing)", s2.sent.Load(), s2.Count(), s2.late.Load())
	}
	// s2 was told BUSY and is forgotten.
	deadline := time.Now().Add(5 * time.Second)
	for {
		in, ok := s2.M.Table().Get("dra.dra.test")
		if !ok || strings.Contains(in.LastError, "DPR received (BUSY)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("s2 did not get DPR (BUSY): %+v", in)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.Peers().Peer("s2.a.test") != nil {
		t.Error("removed peer still known")
	}
	// The unchanged peer kept its connection on both ends.
	if act := a.Peers().Peer("s1.a.test").Active(); act == nil || act.Conn != s1Conn {
		t.Error("s1: the agent's connection was replaced")
	}
	if act := s1.M.Peer("dra.dra.test").Active(); act == nil || act.Conn != s1Remote {
		t.Error("s1 saw a new connection")
	}
	if st := a.ReloadStats(); st.OK != 1 || st.Failed != 0 || !st.LastOK {
		t.Errorf("reload stats %+v", st)
	}
}

// TestReloadRedialsRefusingPeer: a server that disconnected with
// DO_NOT_WANT_TO_TALK_TO_YOU is not redialled until a reload changes its
// settings.
func TestReloadRedialsRefusingPeer(t *testing.T) {
	s := dratest.Start(t, dratest.Options{Host: "s1.a.test", Realm: "a.test", Listen: true})
	routes := `  - {realm: a.test, action: relay, peers: [{host: s1.a.test}]}
`
	cfg := peerSetConfig(t, fmt.Sprintf("  - {host: s1.a.test, address: %s, connect: true}\n", s.Addr()), routes)
	a := dratest.StartAgentConfig(t, cfg)
	first := waitActive(t, a, "s1.a.test").Conn
	act := s.WaitOpen(t, "dra.dra.test")
	dpr := wire.NewMsg(wire.FlagRequest, wire.CmdDisconnectPeer, 0, act.Conn.NextHopByHop(), 7).
		AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "s1.a.test").
		AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "a.test").
		AppendUint32AVP(wire.AVPDisconnectCause, wire.AVPFlagMandatory, 0, peers.CauseDoNotWantToTalkToYou)
	if err := act.Conn.Send(dpr); err != nil {
		t.Fatal(err)
	}
	act.Conn.CloseAfterFlush()
	<-first.Done()
	time.Sleep(2500 * time.Millisecond) // past Tc (1 s) and its backoff
	if st, _ := a.Peers().Peer("s1.a.test").State(); st != peers.StateClosed {
		t.Fatalf("s1 %s after DO_NOT_WANT_TO_TALK_TO_YOU, want Closed", st)
	}
	if _, err := a.Reload(cfg); err != nil { // unchanged: still refused
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if st, _ := a.Peers().Peer("s1.a.test").State(); st != peers.StateClosed {
		t.Fatalf("s1 %s after an unchanged reload, want Closed", st)
	}
	changed := peerSetConfig(t, fmt.Sprintf("  - {host: s1.a.test, address: %s, connect: true, watchdog_interval: 12s}\n", s.Addr()), routes)
	if _, err := a.Reload(changed); err != nil {
		t.Fatal(err)
	}
	waitActive(t, a, "s1.a.test")
}

// TestReloadRefusedAndAdminPath: a bad configuration is refused and
// counted while the old routes serve; the admin API reloads the file
// through the same path and counters, and serves the running
// configuration.
func TestReloadRefusedAndAdminPath(t *testing.T) {
	s1 := dratest.Start(t, dratest.Options{Host: "s1.a.test", Realm: "a.test", Listen: true})
	s3 := dratest.Start(t, dratest.Options{Host: "s3.b.test", Realm: "b.test", Listen: true})
	peerLines := fmt.Sprintf("  - {host: s1.a.test, address: %s, connect: true}\n", s1.Addr())
	route := "  - {name: a, realm: a.test, action: relay, peers: [{host: s1.a.test}]}\n"
	cfg := peerSetConfig(t, peerLines, route)
	path := filepath.Join(t.TempDir(), "dra.yaml")
	writeYAML := func(c *configs.Config, extra string) {
		t.Helper()
		y := fmt.Sprintf(`identity: {origin_host: dra.dra.test, origin_realm: dra.test}
listen: [{address: %q}]
admin: {address: %q, token: tok}
accept_unknown_peers: true
timers: {reconnect: 1s, reconnect_max: 2s, disconnect: 1s}
peers:
%sroutes:
%s`, a0addr(c), c.Admin.Addr, extra, route)
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := dratest.StartAgentConfig(t, cfg)
	a.SetConfigPath(path)
	cl := dratest.Start(t, dratest.Options{Host: "c.client.test", Realm: "client.test",
		Dial: []peers.PeerConfig{{Identity: "dra.dra.test", Addr: a.Addrs()[0].String(), Connect: true}}})
	waitActive(t, a, "s1.a.test")
	call := func(dest string) uint32 {
		return dratest.ResultCode(cl.Call(t, "dra.dra.test", dratest.Request(4, 272, "c;"+dest, "c.client.test", "client.test", dest, "")))
	}

	// A configuration that fails validation, and one whose TLS material
	// cannot be read: both refused, counted, the old routes serve on.
	bad := peerSetConfig(t, peerLines, route)
	bad.Timers.Watchdog = time.Second
	if _, err := a.Reload(bad); err == nil || !strings.Contains(err.Error(), "timers.watchdog") {
		t.Fatalf("bad timer: err %v, want one naming timers.watchdog", err)
	}
	badTLS := peerSetConfig(t, peerLines+"  - {host: s9.a.test, address: 127.0.0.1:1, connect: true}\n", route)
	badTLS.Peers[1].Transport = "tls"
	badTLS.Peers[1].TLS.CAFile = filepath.Join(t.TempDir(), "missing-ca.pem")
	if _, err := a.Reload(badTLS); err == nil || !strings.Contains(err.Error(), "peers[1].tls") {
		t.Fatalf("missing CA: err %v, want one naming peers[1].tls", err)
	}
	if a.Peers().Peer("s9.a.test") != nil {
		t.Error("a refused configuration added a peer")
	}
	if st := a.ReloadStats(); st.Failed != 2 || st.OK != 0 || st.LastOK || !strings.Contains(st.LastError, "peers[1].tls") {
		t.Errorf("stats after two refusals: %+v", st)
	}
	if rc := call("a.test"); rc != wire.ResultSuccess {
		t.Fatalf("old route answered %d after refused reloads", rc)
	}

	// Over the admin API: a file that does not parse is refused...
	if err := os.WriteFile(path, []byte("peers: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ac := &admin.Client{Addr: a.AdminAddr(), Token: "tok"}
	ctx := context.Background()
	if _, err := ac.Reload(ctx); err == nil {
		t.Fatal("admin reload of a broken file succeeded")
	}
	// ...and a good one adds s3 and a route to it.
	route += "  - {name: b, realm: b.test, action: relay, peers: [{host: s3.b.test}]}\n"
	writeYAML(cfg, peerLines+fmt.Sprintf("  - {host: s3.b.test, address: %s, connect: true}\n", s3.Addr()))
	if _, err := ac.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	waitActive(t, a, "s3.b.test")
	if rc := call("b.test"); rc != wire.ResultSuccess {
		t.Fatalf("new route answered %d", rc)
	}
	st, err := ac.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Reloads == nil || st.Reloads.OK != 1 || st.Reloads.Failed != 3 {
		t.Errorf("admin reload counters %+v, want 1 applied and 3 refused", st.Reloads)
	}
	var running configs.Running
	if err := ac.Config(ctx, &running); err != nil {
		t.Fatal(err)
	}
	if len(running.Config.Peers) != 2 || running.Config.Admin.Token != configs.Redacted {
		t.Errorf("running configuration: peers %+v, token %q", running.Config.Peers, running.Config.Admin.Token)
	}
	next := peerSetConfig(t, peerLines, route)
	if d := configs.CompareRunning(running, next); len(d.PeersRemoved) != 1 || d.PeersRemoved[0] != "s3.b.test" {
		t.Errorf("diff against the running configuration: %+v", d)
	}
}

// a0addr is the listener address of a configuration.
func a0addr(c *configs.Config) string { return c.Listen[0].Address }
