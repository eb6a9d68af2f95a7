package dratest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// Options configure a Node.
type Options struct {
	Host  string // Origin-Host
	Realm string // Origin-Realm
	// Apps the node advertises; none means Relay.
	Apps []peers.App
	// Dial lists peers the node connects to.
	Dial []peers.PeerConfig
	// Listen makes the node accept connections (on 127.0.0.1:0).
	Listen bool
	// Serve answers a request received by the node; nil answers every
	// request with Result-Code 2001. Returning nil sends no answer.
	Serve func(n *Node, req wire.Msg) wire.Msg
	// Watchdog (Tw) for the node; default 6 s.
	Watchdog time.Duration
	// MaxMessageSize is the largest message the node accepts; default
	// wire.DefaultMaxLen.
	MaxMessageSize int
}

// Node is a client and/or server Diameter node for tests.
type Node struct {
	Opts Options
	M    *peers.Manager
	t    testing.TB

	mu       sync.Mutex
	waiters  map[uint32]chan wire.Msg // by End-to-End id
	received []wire.Msg
	answers  atomic.Uint64
	e2e      atomic.Uint32
	count    atomic.Uint64
}

// Start starts a node and stops it when the test ends.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	if o.Watchdog == 0 {
		o.Watchdog = 6 * time.Second
	}
	n := &Node{Opts: o, t: t, waiters: map[uint32]chan wire.Msg{}}
	n.e2e.Store(1)
	po := peers.Options{
		Local:               peers.Local{OriginHost: o.Host, OriginRealm: o.Realm, ProductName: "dratest", Relay: len(o.Apps) == 0, Apps: o.Apps},
		Peers:               o.Dial,
		AcceptUnknown:       true,
		Watchdog:            o.Watchdog,
		Reconnect:           200 * time.Millisecond,
		ReconnectMax:        time.Second,
		CapabilitiesTimeout: 3 * time.Second,
		DisconnectTimeout:   time.Second,
		MaxMessageSize:      o.MaxMessageSize,
		Handler:             n,
		Logger:              slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if o.Listen {
		po.Listeners = []peers.Listener{{Addr: "127.0.0.1:0"}}
	}
	m, err := peers.New(po)
	if err != nil {
		t.Fatal(err)
	}
	n.M = m
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		m.Shutdown(ctx)
	})
	return n
}

// Addr is the node's listening address.
func (n *Node) Addr() string { return n.M.Addrs()[0].String() }

// Kill closes the node's connections without DPR, like a crash.
func (n *Node) Kill() { n.M.Abort() }

// WaitOpen waits until the peer is usable.
func (n *Node) WaitOpen(t testing.TB, identity string) *peers.Active {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p := n.M.Peer(identity); p != nil {
			if a := p.Active(); a != nil {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: peer %s not usable", n.Opts.Host, identity)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Send sends req to the peer and returns a channel that receives the
// answer. The node assigns the identifiers; req belongs to the connection
// once sent.
func (n *Node) Send(t testing.TB, to string, req wire.Msg) <-chan wire.Msg {
	t.Helper()
	ch, _, _ := n.SendIDs(t, to, req)
	return ch
}

// SendIDs is Send that also returns the Hop-by-Hop and End-to-End ids the
// request was sent with.
func (n *Node) SendIDs(t testing.TB, to string, req wire.Msg) (ch <-chan wire.Msg, hbh, e2e uint32) {
	t.Helper()
	a := n.WaitOpen(t, to)
	e2e = n.e2e.Add(1)
	hbh = a.Conn.NextHopByHop()
	req.SetEndToEnd(e2e)
	req.SetHopByHop(hbh)
	c := make(chan wire.Msg, 1)
	n.mu.Lock()
	n.waiters[e2e] = c
	n.mu.Unlock()
	if err := a.Conn.Send(req); err != nil {
		t.Fatalf("send: %v", err)
	}
	return c, hbh, e2e
}

// Call sends req and waits for its answer.
func (n *Node) Call(t testing.TB, to string, req wire.Msg) wire.Msg {
	t.Helper()
	select {
	case a := <-n.Send(t, to, req):
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer from %s", n.Opts.Host, to)
		return nil
	}
}

// Received returns copies of the requests the node has received.
func (n *Node) Received() []wire.Msg {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]wire.Msg(nil), n.received...)
}

// Count is the number of requests the node has received.
func (n *Node) Count() uint64 { return n.count.Load() }

// HandleMessage implements peers.Handler.
func (n *Node) HandleMessage(p *peers.Peer, c *peers.Conn, m wire.Msg) {
	if !m.IsRequest() {
		n.answers.Add(1)
		n.mu.Lock()
		ch := n.waiters[m.EndToEnd()]
		delete(n.waiters, m.EndToEnd())
		n.mu.Unlock()
		if ch != nil {
			ch <- m
		}
		return
	}
	n.count.Add(1)
	cp := append(wire.Msg(nil), m...)
	n.mu.Lock()
	n.received = append(n.received, cp)
	n.mu.Unlock()
	var ans wire.Msg
	if n.Opts.Serve != nil {
		ans = n.Opts.Serve(n, m)
	} else {
		ans = n.Answer(m, wire.ResultSuccess)
	}
	wire.PutBuf(m)
	if ans != nil {
		c.Send(ans)
	}
}

// PeerDown implements peers.Handler.
func (n *Node) PeerDown(*peers.Peer, *peers.Conn) {}

// Answer builds this node's answer to req with a Result-Code: Session-Id,
// Origin-Host/Realm, Result-Code, and Proxy-Info copied.
func (n *Node) Answer(req wire.Msg, code uint32) wire.Msg {
	a := wire.NewMsg(req.Flags()&wire.FlagProxiable, req.Code(), req.AppID(), req.HopByHop(), req.EndToEnd())
	if sid, ok := req.Find(wire.AVPSessionID, 0); ok {
		a = a.AppendAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, sid.Data)
	}
	a = a.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, n.Opts.Host)
	a = a.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, n.Opts.Realm)
	a = a.AppendUint32AVP(wire.AVPResultCode, wire.AVPFlagMandatory, 0, code)
	it := req.AVPs()
	for it.Next() {
		if av := it.AVP(); av.Code == wire.AVPProxyInfo && av.VendorID == 0 {
			a = a.AppendAVP(wire.AVPProxyInfo, av.Flags, 0, av.Data)
		}
	}
	return a
}

// Request builds a proxiable request of application app and command cmd.
func Request(app, cmd uint32, session, originHost, originRealm, destRealm, destHost string) wire.Msg {
	m := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, cmd, app, 0, 0)
	m = m.AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, session)
	m = m.AppendUint32AVP(wire.AVPAuthApplicationID, wire.AVPFlagMandatory, 0, app)
	m = m.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, originHost)
	m = m.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, originRealm)
	if destRealm != "" {
		m = m.AppendStringAVP(wire.AVPDestinationRealm, wire.AVPFlagMandatory, 0, destRealm)
	}
	if destHost != "" {
		m = m.AppendStringAVP(wire.AVPDestinationHost, wire.AVPFlagMandatory, 0, destHost)
	}
	return m
}

// ResultCode returns an answer's Result-Code (0 if absent).
func ResultCode(m wire.Msg) uint32 {
	a, ok := m.Find(wire.AVPResultCode, 0)
	if !ok {
		return 0
	}
	v, _ := a.Uint32()
	return v
}

// String returns an AVP's data as text ("" if absent).
func String(m wire.Msg, code uint32) string {
	a, ok := m.Find(code, 0)
	if !ok {
		return ""
	}
	return string(a.Data)
}

// All returns the data of every top-level AVP with code.
func All(m wire.Msg, code uint32) []string {
	var out []string
	it := m.AVPs()
	for it.Next() {
		if a := it.AVP(); a.Code == code && a.VendorID == 0 {
			out = append(out, string(a.Data))
		}
	}
	return out
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
