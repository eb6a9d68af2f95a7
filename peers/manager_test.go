package peers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/test/fdtest"
	"github.com/dra-project/dra/wire"
)

// recorder is a Handler that keeps what it receives.
type recorder struct {
	mu    sync.Mutex
	msgs  []wire.Msg
	downs int
	got   chan wire.Msg
}

func newRecorder() *recorder { return &recorder{got: make(chan wire.Msg, 64)} }

func (r *recorder) HandleMessage(p *Peer, c *Conn, m wire.Msg) {
	if !m.IsRequest() {
		c.TakePending(m.HopByHop()) // answered, as the router would
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	select {
	case r.got <- m:
	default:
	}
}

func (r *recorder) PeerDown(*Peer, *Conn) {
	r.mu.Lock()
	r.downs++
	r.mu.Unlock()
}

func (r *recorder) downCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.downs
}

type testNode struct {
	m   *Manager
	rec *recorder
}

// fastOpts are options with short timers so that tests run in well under a
// second per protocol round.
func fastOpts(host string) Options {
	return Options{
		Local:               Local{OriginHost: host, OriginRealm: "test", ProductName: "dra-test", Relay: true},
		Listeners:           []Listener{{Addr: "127.0.0.1:0"}},
		AcceptUnknown:       true,
		Watchdog:            400 * time.Millisecond,
		Reconnect:           100 * time.Millisecond,
		ReconnectMax:        400 * time.Millisecond,
		CapabilitiesTimeout: 2 * time.Second,
		DisconnectTimeout:   time.Second,
	}
}

func startNode(t *testing.T, o Options) *testNode {
	t.Helper()
	rec := newRecorder()
	o.Handler = rec
	o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		m.Shutdown(ctx)
	})
	return &testNode{m: m, rec: rec}
}

func (n *testNode) addr() string { return n.m.Addrs()[0].String() }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitState(t *testing.T, n *testNode, identity string, want State, timeout time.Duration) *PeerInfo {
	t.Helper()
	var last *PeerInfo
	waitFor(t, identity+" "+want.String(), timeout, func() bool {
		in, ok := n.m.Table().Get(identity)
		last = in
		return ok && in.State == want
	})
	return last
}

func waitUsable(t *testing.T, n *testNode, identity string, timeout time.Duration) *Active {
	t.Helper()
	var a *Active
	waitFor(t, identity+" usable", timeout, func() bool {
		p := n.m.Peer(identity)
		a = nil
		if p != nil {
			a = p.Active()
		}
		return a != nil
	})
	return a
}

func dialer(host, realm, addr string) PeerConfig {
	return PeerConfig{Identity: host, Realm: realm, Addr: addr, Connect: true}
}

func TestOpenWatchdogAndDisconnect(t *testing.T) {
	bo := fastOpts("b.test")
	bo.Peers = []PeerConfig{{Identity: "a.test"}} // listed, so it stays in the table when closed
	b := startNode(t, bo)
	ao := fastOpts("a.test")
	ao.Peers = []PeerConfig{dialer("b.test", "test", b.addr())}
	a := startNode(t, ao)

	ain := waitState(t, a, "b.test", StateIOpen, 3*time.Second)
	bin := waitState(t, b, "a.test", StateROpen, 3*time.Second)
	if ain.Role != "initiator" || bin.Role != "responder" {
		t.Errorf("roles: a sees %q, b sees %q", ain.Role, bin.Role)
	}
	if len(bin.Apps) != 1 || bin.Apps[0] != wire.RelayAppID {
		t.Errorf("negotiated apps = %v, want relay", bin.Apps)
	}
	if bin.ProductName != "dra-test" {
		t.Errorf("product name = %q", bin.ProductName)
	}

	// With no other traffic a DWR/DWA pair crosses every Tw (a DWR from
	// one side resets the other side's timer too).
	bc := b.m.Peer("a.test").Active().Conn
	before := bc.rxCount.Load()
	time.Sleep(1600 * time.Millisecond)
	if got := bc.rxCount.Load() - before; got < 2 {
		t.Errorf("b received %d watchdog messages in 4 Tw, want at least 2", got)
	}
	if _, wd := b.m.Peer("a.test").State(); wd != WatchdogOkay {
		t.Errorf("watchdog = %s", wd)
	}

	// Shutdown sends DPR; the peer answers DPA and both sides close.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.m.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("shutdown took %s: DPA not received before the disconnect timer", d)
	}
	in := waitState(t, b, "a.test", StateClosed, 3*time.Second)
	if !strings.Contains(in.LastError, "DPR received (REBOOTING)") {
		t.Errorf("b's last error = %q, want a DPR with REBOOTING", in.LastError)
	}
	// After the DPR, the connection is read until it closes: the handler
	// hears of it then (PeerDown runs once the state is published).
	waitFor(t, "handler told the peer went down", time.Second, func() bool { return b.rec.downCount() > 0 })
}

func TestApplicationMessagesReachHandler(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	ao := fastOpts("a.test")
	ao.Peers = []PeerConfig{dialer("b.test", "", b.addr())}
	a := startNode(t, ao)
	act := waitUsable(t, a, "b.test", 3*time.Second)
	for i := range 10 {
		m := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, wire.CmdCreditControl, 4, act.Conn.NextHopByHop(), uint32(i))
		m = m.AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "s;1")
		if err := act.Conn.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		select {
		case m := <-b.rec.got:
			if m.Code() != wire.CmdCreditControl || m.EndToEnd() != uint32(i) {
				t.Fatalf("message %d: code %d e2e %d", i, m.Code(), m.EndToEnd())
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("message %d not delivered", i)
		}
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name    string
		server  func(*Options)
		client  func(*Options)
		want    string // in the client's last error
		refused bool
	}{
		{"unknown peer", func(o *Options) { o.AcceptUnknown = false }, nil, "3010 DIAMETER_UNKNOWN_PEER", true},
		{"wrong realm", func(o *Options) { o.Peers = []PeerConfig{{Identity: "a.test", Realm: "elsewhere"}} }, nil, "3010", true},
		{"no common application",
			func(o *Options) { o.Local.Relay = false; o.Local.Apps = []App{{ID: 4}} },
			func(o *Options) { o.Local.Relay = false; o.Local.Apps = []App{{ID: 3, Acct: true}} },
			"5010 DIAMETER_NO_COMMON_APPLICATION", true},
		{"common vendor application",
			func(o *Options) { o.Local.Relay = false; o.Local.Apps = []App{{ID: 16777238, VendorID: 10415}} },
			func(o *Options) {
				o.Local.Relay = false
				o.Local.Apps = []App{{ID: 16777238, VendorID: 10415}, {ID: 4}}
			},
			"", false},
		{"relay client, local server app",
			func(o *Options) { o.Local.Relay = false; o.Local.Apps = []App{{ID: 4}} },
			nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			so := fastOpts("b.test")
			so.AcceptUnknown = true
			if tt.server != nil {
				tt.server(&so)
			}
			b := startNode(t, so)
			co := fastOpts("a.test")
			co.Reconnect, co.ReconnectMax = 5*time.Second, 5*time.Second
			if tt.client != nil {
				tt.client(&co)
			}
			co.Peers = []PeerConfig{dialer("b.test", "", b.addr())}
			a := startNode(t, co)
			if !tt.refused {
				waitState(t, a, "b.test", StateIOpen, 3*time.Second)
				return
			}
			var in *PeerInfo
			waitFor(t, "refusal", 3*time.Second, func() bool {
				in, _ = a.m.Table().Get("b.test")
				return strings.Contains(in.LastError, tt.want)
			})
			if in.State == StateIOpen {
				t.Fatal("refused peer is open")
			}
			if _, ok := b.m.Table().Get("a.test"); ok && !strings.Contains(tt.name, "realm") {
				t.Error("refused peer left in the server's table")
			}
		})
	}
}

func TestElectionKeepsOneConnection(t *testing.T) {
	// Both sides dial each other at once, repeatedly; each round must end
	// with one connection, the same one on both sides.
	for round := range 3 {
		lb, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		bAddr := lb.Addr().String()
		lb.Close()
		ao := fastOpts("a.test")
		bo := fastOpts("b.test")
		bo.Listeners = []Listener{{Addr: bAddr}}
		la, _ := net.Listen("tcp", "127.0.0.1:0")
		aAddr := la.Addr().String()
		la.Close()
		ao.Listeners = []Listener{{Addr: aAddr}}
		ao.Peers = []PeerConfig{dialer("b.test", "", bAddr)}
		bo.Peers = []PeerConfig{dialer("a.test", "", aAddr)}
		var a, b *testNode
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); a = startNode(t, ao) }()
		go func() { defer wg.Done(); b = startNode(t, bo) }()
		wg.Wait()
		ac := waitUsable(t, a, "b.test", 5*time.Second).Conn
		bc := waitUsable(t, b, "a.test", 5*time.Second).Conn
		if ac.LocalAddr().String() != bc.RemoteAddr().String() {
			t.Fatalf("round %d: a uses %s->%s, b uses %s->%s", round, ac.LocalAddr(), ac.RemoteAddr(), bc.LocalAddr(), bc.RemoteAddr())
		}
		// Settle: the loser's extra connection must be gone and the kept
		// one must stay.
		time.Sleep(300 * time.Millisecond)
		if a.m.Peer("b.test").Active() == nil || a.m.Peer("b.test").Active().Conn != ac {
			t.Fatalf("round %d: connection changed after election", round)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		a.m.Shutdown(ctx)
		b.m.Shutdown(ctx)
		cancel()
	}
}

func TestReopenNeedsThreeDWAs(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	ao := fastOpts("a.test")
	ao.Watchdog = 300 * time.Millisecond
	ao.Peers = []PeerConfig{dialer("b.test", "", b.addr())}
	a := startNode(t, ao)
	first := waitUsable(t, a, "b.test", 3*time.Second).Conn

	// Cut the transport under both sides.
	b.m.Peer("a.test").Active().Conn.nc.Close()
	waitFor(t, "a redials", 3*time.Second, func() bool {
		st, wd := a.m.Peer("b.test").State()
		return st == StateIOpen && wd == WatchdogReopen
	})
	reopened := time.Now()
	if a.m.Peer("b.test").Active() != nil {
		t.Fatal("a reopened peer carries traffic before its watchdog is OKAY")
	}
	act := waitUsable(t, a, "b.test", 5*time.Second)
	if act.Conn == first {
		t.Fatal("still on the first connection")
	}
	// Three DWR/DWA rounds take at least two further Tw (the first DWR goes
	// out at once).
	if d := time.Since(reopened); d < 2*(300-75)*time.Millisecond {
		t.Errorf("usable %s after reopening: fewer than three DWAs", d)
	}
}

func TestRestartedPeerReplacesConnection(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	a1o := fastOpts("a.test")
	a1o.Local.OriginStateID = 100
	a1o.Peers = []PeerConfig{dialer("b.test", "", b.addr())}
	a1 := startNode(t, a1o)
	old := waitUsable(t, b, "a.test", 3*time.Second).Conn
	waitUsable(t, a1, "b.test", 3*time.Second)

	// a1 "crashes": it will not redial once b drops its connection.
	p1 := a1.m.Peer("b.test")
	p1.mu.Lock()
	p1.stopped = true
	p1.mu.Unlock()

	// Same identity, new Origin-State-Id, while the old connection is up.
	a2o := a1o
	a2o.Local.OriginStateID = 101
	a2 := startNode(t, a2o)
	waitUsable(t, a2, "b.test", 3*time.Second)
	act := waitUsable(t, b, "a.test", 3*time.Second)
	if act.Conn == old || act.Caps.OriginStateID != 101 {
		t.Fatalf("b kept the old connection (state id %d)", act.Caps.OriginStateID)
	}
	select {
	case <-old.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("old connection not closed")
	}
}

func TestSecondConnectionSameStateRejected(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	ao := fastOpts("a.test")
	ao.Local.OriginStateID = 7
	ao.Peers = []PeerConfig{dialer("b.test", "", b.addr())}
	a := startNode(t, ao)
	kept := waitUsable(t, b, "a.test", 3*time.Second).Conn
	waitUsable(t, a, "b.test", 3*time.Second)

	rc := dialRaw(t, b.addr())
	cea := rc.exchange(t, Local{OriginHost: "a.test", OriginRealm: "test", ProductName: "x", Relay: true, OriginStateID: 7})
	if got := resultCode(t, cea); got != wire.ResultElectionLost {
		t.Fatalf("second connection answered %d, want 4003", got)
	}
	if b.m.Peer("a.test").Active().Conn != kept {
		t.Fatal("open connection replaced")
	}
}

// rawConn is a hand-driven client for protocol edge cases.
type rawConn struct {
	nc net.Conn
	rd *wire.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	return &rawConn{nc: nc, rd: wire.NewReader(nc, 1<<20)}
}

func (r *rawConn) send(t *testing.T, b []byte) {
	t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (r *rawConn) read(t *testing.T) wire.Msg {
	t.Helper()
	m, err := r.rd.Next()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

func (r *rawConn) exchange(t *testing.T, l Local) wire.Msg {
	t.Helper()
	l.HostIPs = nil
	r.send(t, builder{l: &l}.cer(r.nc.LocalAddr(), 1, 1))
	return r.read(t)
}

// closed reports whether the agent closed the connection (EOF) in time.
func (r *rawConn) closed(t *testing.T) bool {
	t.Helper()
	for {
		_, err := r.rd.Next()
		if err != nil {
			return !isTimeout(err)
		}
	}
}

func resultCode(t *testing.T, m wire.Msg) uint32 {
	t.Helper()
	a, ok := m.Find(wire.AVPResultCode, 0)
	if !ok {
		t.Fatal("no Result-Code")
	}
	v, _ := a.Uint32()
	return v
}

func TestFirstMessageMustBeCER(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	rc := dialRaw(t, b.addr())
	l := Local{OriginHost: "x.test", OriginRealm: "test"}
	rc.send(t, builder{l: &l}.dwr(1, 1))
	if !rc.closed(t) {
		t.Fatal("connection left open after a DWR before CER")
	}
}

func TestCapabilitiesTimeout(t *testing.T) {
	o := fastOpts("b.test")
	o.CapabilitiesTimeout = 200 * time.Millisecond
	b := startNode(t, o)
	rc := dialRaw(t, b.addr())
	start := time.Now()
	if !rc.closed(t) {
		t.Fatal("silent connection not closed")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %s", d)
	}
}

func TestBadCERAnswered(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	rc := dialRaw(t, b.addr())
	cer := wire.NewMsg(wire.FlagRequest, wire.CmdCapabilitiesExchange, 0, 9, 9)
	cer = cer.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "x.test")
	cer = cer.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "test")
	rc.send(t, cer) // no Host-IP-Address, Vendor-Id, Product-Name
	cea := rc.read(t)
	if got := resultCode(t, cea); got != wire.ResultMissingAVP {
		t.Fatalf("Result-Code %d, want 5005", got)
	}
	if _, ok := cea.Find(wire.AVPFailedAVP, 0); !ok {
		t.Error("5005 without Failed-AVP")
	}
	if cea.HopByHop() != 9 {
		t.Errorf("hop-by-hop %d not echoed", cea.HopByHop())
	}
	if !rc.closed(t) {
		t.Fatal("connection not closed after failed CEA")
	}
}

func TestOversizedMessageAnsweredAndClosed(t *testing.T) {
	o := fastOpts("b.test")
	o.MaxMessageSize = 4096
	b := startNode(t, o)
	rc := dialRaw(t, b.addr())
	cea := rc.exchange(t, Local{OriginHost: "x.test", OriginRealm: "test", ProductName: "x", Relay: true})
	if got := resultCode(t, cea); got != wire.ResultSuccess {
		t.Fatalf("CEA %d", got)
	}
	hdr := make([]byte, 20)
	binary.BigEndian.PutUint32(hdr[0:4], 1<<24|8192) // version 1, length 8192
	binary.BigEndian.PutUint32(hdr[4:8], uint32(wire.FlagRequest)<<24|wire.CmdCreditControl)
	binary.BigEndian.PutUint32(hdr[8:12], 4)
	binary.BigEndian.PutUint32(hdr[12:16], 77)
	rc.send(t, hdr)
	ans := rc.read(t)
	if ans.HopByHop() != 77 || resultCode(t, ans) != wire.ResultInvalidMessageLength {
		t.Fatalf("answer hbh %d code %d, want 77 and 5015", ans.HopByHop(), resultCode(t, ans))
	}
	if !rc.closed(t) {
		t.Fatal("connection not closed")
	}
}

func TestConnectionLimit(t *testing.T) {
	o := fastOpts("b.test")
	o.MaxConnections = 2
	o.CapabilitiesTimeout = 3 * time.Second
	b := startNode(t, o)
	dialRaw(t, b.addr())
	dialRaw(t, b.addr())
	waitFor(t, "two connections", time.Second, func() bool { return b.m.nconns.Load() == 2 })
	third := dialRaw(t, b.addr())
	if !third.closed(t) {
		t.Fatal("connection over the limit accepted")
	}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := fdtest.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	pemCA, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	leaf := func(id string) tls.Certificate {
		certFile, keyFile, err := fdtest.GenerateLeaf(dir, ca, id)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	client := func(id string) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{leaf(id)}, RootCAs: pool, ServerName: "b.test"}
	}
	stls := &tls.Config{Certificates: []tls.Certificate{leaf("b.test")}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	bo := fastOpts("b.test")
	bo.Listeners = []Listener{{Addr: "127.0.0.1:0", TLS: stls, VerifyIdentity: true}}
	b := startNode(t, bo)

	ctls := client("a.test")
	ao := fastOpts("a.test")
	ao.Peers = []PeerConfig{{Identity: "b.test", Addr: b.addr(), Connect: true, TLS: ctls, VerifyIdentity: true}}
	a := startNode(t, ao)
	in := waitState(t, b, "a.test", StateROpen, 3*time.Second)
	if !in.TLS {
		t.Error("peer table does not show TLS")
	}
	waitState(t, a, "b.test", StateIOpen, 3*time.Second)

	// A client whose certificate names another identity is refused.
	ectls := client("evil.test")
	eo := fastOpts("a2.test")
	eo.Reconnect, eo.ReconnectMax = 5*time.Second, 5*time.Second
	eo.Peers = []PeerConfig{{Identity: "b.test", Addr: b.addr(), Connect: true, TLS: ectls}}
	e := startNode(t, eo)
	waitFor(t, "identity refusal", 3*time.Second, func() bool {
		in, _ := e.m.Table().Get("b.test")
		return strings.Contains(in.LastError, "3010")
	})

	// A client without a certificate fails the handshake.
	nc, err := tls.Dial("tcp", b.addr(), &tls.Config{RootCAs: ctls.RootCAs, ServerName: "b.test"})
	if err == nil {
		nc.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = nc.Read(make([]byte, 1))
		nc.Close()
	}
	if err == nil {
		t.Fatal("TLS client without certificate accepted")
	}
}

func TestOperatorDisconnectRedials(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	ao := fastOpts("a.test")
	ao.Peers = []PeerConfig{dialer("b.test", "", b.addr())}
	a := startNode(t, ao)
	first := waitUsable(t, a, "b.test", 3*time.Second).Conn
	if err := a.m.Disconnect("nobody.test"); err == nil {
		t.Fatal("unknown peer disconnected")
	}
	if err := a.m.Disconnect("b.test"); err != nil {
		t.Fatal(err)
	}
	<-first.Done()
	// Tc redials, and an orderly disconnect means no REOPEN probation.
	second := waitUsable(t, a, "b.test", 3*time.Second).Conn
	if second == first {
		t.Fatal("same connection")
	}
}
