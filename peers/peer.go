package peers

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/wire"
)

// PeerConfig is one configured peer.
type PeerConfig struct {
	// Identity is the peer's Diameter identity (its Origin-Host).
	Identity string
	// Realm, when set, must equal the Origin-Realm the peer announces.
	Realm string
	// Addr is the host:port to dial when Connect is set.
	Addr    string
	Connect bool
	// TLS dials with TLS when non-nil.
	TLS *tls.Config
	// VerifyIdentity requires the peer's certificate to name its Origin-Host.
	VerifyIdentity bool
	// Watchdog is Tw for this peer; zero means the manager's.
	Watchdog time.Duration
}

// Active is an open, usable connection to a peer with what was negotiated
// on it. Routing reads it without locks; it is replaced, never modified.
type Active struct {
	Peer *Peer
	Conn *Conn
	Caps *Capabilities
	Apps AppSet
}

// Peer is one Diameter peer, known from configuration or admitted on its
// first CER, and its state machine. Every transition holds mu; callbacks into
// the Handler run after mu is released.
type Peer struct {
	m    *Manager
	cfg  PeerConfig
	conf bool // from configuration (kept when closed)
	key  string
	tw   time.Duration

	active atomic.Pointer[Active] // open and watchdog OKAY
	lastRx atomic.Int64           // unix nanos of the last message received
	wdOkay atomic.Bool            // fast path: watchdog OKAY, nothing pending

	mu        sync.Mutex
	state     State
	conn      *Conn // the open (or closing) connection
	role      string
	caps      *Capabilities
	apps      AppSet
	iconn     *Conn // our connection while its CER/CEA runs
	rconn     *Conn // a peer's connection held during election
	rcer      wire.Msg
	rcaps     *Capabilities
	rapps     AppSet
	wd        watchdog
	wdTimer   *time.Timer
	wdConn    *Conn         // the connection wdTimer watches
	wdIvl     time.Duration // the jittered interval wdTimer was armed with
	forgotten bool          // an unconfigured peer dropped from the manager
	dial      *time.Timer
	backoff   time.Duration
	noRedial  bool // the peer said DO_NOT_WANT_TO_TALK_TO_YOU
	stopped   bool
	retired   bool   // removed from the configuration: never routed to again
	drainConn *Conn  // an open connection being drained before its DPR
	drainWhy  string // why, for the answers to requests it brings meanwhile
	refused   int    // requests answered 3002 by the drain (logged with the DPR)
	redialNow bool   // dial as soon as the connection closes (new settings)
	cfgGen    uint64 // bumped when Reconfigure changes cfg
	dprSent   bool
	lost      *Conn // the connection connLostLocked already handled
	// stateID is the Origin-State-Id of the peer's last capabilities
	// exchange (hasStateID: it sent one): a new value means it restarted.
	stateID    uint32
	hasStateID bool
	since      time.Time
	lastErr    string
}

func newPeer(m *Manager, cfg PeerConfig, configured bool) *Peer {
	p := &Peer{m: m, cfg: cfg, conf: configured, key: foldKey(cfg.Identity), tw: cfg.Watchdog, since: time.Now()}
	if p.tw == 0 {
		p.tw = m.tun().watchdog
	}
	return p
}

// logger returns the logger for lines about the peer, built when a line
// is written rather than kept per peer.
func (p *Peer) logger() *slog.Logger { return p.m.log.With("peer", p.cfg.Identity) }

// Identity is the peer's Diameter identity.
func (p *Peer) Identity() string { return p.cfg.Identity }

// Realm is the peer's realm: as configured, or as announced.
func (p *Peer) Realm() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Realm != "" {
		return p.cfg.Realm
	}
	if p.caps != nil {
		return p.caps.OriginRealm
	}
	return ""
}

// config returns the peer's settings (Reconfigure may change them).
func (p *Peer) config() PeerConfig {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// Active returns the usable connection (open, watchdog OKAY), or nil.
func (p *Peer) Active() *Active { return p.active.Load() }

// State returns the peer state and watchdog state.
func (p *Peer) State() (State, WatchdogState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.wd.state
}

// deferred collects work that must run after p.mu is released.
type deferred []func()

func (d *deferred) add(f func()) { *d = append(*d, f) }
func (d deferred) run() {
	for _, f := range d {
		f()
	}
}

// setState records a transition, logs it once and refreshes the table.
func (p *Peer) setState(s State, reason string, d *deferred) {
	if p.state == s {
		return
	}
	from := p.state
	p.state = s
	p.since = time.Now()
	// Transitions are debug lines: with thousands of peers, info keeps
	// one line per peer opened ("peer open") and one per open peer lost
	// ("peer closed").
	if p.m.log.Enabled(context.Background(), slog.LevelDebug) {
		p.logger().Debug("peer state", "from", from.String(), "to", s.String(), "reason", reason)
	}
	p.publish(d)
}

// publish refreshes the Active pointer and the peer table row.
func (p *Peer) publish(d *deferred) {
	if p.state.Open() && p.wd.usable() && p.conn != nil && !p.retired && p.conn != p.drainConn {
		a := &Active{Peer: p, Conn: p.conn, Caps: p.caps, Apps: p.apps}
		p.active.Store(a)
		p.wdOkay.Store(!p.wd.pending)
	} else {
		p.active.Store(nil)
		p.wdOkay.Store(false)
	}
	// Written under p.mu so that rows land in transition order.
	if !p.retired {
		p.m.table.put(p.infoLocked())
	}
}

// start begins dialing a configured peer.
func (p *Peer) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Connect && p.state == StateClosed {
		p.dialLocked()
	}
}

// dialLocked starts a connection attempt: Closed -> Wait-Conn-Ack.
func (p *Peer) dialLocked() {
	if p.stopped || p.noRedial {
		return
	}
	var d deferred
	p.setState(StateWaitConnAck, "dialing "+p.cfg.Addr, &d)
	go d.run()
	p.m.dials.Add(1)
	cfg, gen := p.cfg, p.cfgGen
	go func() {
		defer p.m.dials.Done()
		ctx, cancel := context.WithTimeout(p.m.ctx, p.m.tun().capabilitiesTimeout)
		defer cancel()
		nc, err := p.m.dial(ctx, cfg)
		p.dialed(nc, err, gen)
	}()
}

// firstRedial is the delay of the first redial after a failed attempt or
// a lost connection; the delay doubles from there, past Tc, up to
// timers.reconnect_max. A server that was down when the agent started, or
// that restarted, is back in routing within seconds, not after a whole Tc.
const firstRedial = time.Second

// scheduleDialLocked arms the Tc timer with exponential backoff and jitter.
func (p *Peer) scheduleDialLocked() {
	if !p.cfg.Connect || p.stopped || p.noRedial || p.dial != nil {
		return
	}
	t := p.m.tun()
	if p.backoff == 0 {
		p.backoff = min(firstRedial, t.reconnect)
	}
	delay := p.backoff + time.Duration(rand.Int64N(int64(p.backoff)/10+1))
	p.backoff = min(p.backoff*2, t.reconnectMax)
	p.dial = time.AfterFunc(delay, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.dial = nil
		if p.state == StateClosed {
			p.dialLocked()
		}
	})
}

// redialLocked arms Tc after a connection ended, or dials at once when the
// connection was closed to apply new settings.
func (p *Peer) redialLocked() {
	if p.redialNow {
		p.redialNow = false
		if p.cfg.Connect && p.dial == nil {
			p.dialLocked()
			return
		}
	}
	p.scheduleDialLocked()
}

// dialed handles I-Rcv-Conn-Ack / I-Rcv-Conn-Nack for a dial started
// with the settings of generation gen.
func (p *Peer) dialed(nc net.Conn, err error, gen uint64) {
	var d deferred
	defer func() { d.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.cfgGen && !p.stopped && p.state == StateWaitConnAck {
		// The settings changed while dialing: dial again with the new ones.
		if nc != nil {
			nc.Close()
		}
		p.setState(StateClosed, "settings changed while dialing", &d)
		if p.cfg.Connect {
			p.dialLocked()
		}
		return
	}
	if err != nil {
		p.lastErr = err.Error()
		switch p.state {
		case StateWaitConnAck:
			p.setState(StateClosed, "connect failed: "+err.Error(), &d)
			p.scheduleDialLocked()
		case StateWaitConnAckElect:
			p.acceptResponderLocked(&d, "connect failed, peer's connection accepted")
		}
		return
	}
	if p.stopped || (p.state != StateWaitConnAck && p.state != StateWaitConnAckElect) {
		nc.Close()
		if p.stopped && p.state == StateWaitConnAck {
			p.setState(StateClosed, "agent shutting down", &d)
		}
		return
	}
	c := p.m.newConn(nc, true)
	p.iconn = c
	c.Send(p.m.build.cer(c.LocalAddr(), c.NextHopByHop(), p.m.nextEndToEnd()))
	go p.m.runInitiator(p, c)
	if p.state == StateWaitConnAck {
		p.setState(StateWaitICEA, "CER sent", &d)
		return
	}
	p.setState(StateWaitReturns, "CER sent, election", &d)
	p.electLocked(&d)
}

// electLocked runs the election while both connections exist (RFC 6733
// §5.6.4). The winner keeps the connection the peer opened.
func (p *Peer) electLocked(d *deferred) {
	if !electionWon(p.m.opts.Local.OriginHost, p.rcaps.OriginHost) {
		return // wait for the CEA on our connection (Wait-Returns)
	}
	ic := p.iconn
	p.iconn = nil
	d.add(func() { ic.Close(errElectionWon) })
	p.acceptResponderLocked(d, "election won")
}

// acceptResponderLocked answers the held CER with success: R-Open.
func (p *Peer) acceptResponderLocked(d *deferred, reason string) {
	rc := p.rconn
	p.rconn = nil
	cea := p.m.build.cea(p.rcer, rc.LocalAddr(), wire.ResultSuccess, "", nil)
	wire.PutBuf(p.rcer)
	p.rcer = nil
	if err := rc.Send(cea); err != nil {
		p.setState(StateClosed, "connection lost before CEA", d)
		p.scheduleDialLocked()
		return
	}
	p.openLocked(rc, p.rcaps, p.rapps, StateROpen, "responder", reason, d)
}

// openLocked makes c the peer's connection.
func (p *Peer) openLocked(c *Conn, caps *Capabilities, apps AppSet, s State, role, reason string, d *deferred) {
	p.conn, p.caps, p.apps, p.role = c, caps, apps, role
	p.rcaps = nil
	p.backoff = 0
	p.lastErr = "" // the failures before this connection are over
	p.dprSent = false
	p.lastRx.Store(time.Now().UnixNano())
	if caps.HasOriginStateID {
		if p.hasStateID && caps.OriginStateID != p.stateID {
			// A restarted peer is a new instance, not a failed connection
			// coming back: its fresh CER/CEA is proof of life, so no REOPEN
			// probation (RFC 3539 §3.4.1 guards against a flapping
			// transport, which a reboot is not).
			p.wd = watchdog{}
		}
		p.stateID, p.hasStateID = caps.OriginStateID, true
	}
	a := p.wd.connUp()
	if a.sendDWR {
		p.sendDWRLocked()
	}
	p.armWatchdogLocked(c)
	if p.state == s {
		p.since = time.Now() // a restarted peer's new connection, same state
		p.publish(d)
	}
	p.setState(s, reason, d)
	p.logger().Info("peer open", "role", role, "remote", c.RemoteAddr().String(), "apps", apps.IDs(),
		"product", caps.ProductName, "watchdog", p.wd.state.String())
}

// responderCER handles R-Conn-CER: a peer connected to us and sent an
// acceptable CER. It answers or holds the CER according to the state.
func (p *Peer) responderCER(c *Conn, cer wire.Msg, caps *Capabilities, apps AppSet) (stale bool) {
	var d deferred
	defer func() { d.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.forgotten {
		return true // the manager dropped this peer meanwhile: look it up again
	}
	reject := func(code uint32, msg string) {
		c.Send(p.m.build.cea(cer, c.LocalAddr(), code, msg, nil))
		wire.PutBuf(cer)
		c.CloseAfterFlush()
		p.logger().Warn("second connection refused", "remote", c.RemoteAddr().String(), "state", p.state.String(), "reason", msg)
	}
	if p.stopped {
		reject(wire.ResultUnableToComply, "agent shutting down")
		return false
	}
	switch p.state {
	case StateClosed:
		p.rconn, p.rcer, p.rcaps, p.rapps = c, cer, caps, apps
		p.acceptResponderLocked(&d, "CER accepted")
	case StateWaitConnAck:
		p.rconn, p.rcer, p.rcaps, p.rapps = c, cer, caps, apps
		p.setState(StateWaitConnAckElect, "peer connected while dialing", &d)
	case StateWaitICEA:
		p.rconn, p.rcer, p.rcaps, p.rapps = c, cer, caps, apps
		p.setState(StateWaitReturns, "peer connected while waiting for CEA, election", &d)
		p.electLocked(&d)
	case StateROpen, StateIOpen:
		// A new Origin-State-Id means the peer restarted and its old
		// connection is dead even if we have not noticed yet.
		if caps.HasOriginStateID && p.caps.HasOriginStateID && caps.OriginStateID != p.caps.OriginStateID {
			old := p.conn
			p.logger().Warn("peer restarted (new Origin-State-Id), replacing its connection", "old_state_id", p.caps.OriginStateID, "new_state_id", caps.OriginStateID)
			p.connLostLocked(old, "replaced by a new connection", &d)
			d.add(func() { old.Close(errReplaced) })
			p.rconn, p.rcer, p.rcaps, p.rapps = c, cer, caps, apps
			p.acceptResponderLocked(&d, "peer restarted")
			return false
		}
		reject(wire.ResultElectionLost, "a connection with this peer is already open")
	default:
		reject(wire.ResultElectionLost, "a connection with this peer is already being set up")
	}
	return false
}

// initiatorCEA handles I-Rcv-CEA on our connection c.
func (p *Peer) initiatorCEA(c *Conn, caps *Capabilities, perr *capError) bool {
	var d deferred
	defer func() { d.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	if c != p.iconn {
		d.add(func() { c.Close(errStale) })
		return false
	}
	fail := func(reason string) bool {
		p.iconn = nil
		d.add(func() { c.Close(errCEARejected) })
		p.lastErr = reason
		p.logger().Warn("capabilities exchange failed", "reason", reason)
		if p.state == StateWaitReturns {
			p.acceptResponderLocked(&d, "our connection failed, peer's accepted")
			return false
		}
		p.setState(StateClosed, reason, &d)
		p.scheduleDialLocked()
		return false
	}
	switch {
	case perr != nil:
		return fail("malformed CEA: " + perr.msg)
	case caps.ResultCode != wire.ResultSuccess:
		reason := "peer answered CEA with Result-Code " + resultName(caps.ResultCode)
		if caps.ErrorMessage != "" {
			reason += ": " + caps.ErrorMessage
		}
		return fail(reason)
	case foldKey(caps.OriginHost) != p.key:
		return fail("CEA Origin-Host " + caps.OriginHost + " is not the configured identity")
	case p.cfg.Realm != "" && foldKey(caps.OriginRealm) != foldKey(p.cfg.Realm):
		return fail("CEA Origin-Realm " + caps.OriginRealm + " is not the configured realm " + p.cfg.Realm)
	}
	if p.cfg.VerifyIdentity {
		if err := verifyIdentity(c, caps.OriginHost); err != nil {
			return fail(err.Error())
		}
	}
	apps := negotiate(p.m.opts.Local.Relay, p.m.opts.Local.Apps, caps)
	if apps.Empty() {
		return fail("no common application")
	}
	p.iconn = nil
	if p.state == StateWaitReturns {
		rc := p.rconn
		p.rconn = nil
		rc.Send(p.m.build.cea(p.rcer, rc.LocalAddr(), wire.ResultElectionLost, "election lost", nil))
		wire.PutBuf(p.rcer)
		p.rcer = nil
		rc.CloseAfterFlush()
	}
	p.openLocked(c, caps, apps, StateIOpen, "initiator", "CEA received", &d)
	return true
}

// receive handles one message on an open connection. It is on the hot
// path: application messages go to the handler without taking p.mu unless
// the watchdog needs the event.
func (p *Peer) receive(c *Conn, m wire.Msg) {
	p.lastRx.Store(time.Now().UnixNano())
	if m.AppID() == 0 {
		switch m.Code() {
		case wire.CmdCapabilitiesExchange, wire.CmdDeviceWatchdog, wire.CmdDisconnectPeer:
			p.base(c, m)
			return
		}
	}
	if a := p.active.Load(); a == nil || a.Conn != c || !p.wdOkay.Load() {
		p.mu.Lock()
		if c != p.conn || !(p.state.Open() || p.state == StateClosing) {
			// A refused or replaced connection: nothing more is routed
			// from it. (While Closing, answers and late requests still
			// flow until the connection ends.)
			p.mu.Unlock()
			wire.PutBuf(m)
			return
		}
		if m.IsRequest() && (c == p.drainConn || p.dprSent) {
			// Draining before our DPR, or DPR sent: no new request is
			// taken on; answers still flow.
			why := p.drainWhy
			p.refused++
			p.mu.Unlock()
			p.refuse(c, m, why)
			return
		}
		var d deferred
		a, deliver := p.wd.receive(false)
		p.applyLocked(c, a, &d)
		p.mu.Unlock()
		d.run()
		if !deliver && !m.IsRequest() {
			// RFC 3539 REOPEN: the peer is not routed to until three DWAs
			// came back, so an answer here answers nothing we sent.
			wire.PutBuf(m)
			return
		}
		// A request in REOPEN is served: the peer has just completed a
		// capabilities exchange on this connection, which proves it alive;
		// REOPEN only keeps it out of routing (failback) until its DWAs.
	}
	p.m.handler.HandleMessage(p, c, m)
}

// base handles CER/CEA, DWR/DWA and DPR/DPA on an open connection.
func (p *Peer) base(c *Conn, m wire.Msg) {
	var d deferred
	defer func() { d.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	defer wire.PutBuf(m)
	if c != p.conn {
		return // a connection being replaced; its reader is about to stop
	}
	req := m.IsRequest()
	switch m.Code() {
	case wire.CmdDeviceWatchdog:
		if req {
			c.Send(p.m.build.dwa(m))
		}
		a, _ := p.wd.receive(!req)
		p.applyLocked(c, a, &d)
	case wire.CmdDisconnectPeer:
		if !req {
			if p.dprSent {
				d.add(func() { c.Close(errDisconnected) })
			}
			return
		}
		cause := disconnectCauseUnspecified
		if a, ok := m.Find(wire.AVPDisconnectCause, 0); ok {
			if v, ok := a.Uint32(); ok {
				cause = v
			}
		}
		// RFC 6733 §5.4: the DPA "SHOULD contain an error if messages have
		// recently been forwarded, and are likely in flight". The peer may
		// still answer them until the connection closes: they are failed
		// over only then (closed), not now.
		if n := c.PendingLen(); n > 0 {
			c.Send(p.m.build.dpaWith(m, wire.ResultUnableToComply, fmt.Sprintf("%d requests forwarded to %s await their answers", n, p.cfg.Identity)))
		} else {
			c.Send(p.m.build.dpa(m))
		}
		if cause == CauseDoNotWantToTalkToYou {
			p.noRedial = true
		}
		p.closingLocked("DPR received ("+causeName(cause)+")", &d)
		// The DPR sender closes once it has our DPA; close ourselves if it
		// does not. Answers keep being read until then.
		time.AfterFunc(p.m.tun().disconnectTimeout, func() { c.Close(errDisconnected) })
	case wire.CmdCapabilitiesExchange:
		if req {
			c.Send(p.m.build.errorAnswer(m, wire.ResultUnableToComply, "capabilities already exchanged on this connection"))
		}
	}
}

// applyLocked carries out a watchdog decision for connection c.
func (p *Peer) applyLocked(c *Conn, a wdAction, d *deferred) {
	if a.sendDWR {
		p.sendDWRLocked()
	}
	if a.failover {
		p.logger().Warn("peer watchdog suspect: failing over", "watchdog", p.wd.state.String())
		d.add(func() { p.m.handler.PeerDown(p, c) })
	}
	if a.failback {
		p.logger().Info("peer watchdog okay: traffic resumes")
	}
	if a.close {
		p.logger().Warn("peer watchdog down: closing connection")
		d.add(func() { c.Close(errWatchdog) })
	}
	if a != (wdAction{}) || p.wdOkay.Load() != (p.wd.usable() && !p.wd.pending) {
		p.publish(d)
	}
}

func (p *Peer) sendDWRLocked() {
	if p.conn != nil {
		p.conn.Send(p.m.build.dwr(p.conn.NextHopByHop(), p.m.nextEndToEnd()))
	}
}

// armWatchdogLocked (re)starts Tw for connection c.
func (p *Peer) armWatchdogLocked(c *Conn) {
	if p.wdTimer != nil {
		p.wdTimer.Stop()
	}
	p.wdConn = c
	p.wdIvl = jitter(p.tw)
	p.wdTimer = time.AfterFunc(p.wdIvl, func() { p.watchdogFired(c) })
}

// watchdogFired is Tw expiring. Traffic resets the timer lazily: when a
// message arrived within Tw the timer is re-armed for the rest of the
// interval instead of being reset on every message.
func (p *Peer) watchdogFired(c *Conn) {
	var d deferred
	defer func() { d.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	if c != p.wdConn || c != p.conn || !p.state.Open() {
		return
	}
	idle := time.Since(time.Unix(0, p.lastRx.Load()))
	if rest := p.wdIvl - idle; rest > 0 && (p.wd.state == WatchdogOkay || p.wd.state == WatchdogSuspect) {
		p.wdTimer = time.AfterFunc(rest, func() { p.watchdogFired(c) })
		return
	}
	a := p.wd.timer()
	p.applyLocked(c, a, &d)
	if !a.close {
		p.wdIvl = jitter(p.tw)
		p.wdTimer = time.AfterFunc(p.wdIvl, func() { p.watchdogFired(c) })
	}
}

// connLostLocked takes connection c away from the peer: the watchdog sees
// the connection go down (unless it was closing in order after DPR/DPA) and
// the handler fails over what was pending.
func (p *Peer) connLostLocked(c *Conn, reason string, d *deferred) {
	if c != p.conn || c == nil || c == p.lost {
		return
	}
	p.lost = c
	wasUsable := p.wd.usable()
	if p.state == StateClosing {
		p.wd = watchdog{} // an orderly disconnect is no failure: no REOPEN next time
	} else {
		p.wd.connDown()
	}
	p.stopWatchdogLocked()
	if p.state != StateClosing {
		p.lastErr = reason // else the DPR's reason stays
	}
	if wasUsable || p.state.Open() || p.state == StateClosing {
		d.add(func() { p.m.handler.PeerDown(p, c) })
	}
}

// closingLocked moves the open connection to Closing after a DPR (sent or
// received): out of routing, no more watchdog, but still read, so that the
// answers to the requests pending on it arrive; what is still pending when
// it closes is failed over then (connLostLocked).
func (p *Peer) closingLocked(reason string, d *deferred) {
	p.stopWatchdogLocked()
	p.wd = watchdog{} // an orderly disconnect is no failure: no REOPEN next time
	p.lastErr = reason
	p.setState(StateClosing, reason, d)
}

// stopWatchdogLocked stops Tw and takes the peer out of routing.
func (p *Peer) stopWatchdogLocked() {
	if p.wdTimer != nil {
		p.wdTimer.Stop()
		p.wdTimer, p.wdConn = nil, nil
	}
	p.active.Store(nil)
	p.wdOkay.Store(false)
}

// closed handles the end of any of the peer's connections.
func (p *Peer) closed(c *Conn, err error) {
	var d deferred
	defer func() { d.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	reason := "connection closed"
	if err != nil {
		reason = err.Error()
	}
	switch c {
	case p.conn:
		p.connLostLocked(c, reason, &d)
		p.conn, p.caps, p.role = nil, nil, ""
		if p.drainConn == c {
			p.drainConn = nil
		}
		if p.state == StateClosing || p.state.Open() {
			p.logger().Info("peer closed", "reason", reason)
			p.setState(StateClosed, reason, &d)
			p.redialLocked()
		}
	case p.iconn:
		p.iconn = nil
		switch p.state {
		case StateWaitICEA:
			p.lastErr = reason
			p.setState(StateClosed, "connection closed before CEA: "+reason, &d)
			p.redialLocked()
		case StateWaitReturns:
			p.acceptResponderLocked(&d, "our connection closed, peer's accepted")
		}
	case p.rconn:
		p.rconn = nil
		wire.PutBuf(p.rcer)
		p.rcer, p.rcaps = nil, nil
		switch p.state {
		case StateWaitReturns:
			p.setState(StateWaitICEA, "peer's connection closed during election", &d)
		case StateWaitConnAckElect:
			p.setState(StateWaitConnAck, "peer's connection closed during election", &d)
		}
	default:
		return
	}
	if !p.conf && p.state == StateClosed && p.iconn == nil && p.rconn == nil {
		d.add(func() { p.m.forget(p) })
	}
}

// beginDrain takes the open connection out of routing before its DPR: the
// answers pending on it in both directions still flow, while the peer's new
// requests are answered 3002 with why. stop also ends redialing for good
// (shutdown) and drops connections still in their capabilities exchange.
// It returns the connection to drain, nil when none is open, and whether
// this call started draining it (false: a drain is already under way).
func (p *Peer) beginDrain(stop bool, why string) (*Conn, bool) {
	var d deferred
	defer func() { d.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	if stop {
		p.stopped = true
		if p.dial != nil {
			p.dial.Stop()
			p.dial = nil
		}
		for _, c := range []*Conn{p.iconn, p.rconn} {
			if c != nil {
				d.add(func() { c.Close(errShutdown) })
			}
		}
	}
	c := p.conn
	if c == nil || !p.state.Open() {
		return nil, false
	}
	fresh := p.drainConn != c
	if fresh {
		p.refused = 0
	}
	p.drainConn, p.drainWhy = c, why
	p.publish(&d) // out of routing now
	if fresh {
		p.logger().Info("draining before DPR", "reason", why, "pending", c.PendingLen(), "inbound", c.InboundLen())
	}
	return c, fresh
}

// refuse answers a request the peer sent on a connection that takes no new
// ones (draining before DPR, or closing) with 3002 and why.
func (p *Peer) refuse(c *Conn, m wire.Msg, why string) {
	if why == "" {
		why = "connection closing"
	}
	c.Send(p.m.build.errorAnswer(m, wire.ResultUnableToDeliver, why))
	wire.PutBuf(m)
}

// infoLocked snapshots the peer for the table.
func (p *Peer) infoLocked() *PeerInfo {
	in := &PeerInfo{
		Key: p.key, Identity: p.cfg.Identity, Realm: p.cfg.Realm, Configured: p.conf,
		State: p.state, StateName: p.state.String(), Watchdog: p.wd.state, Since: p.since, Role: p.role, LastError: p.lastErr,
		peer: p,
	}
	if p.conn != nil {
		in.Addr = p.conn.RemoteAddr().String()
		in.TLS = p.conn.TLS() != nil
	} else if p.cfg.Addr != "" {
		in.Addr = p.cfg.Addr
	}
	if p.caps != nil {
		if in.Realm == "" {
			in.Realm = p.caps.OriginRealm
		}
		in.ProductName = p.caps.ProductName
		in.OriginStateID = p.caps.OriginStateID
		in.Apps = p.apps.IDs()
	}
	return in
}
