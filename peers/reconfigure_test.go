package peers

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/wire"
)

// server answers every request after a delay and records when it answered
// and when its peers went down.
type server struct {
	host  string
	delay time.Duration
	m     *Manager

	mu       sync.Mutex
	answered time.Time // when the last answer was queued
	downs    []time.Time
	reqs     atomic.Int64
}

func (s *server) HandleMessage(p *Peer, c *Conn, m wire.Msg) {
	if !m.IsRequest() {
		wire.PutBuf(m)
		return
	}
	s.reqs.Add(1)
	ans := s.m.build.errorAnswer(m, wire.ResultSuccess, "")
	wire.PutBuf(m)
	time.AfterFunc(s.delay, func() {
		if c.Send(ans) == nil {
			s.mu.Lock()
			s.answered = time.Now()
			s.mu.Unlock()
		}
	})
}

func (s *server) PeerDown(*Peer, *Conn) {
	s.mu.Lock()
	s.downs = append(s.downs, time.Now())
	s.mu.Unlock()
}

func (s *server) times() (answered time.Time, downs []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answered, append([]time.Time(nil), s.downs...)
}

func startServer(t *testing.T, host string, delay time.Duration) *server {
	t.Helper()
	s := &server{host: host, delay: delay}
	o := fastOpts(host)
	o.Watchdog = 6 * time.Second // no DWR traffic to blur the counts
	o.Handler = s
	o.Logger = testLogger(t)
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.m = m
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Abort() })
	return s
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (s *server) addr() string { return s.m.Addrs()[0].String() }

// client is a Handler that matches answers to the requests it sent.
type client struct{ answers atomic.Int64 }

func (c *client) HandleMessage(p *Peer, conn *Conn, m wire.Msg) {
	if !m.IsRequest() {
		if _, ok := conn.TakePending(m.HopByHop()); ok {
			c.answers.Add(1)
		}
	}
	wire.PutBuf(m)
}

func (c *client) PeerDown(p *Peer, conn *Conn) { conn.DrainPending() }

func reconfigOf(o Options) Reconfig {
	return Reconfig{
		Peers: o.Peers, AcceptUnknown: o.AcceptUnknown, Watchdog: o.Watchdog, Reconnect: o.Reconnect,
		ReconnectMax: o.ReconnectMax, CapabilitiesTimeout: o.CapabilitiesTimeout, DisconnectTimeout: o.DisconnectTimeout,
	}
}

// TestReconfigurePeerSet applies one new peer set with every kind of
// change and checks each peer's fate.
func TestReconfigurePeerSet(t *testing.T) {
	keep := startServer(t, "keep.test", 0)
	gone := startServer(t, "gone.test", 300*time.Millisecond)
	moved := startServer(t, "moved.test", 0)
	moved2 := startServer(t, "moved.test", 0) // the same identity at a new address
	tw := startServer(t, "tw.test", 0)
	added := startServer(t, "added.test", 0)

	cl := &client{}
	o := fastOpts("a.test")
	o.Watchdog = 6 * time.Second
	o.Handler = cl
	o.Logger = testLogger(t)
	o.Peers = []PeerConfig{
		dialer("keep.test", "test", keep.addr()),
		dialer("gone.test", "test", gone.addr()),
		dialer("moved.test", "test", moved.addr()),
		{Identity: "tw.test", Realm: "test", Addr: tw.addr(), Connect: true, Watchdog: 6 * time.Second},
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Abort() })
	an := &testNode{m: m}
	before := map[string]*Conn{}
	for _, id := range []string{"keep.test", "gone.test", "moved.test", "tw.test"} {
		before[id] = waitUsable(t, an, id, 3*time.Second).Conn
	}
	keepRemote := waitUsable(t, &testNode{m: keep.m}, "a.test", time.Second).Conn

	// Requests pending on the peer about to be removed: it answers them
	// 300 ms later, and must get DPR only after that.
	const pending = 5
	gc := before["gone.test"]
	for i := range pending {
		req := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, 272, 4, 0, uint32(i+1))
		if _, err := gc.SendRequest(req, i); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "requests at gone.test", time.Second, func() bool { return gone.reqs.Load() == pending })

	rc := reconfigOf(o)
	rc.DrainTimeout = 3 * time.Second
	rc.Peers = []PeerConfig{
		dialer("keep.test", "test", keep.addr()),
		dialer("moved.test", "test", moved2.addr()),
		{Identity: "tw.test", Realm: "test", Addr: tw.addr(), Connect: true, Watchdog: 9 * time.Second},
		dialer("added.test", "test", added.addr()),
	}
	published := false
	res, err := m.Reconfigure(rc, func() {
		published = true
		if m.Peer("added.test") == nil {
			t.Error("routes published before the added peer is known")
		}
		if m.Peer("gone.test") == nil {
			t.Error("removed peer forgotten before the routes were published")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !published {
		t.Fatal("publish not called")
	}
	if m.Peer("gone.test") != nil {
		t.Fatal("removed peer still known")
	}
	if want := []string{"added.test"}; strings.Join(res.Added, ",") != strings.Join(want, ",") {
		t.Errorf("added %v, want %v", res.Added, want)
	}
	if want := []string{"gone.test"}; strings.Join(res.Removed, ",") != strings.Join(want, ",") {
		t.Errorf("removed %v, want %v", res.Removed, want)
	}
	changes := map[string]PeerChange{}
	for _, c := range res.Changed {
		changes[c.Identity] = c
	}
	if c := changes["moved.test"]; !c.Reconnect || strings.Join(c.Fields, ",") != "address" {
		t.Errorf("moved.test change %+v, want address with reconnect", c)
	}
	if c := changes["tw.test"]; c.Reconnect || strings.Join(c.Fields, ",") != "watchdog" {
		t.Errorf("tw.test change %+v, want watchdog in place", c)
	}
	if res.Unchanged != 1 || len(res.Changed) != 2 {
		t.Errorf("unchanged %d, changed %+v", res.Unchanged, res.Changed)
	}

	// The removed peer answered everything before its DPR, which said BUSY.
	waitFor(t, "gone.test DPR", 3*time.Second, func() bool { _, d := gone.times(); return len(d) > 0 })
	answered, downs := gone.times()
	if cl.answers.Load() != pending {
		t.Errorf("%d of %d pending requests answered", cl.answers.Load(), pending)
	}
	if !downs[0].After(answered) {
		t.Errorf("DPR at %v before the last answer at %v", downs[0], answered)
	}
	if in, ok := gone.m.Table().Get("a.test"); ok && !strings.Contains(in.LastError, "BUSY") {
		t.Errorf("gone.test saw %q, want a DPR with cause BUSY", in.LastError)
	}
	<-gc.Done()

	// The moved peer reconnects to its new address; the added one opens.
	waitFor(t, "moved.test at its new address", 3*time.Second, func() bool {
		return moved2.m.Peer("a.test") != nil && moved2.m.Peer("a.test").Active() != nil
	})
	if a := waitUsable(t, an, "moved.test", 3*time.Second); a.Conn == before["moved.test"] {
		t.Error("moved.test kept its old connection")
	}
	waitUsable(t, an, "added.test", 3*time.Second)

	// Unchanged and in-place peers keep their connection on both ends.
	for _, id := range []string{"keep.test", "tw.test"} {
		if a := m.Peer(id).Active(); a == nil || a.Conn != before[id] {
			t.Errorf("%s: connection replaced", id)
		}
	}
	if a := keep.m.Peer("a.test").Active(); a == nil || a.Conn != keepRemote {
		t.Error("keep.test saw a new connection")
	}
	p := m.Peer("tw.test")
	p.mu.Lock()
	gotTw := p.tw
	p.mu.Unlock()
	if gotTw != 9*time.Second {
		t.Errorf("tw.test Tw %s, want 9s", gotTw)
	}
	if in, _ := m.Table().Get("gone.test"); in != nil {
		t.Error("removed peer still in the table")
	}
}

// TestReconfigureRedialsRefusingPeer: a peer that said
// DO_NOT_WANT_TO_TALK_TO_YOU is not redialled until its settings change.
func TestReconfigureRedialsRefusingPeer(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	ao := fastOpts("a.test")
	ao.Peers = []PeerConfig{{Identity: "b.test", Addr: b.addr(), Connect: true, Watchdog: 400 * time.Millisecond}}
	a := startNode(t, ao)
	first := waitUsable(t, a, "b.test", 3*time.Second).Conn
	pb := b.m.Peer("a.test")
	c, _ := pb.beginDrain(false, "test")
	if c == nil {
		t.Fatal("no open connection to disconnect")
	}
	pb.dprOnDrained(c, CauseDoNotWantToTalkToYou, 0, time.Second)
	<-first.Done()
	time.Sleep(4 * ao.Reconnect) // several Tc: no redial
	if st, _ := a.m.Peer("b.test").State(); st != StateClosed {
		t.Fatalf("b.test %s after DO_NOT_WANT_TO_TALK_TO_YOU, want Closed", st)
	}

	// The same settings again change nothing.
	rc := reconfigOf(ao)
	res, err := a.m.Reconfigure(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged != 1 {
		t.Fatalf("result %+v", res)
	}
	time.Sleep(4 * ao.Reconnect)
	if st, _ := a.m.Peer("b.test").State(); st != StateClosed {
		t.Fatalf("b.test %s after an unchanged reload", st)
	}

	// A change of its settings lifts the refusal.
	rc.Peers = []PeerConfig{{Identity: "b.test", Addr: b.addr(), Connect: true, Watchdog: 500 * time.Millisecond}}
	if _, err := a.m.Reconfigure(rc, nil); err != nil {
		t.Fatal(err)
	}
	waitUsable(t, a, "b.test", 3*time.Second)
}

// TestReconfigureAcceptUnknown turns accept_unknown_peers off: an admitted
// unknown peer is disconnected and a new one refused.
func TestReconfigureAcceptUnknown(t *testing.T) {
	a := startNode(t, fastOpts("a.test"))
	bo := fastOpts("b.test")
	bo.Peers = []PeerConfig{dialer("a.test", "", a.addr())}
	b := startNode(t, bo)
	conn := waitUsable(t, a, "b.test", 3*time.Second).Conn
	rc := reconfigOf(fastOpts("a.test"))
	rc.AcceptUnknown = false
	res, err := a.m.Reconfigure(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 1 || res.Removed[0] != "b.test" {
		t.Fatalf("removed %v", res.Removed)
	}
	<-conn.Done()
	waitFor(t, "b.test refused", 3*time.Second, func() bool {
		in, ok := b.m.Table().Get("a.test")
		return ok && strings.Contains(in.LastError, "DIAMETER_UNKNOWN_PEER")
	})
	if a.m.Peer("b.test") != nil {
		t.Error("unknown peer admitted after accept_unknown_peers was turned off")
	}
}

// TestReconfigureRefusesInvalid: a bad peer set changes nothing.
func TestReconfigureRefusesInvalid(t *testing.T) {
	a := startNode(t, fastOpts("a.test"))
	for _, tc := range []struct {
		name  string
		peers []PeerConfig
		want  string
	}{
		{"twice", []PeerConfig{{Identity: "x.test"}, {Identity: "X.test"}}, "configured twice"},
		{"own identity", []PeerConfig{{Identity: "a.test"}}, "own identity"},
		{"connect without address", []PeerConfig{{Identity: "x.test", Connect: true}}, "connect needs an address"},
		{"no identity", []PeerConfig{{Addr: "127.0.0.1:1"}}, "without identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := reconfigOf(fastOpts("a.test"))
			rc.Peers = tc.peers
			rc.AcceptUnknown = false
			called := false
			_, err := a.m.Reconfigure(rc, func() { called = true })
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if called || !a.m.tun().acceptUnknown || a.m.Peer("x.test") != nil {
				t.Fatal("a refused peer set was partly applied")
			}
		})
	}
}
