package peers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/wire"
)

// Handler receives what the peer layer does not handle itself.
type Handler interface {
	// HandleMessage receives every message other than CER/CEA, DWR/DWA
	// and DPR/DPA from an open peer, on the connection's reader goroutine:
	// it must not block. It owns m.
	HandleMessage(p *Peer, c *Conn, m wire.Msg)
	// PeerDown tells that connection c of peer p stopped carrying traffic
	// (closed, watchdog SUSPECT, DPR): requests pending on it must be
	// failed over or answered.
	PeerDown(p *Peer, c *Conn)
}

// Listener is one listening address.
type Listener struct {
	Addr string
	// TLS makes the listener Diameter over TLS when non-nil.
	TLS *tls.Config
	// VerifyIdentity requires client certificates to name the peer's
	// Origin-Host.
	VerifyIdentity bool
}

// Options configure a Manager.
type Options struct {
	Local     Local
	Listeners []Listener
	Peers     []PeerConfig
	// AcceptUnknown admits peers that are not in Peers.
	AcceptUnknown bool

	Watchdog            time.Duration // Tw
	Reconnect           time.Duration // Tc
	ReconnectMax        time.Duration
	CapabilitiesTimeout time.Duration
	DisconnectTimeout   time.Duration

	MaxMessageSize int
	MaxConnections int
	WriteQueue     int
	// MaxAVPs bounds the AVPs of one message (nested ones included) and
	// MaxAVPDepth the nesting of Grouped AVPs; see AVPLimits.
	MaxAVPs     int
	MaxAVPDepth int

	// Admit screens inbound connections and CERs (peers/admit.go); nil
	// admits every peer the rules above allow.
	Admit Admission

	Handler Handler
	Logger  *slog.Logger

	// release is when memory is returned after peers leave
	// (memrelease.go); nil: the defaults.
	release *releasePolicy
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Watchdog, 30*time.Second)
	def(&o.Reconnect, 30*time.Second)
	def(&o.ReconnectMax, 5*time.Minute)
	def(&o.CapabilitiesTimeout, 10*time.Second)
	def(&o.DisconnectTimeout, 5*time.Second)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = wire.DefaultMaxLen
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 20000
	}
	if o.WriteQueue <= 0 {
		o.WriteQueue = 4096
	}
	if o.MaxAVPs <= 0 {
		o.MaxAVPs = DefaultMaxAVPs
	}
	if o.MaxAVPDepth <= 0 {
		o.MaxAVPDepth = DefaultMaxAVPDepth
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Local.OriginStateID == 0 {
		o.Local.OriginStateID = uint32(time.Now().Unix())
	}
	if o.Local.ProductName == "" {
		o.Local.ProductName = "dra"
	}
}

// Manager owns the listeners, the peers and their connections.
type Manager struct {
	opts Options
	log  *slog.Logger
	// limitLog and cerLog keep floods of refused, silent or garbled
	// connections (over the limit; no CER in time, not a CER first, a
	// failed TLS handshake: these three share cerLog) to one warning per
	// interval.
	limitLog, cerLog logLimiter
	build            builder
	handler          Handler
	table            *Table
	ctx              context.Context
	cancel           context.CancelFunc

	mu        sync.Mutex
	peers     map[string]*Peer // guarded by mu
	index     *index           // the same peers, for the forwarding path
	listeners []net.Listener
	stopping  bool
	started   bool
	retiring  map[*Peer]struct{} // removed peers whose connection is ending
	awaitCER  map[*Conn]struct{} // accepted connections whose CER has not come

	live   atomic.Pointer[tunables] // options Reconfigure may change
	reconf sync.Mutex               // one Reconfigure at a time
	drains sync.WaitGroup           // connections draining before DPR

	conns sync.WaitGroup // connection reader goroutines
	dials sync.WaitGroup // connection attempts
	// nconns counts connections, an accepted one from its accept (its
	// TLS handshake holds a place under limits.max_connections too).
	nconns   atomic.Int64
	e2e      atomic.Uint32
	unopened unopened
	// frameErrors counts connections closed on an unreadable frame header.
	frameErrors atomic.Uint64
	ov          overload   // conn_overload.go
	mem         memRelease // memrelease.go
}

// New validates opts and builds a Manager; Start brings it up.
func New(opts Options) (*Manager, error) {
	opts.setDefaults()
	if opts.Local.OriginHost == "" || opts.Local.OriginRealm == "" {
		return nil, errors.New("peers: local Origin-Host and Origin-Realm are required")
	}
	if opts.Handler == nil {
		return nil, errors.New("peers: a Handler is required")
	}
	m := &Manager{
		opts:     opts,
		log:      opts.Logger,
		handler:  opts.Handler,
		table:    newTable(),
		peers:    map[string]*Peer{},
		index:    newIndex(),
		retiring: map[*Peer]struct{}{},
		awaitCER: map[*Conn]struct{}{},
		limitLog: logLimiter{every: 10 * time.Second},
		cerLog:   logLimiter{every: 10 * time.Second},
	}
	m.ov.init()
	m.mem.policy = opts.release
	if m.mem.policy == nil {
		m.mem.policy = defaultRelease()
	}
	m.live.Store(newTunables(&m.opts))
	m.build = builder{l: &m.opts.Local}
	// RFC 6733 §3: the high 12 bits of End-to-End ids come from the clock.
	m.e2e.Store(uint32(time.Now().Unix())<<20 | rand.Uint32()&0xfffff)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for _, pc := range opts.Peers {
		key := foldKey(pc.Identity)
		if _, dup := m.peers[key]; dup {
			return nil, fmt.Errorf("peers: peer %q configured twice", pc.Identity)
		}
		if pc.Connect && pc.Addr == "" {
			return nil, fmt.Errorf("peers: peer %q: connect needs an address", pc.Identity)
		}
		p := newPeer(m, pc, true)
		m.peers[key] = p
		m.index.put(key, p)
		m.table.put(p.infoLocked())
	}
	return m, nil
}

// Table returns the live peer table.
func (m *Manager) Table() *Table { return m.table }

// Local returns the agent's identity.
func (m *Manager) Local() *Local { return &m.opts.Local }

// Peer returns a known peer by identity (case-insensitive), or nil.
func (m *Manager) Peer(identity string) *Peer {
	return m.index.getString(foldKey(identity))
}

// PeerByIdentity is Peer for an identity taken from a message; it does not
// allocate.
func (m *Manager) PeerByIdentity(id []byte) *Peer {
	var buf [255]byte
	if len(id) > len(buf) {
		return nil
	}
	k := buf[:len(id)]
	for i, c := range id {
		k[i] = lower(c)
	}
	return m.index.get(k)
}

// Peers returns every known peer. Peers removed by a reconfiguration and
// still draining are included until their connection ends (Retiring lists
// them apart).
func (m *Manager) Peers() []*Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.everyPeerLocked()
}

// Retiring describes the peers removed from the configuration whose
// connection is still draining before their DPR, or ending.
func (m *Manager) Retiring() []*PeerInfo {
	m.mu.Lock()
	ps := make([]*Peer, 0, len(m.retiring))
	for p := range m.retiring {
		ps = append(ps, p)
	}
	m.mu.Unlock()
	out := make([]*PeerInfo, 0, len(ps))
	for _, p := range ps {
		p.mu.Lock()
		in := p.infoLocked()
		p.mu.Unlock()
		in.Removed = true
		out = append(out, in)
	}
	return out
}

// Addrs returns the addresses the listeners are bound to.
func (m *Manager) Addrs() []net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]net.Addr, len(m.listeners))
	for i, l := range m.listeners {
		out[i] = l.Addr()
	}
	return out
}

// Start opens every listener (failing if one cannot bind) and begins
// dialing the peers configured with Connect.
func (m *Manager) Start() error {
	// Bind everything first, so that the Host-IP-Address list is final
	// before any CER/CEA is built.
	for _, lc := range m.opts.Listeners {
		l, err := net.Listen("tcp", lc.Addr)
		if err != nil {
			m.closeListeners()
			return fmt.Errorf("peers: listen %s: %w", lc.Addr, err)
		}
		if lc.TLS != nil {
			l = tls.NewListener(l, lc.TLS)
		}
		m.mu.Lock()
		m.listeners = append(m.listeners, l)
		m.mu.Unlock()
	}
	m.mu.Lock()
	m.started = true
	if len(m.opts.Local.HostIPs) == 0 {
		m.opts.Local.HostIPs = hostIPs(m.listeners)
	}
	for i, l := range m.listeners {
		m.log.Info("listening", "addr", l.Addr().String(), "tls", m.opts.Listeners[i].TLS != nil)
		go m.accept(l, m.opts.Listeners[i])
	}
	peers := make([]*Peer, 0, len(m.peers))
	for _, p := range m.peers {
		peers = append(peers, p)
	}
	m.mu.Unlock()
	for _, p := range peers {
		p.start()
	}
	return nil
}

func (m *Manager) closeListeners() {
	m.mu.Lock()
	ls := m.listeners
	m.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

// Shutdown stops accepting and drains every open connection: out of
// routing, the peer's new requests answered 3002, the answers in flight in
// both directions waited for; then DPR (cause REBOOTING) and its DPA, all
// within timers.disconnect. It returns once every connection has ended, or
// ctx ends; then it closes whatever is left.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.stopping = true
	peers := m.everyPeerLocked()
	silent := make([]*Conn, 0, len(m.awaitCER))
	for c := range m.awaitCER {
		silent = append(silent, c)
	}
	m.mu.Unlock()
	m.closeListeners()
	// Connections still waiting for their CER would hold the shutdown up
	// to timers.capabilities: nothing is pending on them.
	for _, c := range silent {
		c.Close(errShutdown)
	}
	bound, dpaWait := disconnectShares(m.tun().disconnectTimeout)
	for _, p := range peers {
		// Always a drain of our own, even when a reload's is under way:
		// this one has the shutdown's bound.
		if c, _ := p.beginDrain(true, "agent shutting down"); c != nil {
			m.drainThenDPR(p, c, CauseRebooting, bound, dpaWait)
		}
	}
	done := make(chan struct{})
	go func() { m.conns.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("peers: shutdown: %w", ctx.Err())
	}
	m.cancel()
	m.mu.Lock()
	peers = m.everyPeerLocked()
	m.mu.Unlock()
	for _, p := range peers {
		p.mu.Lock()
		for _, c := range []*Conn{p.conn, p.iconn, p.rconn} {
			if c != nil {
				c.Close(errShutdown)
			}
		}
		p.mu.Unlock()
	}
	// Every connection is closed now: its goroutines end promptly.
	m.conns.Wait()
	m.dials.Wait()
	m.drains.Wait()
	return err
}

// everyPeerLocked returns the known peers and the removed ones whose
// connection is still ending.
func (m *Manager) everyPeerLocked() []*Peer {
	out := make([]*Peer, 0, len(m.peers)+len(m.retiring))
	for _, p := range m.peers {
		out = append(out, p)
	}
	for p := range m.retiring {
		out = append(out, p)
	}
	return out
}

// ErrUnknownPeer is returned for an identity the manager does not know.
var ErrUnknownPeer = errors.New("peers: unknown peer")

// Disconnect sends DPR (cause REBOOTING) to an open peer: an operator
// action. As on shutdown, the connection leaves routing at once and is
// drained first (bounded by timers.disconnect, DPA included). The peer may
// reconnect, and a configured peer is redialled after Tc as usual.
func (m *Manager) Disconnect(identity string) error {
	p := m.Peer(identity)
	if p == nil {
		return fmt.Errorf("%w: %s", ErrUnknownPeer, identity)
	}
	c, fresh := p.beginDrain(false, "peer being disconnected")
	if c == nil {
		return fmt.Errorf("%w: %s", ErrNotOpen, identity)
	}
	if fresh {
		bound, dpaWait := disconnectShares(m.tun().disconnectTimeout)
		m.drainThenDPR(p, c, CauseRebooting, bound, dpaWait)
	}
	return nil
}

// Abort closes every listener and connection at once, without DPR: what
// the peers see when the agent crashes. Tests use it to kill a node.
func (m *Manager) Abort() {
	m.mu.Lock()
	m.stopping = true
	peers := m.everyPeerLocked()
	m.mu.Unlock()
	m.closeListeners()
	m.cancel()
	for _, p := range peers {
		p.mu.Lock()
		p.stopped = true
		if p.dial != nil {
			p.dial.Stop()
			p.dial = nil
		}
		conns := []*Conn{p.conn, p.iconn, p.rconn}
		p.mu.Unlock()
		for _, c := range conns {
			if c != nil {
				c.Close(errShutdown)
			}
		}
	}
	m.conns.Wait()
	m.dials.Wait()
	m.drains.Wait()
}

func (m *Manager) accept(l net.Listener, lc Listener) {
	for {
		nc, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.mu.Lock()
			stopping := m.stopping
			m.mu.Unlock()
			if !stopping && !errors.Is(err, net.ErrClosed) {
				m.log.Error("accept failed", "addr", l.Addr().String(), "err", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return
		}
		// Counted from the accept: a flood of TLS handshakes must not
		// get past the limit.
		if limit := m.tun().maxConnections; m.nconns.Load() >= int64(limit) {
			m.unopened[unopenedLimit].Add(1)
			m.limitLog.warn(m.log, "connection refused: limit reached", "remote", nc.RemoteAddr().String(), "limit", limit)
			nc.Close()
			continue
		}
		if !m.admitConn(nc) {
			continue
		}
		m.nconns.Add(1) // newConn does not count it again
		m.connAdded()
		go m.runResponder(nc, lc)
	}
}

// newConn registers a connection; it returns nil (and closes nc) once the
// manager is shutting down. An accepted connection (not initiator) was
// counted in nconns at its accept.
func (m *Manager) newConn(nc net.Conn, initiator bool) *Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping && !initiator {
		nc.Close()
		m.nconns.Add(-1)
		return nil
	}
	if initiator {
		m.nconns.Add(1)
		m.connAdded()
	}
	m.conns.Add(1)
	t := m.tun()
	c := newConn(nc, initiator, t.maxMessageSize, t.writeQueue, m.log, &m.ov)
	if !initiator {
		m.awaitCER[c] = struct{}{} // until runResponder has read the CER
	}
	return c
}

func (m *Manager) connDone(c *Conn, err error) {
	c.Close(err)
	m.nconns.Add(-1)
	m.connRemoved()
	m.conns.Done()
}

func (m *Manager) nextEndToEnd() uint32 { return m.e2e.Add(1) }

func (m *Manager) dial(ctx context.Context, pc PeerConfig) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", pc.Addr)
	if err != nil || pc.TLS == nil {
		return nc, err
	}
	tc := tls.Client(nc, pc.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// runInitiator is the reader of a connection we opened: first the CEA,
// then the open connection's traffic.
func (m *Manager) runInitiator(p *Peer, c *Conn) {
	c.nc.SetReadDeadline(time.Now().Add(m.tun().capabilitiesTimeout))
	msg, err := c.rd.Next()
	if err != nil {
		if isTimeout(err) {
			err = errCERTimeout
		}
		c.Close(err)
		p.closed(c, err)
		m.connDone(c, err)
		return
	}
	if msg.IsRequest() || msg.AppID() != 0 || msg.Code() != wire.CmdCapabilitiesExchange {
		wire.PutBuf(msg)
		c.Close(errNotCEA)
		p.closed(c, errNotCEA)
		m.connDone(c, errNotCEA)
		return
	}
	caps, perr := parseCapabilities(msg, true)
	wire.PutBuf(msg)
	if !p.initiatorCEA(c, &caps, perr) {
		p.closed(c, errCEARejected)
		m.connDone(c, errCEARejected)
		return
	}
	c.nc.SetReadDeadline(time.Time{})
	go m.readLoop(p, c) // on a fresh stack: see readLoop
}

// runResponder serves a connection a peer opened: TLS handshake, CER,
// admission, then the open connection's traffic.
func (m *Manager) runResponder(nc net.Conn, lc Listener) {
	deadline := time.Now().Add(m.tun().capabilitiesTimeout)
	nc.SetDeadline(deadline) // bounds the TLS handshake too
	if tc, ok := nc.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			m.nconns.Add(-1)
			m.unopened[unopenedTLS].Add(1)
			m.cerLog.warn(m.log, "tls handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
			nc.Close()
			return
		}
	}
	nc.SetWriteDeadline(time.Time{})
	c := m.newConn(nc, false)
	if c == nil {
		return
	}
	msg, err := c.rd.Next()
	m.mu.Lock()
	delete(m.awaitCER, c)
	m.mu.Unlock()
	if err != nil {
		if isTimeout(err) {
			err = errCERTimeout
		}
		if ce := c.Err(); ce != nil {
			err = ce // closed by Shutdown
		}
		switch {
		case errors.Is(err, errShutdown):
		case m.answerFrameError(c, err):
			m.unopened[unopenedFrame].Add(1)
		default:
			if errors.Is(err, errCERTimeout) {
				m.unopened[unopenedSilent].Add(1)
			} else {
				m.unopened[unopenedClosed].Add(1)
			}
			m.cerLog.warn(c.logger(), "connection closed before capabilities exchange", "err", err)
		}
		m.connDone(c, err)
		return
	}
	if !msg.IsRequest() || msg.AppID() != 0 || msg.Code() != wire.CmdCapabilitiesExchange {
		m.unopened[unopenedNotCER].Add(1)
		m.cerLog.warn(c.logger(), "connection closed: first message is not a CER", "code", msg.Code(), "app", msg.AppID())
		wire.PutBuf(msg)
		m.connDone(c, errNotCER)
		return
	}
	p, caps, apps, ok := m.admit(c, msg, lc)
	if !ok {
		// admit queued the failure CEA; let it drain, bounded by the deadline.
		select {
		case <-c.Done():
		case <-time.After(time.Until(deadline)):
		}
		m.connDone(c, errRefused)
		return
	}
	nc.SetReadDeadline(time.Time{})
	for p.responderCER(c, msg, caps, apps) {
		if p = m.dynamicPeer(caps.OriginHost); p == nil {
			c.Send(m.build.cea(msg, c.LocalAddr(), wire.ResultUnableToComply, "agent shutting down", nil))
			wire.PutBuf(msg)
			c.CloseAfterFlush()
			<-c.Done()
			m.connDone(c, errShutdown)
			return
		}
	}
	go m.readLoop(p, c) // on a fresh stack: see readLoop
}

// admit checks a CER: well-formed, from an admitted peer, with a common
// application and security. On refusal it queues the failure CEA and
// closes after it is written.
func (m *Manager) admit(c *Conn, cer wire.Msg, lc Listener) (*Peer, *Capabilities, AppSet, bool) {
	refuse := func(code uint32, msg string, failed []byte, attrs ...any) (*Peer, *Capabilities, AppSet, bool) {
		m.unopened[unopenedRefused].Add(1)
		c.logger().Warn("peer refused", append([]any{"result_code", resultName(code), "reason", msg}, attrs...)...)
		c.Send(m.build.cea(cer, c.LocalAddr(), code, msg, failed))
		wire.PutBuf(cer)
		c.CloseAfterFlush()
		return nil, nil, AppSet{}, false
	}
	caps, perr := parseCapabilities(cer, false)
	if perr != nil {
		return refuse(perr.code, perr.msg, perr.failedAVP, "origin_host", caps.OriginHost)
	}
	key := foldKey(caps.OriginHost)
	if key == foldKey(m.opts.Local.OriginHost) {
		return refuse(wire.ResultUnknownPeer, "Origin-Host is this agent's own identity", nil)
	}
	if code, why := m.admitPeer(c, &caps); code != 0 {
		return refuse(code, why, nil, "origin_host", caps.OriginHost, "origin_realm", caps.OriginRealm)
	}
	m.mu.Lock()
	p := m.peers[key]
	stopping := m.stopping
	m.mu.Unlock()
	if stopping {
		return refuse(wire.ResultUnableToComply, "agent shutting down", nil)
	}
	if p == nil && !m.tun().acceptUnknown {
		return refuse(wire.ResultUnknownPeer, "peer "+caps.OriginHost+" is not configured", nil)
	}
	var pc PeerConfig
	if p != nil {
		pc = p.config()
	}
	if pc.Realm != "" && foldKey(pc.Realm) != foldKey(caps.OriginRealm) {
		return refuse(wire.ResultUnknownPeer, "Origin-Realm "+caps.OriginRealm+" is not the configured realm", nil, "origin_host", caps.OriginHost)
	}
	if lc.VerifyIdentity || pc.VerifyIdentity {
		if err := verifyIdentity(c, caps.OriginHost); err != nil {
			return refuse(wire.ResultUnknownPeer, err.Error(), nil, "origin_host", caps.OriginHost)
		}
	}
	if len(caps.InbandSecurity) > 0 && !containsU32(caps.InbandSecurity, inbandNone) {
		// In-band TLS upgrade (RFC 3588) is not offered: TLS is negotiated
		// at connection time on a TLS listener.
		return refuse(wire.ResultNoCommonSecurity, "only NO_INBAND_SECURITY is supported; use a TLS listener", nil, "origin_host", caps.OriginHost)
	}
	apps := negotiate(m.opts.Local.Relay, m.opts.Local.Apps, &caps)
	if apps.Empty() {
		rids, _ := caps.remoteApps()
		return refuse(wire.ResultNoCommonApplication, "no common application", nil, "origin_host", caps.OriginHost, "peer_apps", rids)
	}
	if p == nil {
		if p = m.dynamicPeer(caps.OriginHost); p == nil {
			return refuse(wire.ResultUnableToComply, "agent shutting down", nil)
		}
	}
	c.peerID = caps.OriginHost
	return p, &caps, apps, true
}

// dynamicPeer returns the peer for an unconfigured identity, creating it;
// nil once the manager is shutting down.
func (m *Manager) dynamicPeer(identity string) *Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return nil
	}
	key := foldKey(identity)
	if p := m.peers[key]; p != nil {
		return p
	}
	p := newPeer(m, PeerConfig{Identity: identity}, false)
	m.peers[key] = p
	m.index.put(key, p)
	return p
}

// forget drops an unconfigured peer once it has no connection.
func (m *Manager) forget(p *Peer) {
	m.mu.Lock()
	if m.peers[p.key] == p {
		p.mu.Lock()
		idle := p.state == StateClosed && p.conn == nil && p.iconn == nil && p.rconn == nil
		if idle {
			p.forgotten = true
		}
		p.mu.Unlock()
		if idle {
			delete(m.peers, p.key)
			m.index.remove(p.key, p)
			m.table.remove(p.key)
		}
	}
	m.mu.Unlock()
}

// readLoop reads an open connection until it ends. It runs on a goroutine
// of its own, started once the capabilities exchange is done: the stack
// that the exchange grew (CER parsing, admission, logging) is left behind,
// and an idle peer's reader parks on a small one.
func (m *Manager) readLoop(p *Peer, c *Conn) {
	for {
		msg, err := c.rd.Next()
		if err != nil {
			c.flushWakes()
			if ce := c.Err(); ce != nil {
				err = ce // closed on our side: say why, not what the read saw
			} else if !m.answerFrameError(c, err) && !errors.Is(err, io.EOF) {
				c.logger().Warn("connection read failed", "err", err)
			}
			c.Close(err)
			p.closed(c, err)
			m.connDone(c, err)
			return
		}
		c.rxCount.Add(1)
		p.receive(c, msg)
		if len(c.wakes) > 0 && !c.rd.Ready() {
			c.flushWakes()
		}
		c.PauseReading() // backpressure: see conn_overload.go
	}
}

// answerFrameError answers a request whose header the framer rejected
// (5011 for the version, 5015 for the length) before the connection closes:
// the stream cannot be resynchronised after a bad header. It logs the one
// line the event gets, counts it, and reports whether err was such a
// header error.
func (m *Manager) answerFrameError(c *Conn, err error) bool {
	var code uint32
	switch {
	case errors.Is(err, wire.ErrVersion):
		code = wire.ResultUnsupportedVersion
	case errors.Is(err, wire.ErrLength), errors.Is(err, wire.ErrTooLarge):
		code = wire.ResultInvalidMessageLength
	default:
		return false
	}
	m.frameErrors.Add(1)
	hdr := c.rd.LastHeader()
	c.logger().Warn("unreadable frame, closing connection", "err", err)
	if hdr == nil || hdr[4]&wire.FlagRequest == 0 {
		return true
	}
	ans := wire.ErrorAnswerFromHeader(hdr, wire.ErrorSpec{
		OriginHost: m.opts.Local.OriginHost, OriginRealm: m.opts.Local.OriginRealm,
		ResultCode: code, Message: err.Error(),
	})
	if c.Send(wire.Msg(ans)) == nil {
		c.CloseAfterFlush()
		select {
		case <-c.Done():
		case <-time.After(time.Second):
		}
	}
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func containsU32(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
