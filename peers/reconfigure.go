package peers

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Reconfig is the part of a Manager's options that Reconfigure changes on
// a running manager. Listeners and the local identity are not in it: they
// need a new Manager.
type Reconfig struct {
	Peers         []PeerConfig
	AcceptUnknown bool

	Watchdog            time.Duration
	Reconnect           time.Duration
	ReconnectMax        time.Duration
	CapabilitiesTimeout time.Duration
	DisconnectTimeout   time.Duration

	// MaxMessageSize and WriteQueue apply to connections opened from now
	// on; MaxConnections to the next accepted connection.
	MaxMessageSize int
	MaxConnections int
	WriteQueue     int

	// DrainTimeout bounds how long the requests pending on a removed or
	// reconnecting peer's connection are waited for before it gets DPR;
	// zero means DisconnectTimeout. Requests still pending then are failed
	// over as on any disconnect.
	DrainTimeout time.Duration
	// OpenTimeout bounds how long Reconfigure waits for the added peers it
	// dials to open before it calls publish, so that new routes find them
	// usable; zero does not wait. A peer that does not open in time is
	// published anyway and keeps being dialed.
	OpenTimeout time.Duration
}

// PeerChange is one configured peer whose settings changed.
type PeerChange struct {
	Identity string
	// Fields are the settings that changed: address, tls, connect, realm,
	// verify_identity, watchdog, or configured (a peer known until now as
	// an unconfigured one).
	Fields []string
	// Reconnect tells that the open connection no longer fits the new
	// settings: it is drained, closed with DPR (REBOOTING) and reopened.
	// Otherwise the settings applied in place and the connection is kept.
	Reconnect bool
}

// ReconfigResult says what Reconfigure did.
type ReconfigResult struct {
	Added   []string
	Removed []string
	Changed []PeerChange
	// Unchanged counts the configured peers left as they were.
	Unchanged int
}

// tunables are the options that may change while the manager runs; they
// are replaced as a whole, never modified.
type tunables struct {
	acceptUnknown       bool
	watchdog            time.Duration
	reconnect           time.Duration
	reconnectMax        time.Duration
	capabilitiesTimeout time.Duration
	disconnectTimeout   time.Duration
	maxMessageSize      int
	maxConnections      int
	writeQueue          int
}

func newTunables(o *Options) *tunables {
	return &tunables{
		acceptUnknown: o.AcceptUnknown, watchdog: o.Watchdog,
		reconnect: o.Reconnect, reconnectMax: o.ReconnectMax,
		capabilitiesTimeout: o.CapabilitiesTimeout, disconnectTimeout: o.DisconnectTimeout,
		maxMessageSize: o.MaxMessageSize, maxConnections: o.MaxConnections, writeQueue: o.WriteQueue,
	}
}

// tun returns the options in force.
func (m *Manager) tun() *tunables { return m.live.Load() }

// Errors of Reconfigure; nothing is applied when it fails.
var (
	ErrStopping = errors.New("peers: manager is shutting down")
	ErrInvalid  = errors.New("peers: invalid peer set")
)

// drainPoll is how often a draining connection's pending table is looked
// at.
const drainPoll = 10 * time.Millisecond

// Reconfigure applies a new peer set and new timers and limits to a
// running manager, diffing the peers by identity:
//
//   - new peers are added (and dialed when Connect is set, once the
//     manager has started; publish waits up to OpenTimeout for them);
//   - peers whose settings changed get them in place when their open
//     connection still fits (watchdog interval, connect, a realm or
//     certificate check the connection passes, the address and TLS of a
//     connection the peer opened); otherwise the connection is taken out of
//     routing, drained, closed with DPR (REBOOTING) and reopened with the new
//     settings. A change also clears a DO_NOT_WANT_TO_TALK_TO_YOU refusal, so
//     that redialling resumes;
//   - removed peers (and unconfigured ones when AcceptUnknown is turned off)
//     are taken out of routing at once, get DPR (BUSY) once the requests
//     pending on them are answered or DrainTimeout passes, and are forgotten;
//   - unchanged peers keep their connection untouched.
//
// publish, when not nil, runs after the additions and in-place changes and
// before any removal: the caller publishes the routing table of the new
// generation there, so that a route never names a peer the manager does
// not know yet and a removed peer leaves only once no route names it. The
// peer set is checked first: on error nothing changed and publish did not
// run.
func (m *Manager) Reconfigure(rc Reconfig, publish func()) (*ReconfigResult, error) {
	want, err := m.checkPeerSet(rc.Peers)
	if err != nil {
		return nil, err
	}
	o := Options{
		AcceptUnknown: rc.AcceptUnknown, Watchdog: rc.Watchdog, Reconnect: rc.Reconnect, ReconnectMax: rc.ReconnectMax,
		CapabilitiesTimeout: rc.CapabilitiesTimeout, DisconnectTimeout: rc.DisconnectTimeout,
		MaxMessageSize: rc.MaxMessageSize, MaxConnections: rc.MaxConnections, WriteQueue: rc.WriteQueue,
	}
	o.setDefaults()
	tun := newTunables(&o)
	bound := rc.DrainTimeout
	if bound <= 0 {
		bound = tun.disconnectTimeout
	}

	m.reconf.Lock()
	defer m.reconf.Unlock()
	res := &ReconfigResult{}
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return nil, ErrStopping
	}
	m.live.Store(tun)
	started := m.started
	type change struct {
		p   *Peer
		cfg PeerConfig
	}
	var added []*Peer
	var changed []change
	for _, pc := range rc.Peers { // in configuration order, for the logs
		key := foldKey(pc.Identity)
		p := m.peers[key]
		switch {
		case p == nil:
			p = newPeer(m, pc, true)
			m.peers[key] = p
			m.index.put(key, p)
			m.table.put(p.infoLocked())
			added = append(added, p)
			res.Added = append(res.Added, pc.Identity)
		case !p.conf || len(peerConfigDiff(p.cfg, pc)) > 0:
			// p.cfg and p.conf are written only here, under m.reconf.
			changed = append(changed, change{p, pc})
		default:
			res.Unchanged++
		}
	}
	var removed, others []*Peer
	for key, p := range m.peers {
		if _, keep := want[key]; keep {
			continue
		}
		if p.conf || !tun.acceptUnknown {
			removed = append(removed, p)
			continue
		}
		others = append(others, p)
	}
	m.mu.Unlock()

	var reconnect []*Peer
	for _, ch := range changed {
		pch := ch.p.reconfigure(ch.cfg, tun, started)
		if pch.Reconnect {
			reconnect = append(reconnect, ch.p)
		}
		res.Changed = append(res.Changed, pch)
	}
	for _, p := range others {
		p.setDefaultWatchdog(tun.watchdog)
	}
	if started {
		for _, p := range added {
			p.start()
		}
		m.waitOpen(added, rc.OpenTimeout)
	}
	if publish != nil {
		publish()
	}
	for _, p := range removed {
		res.Removed = append(res.Removed, p.cfg.Identity)
		m.retire(p, bound)
	}
	for _, p := range reconnect {
		m.redial(p, bound)
	}
	slices.Sort(res.Removed)
	return res, nil
}

// waitOpen waits until the peers that dial are usable, or timeout passes.
func (m *Manager) waitOpen(ps []*Peer, timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for _, p := range ps {
		if !p.cfg.Connect {
			continue
		}
		for p.Active() == nil {
			select {
			case <-tick.C:
			case <-deadline.C:
				return
			case <-m.ctx.Done():
				return
			}
		}
	}
}

// checkPeerSet validates a peer set, keyed by folded identity.
func (m *Manager) checkPeerSet(pcs []PeerConfig) (map[string]PeerConfig, error) {
	want := make(map[string]PeerConfig, len(pcs))
	for _, pc := range pcs {
		key := foldKey(pc.Identity)
		switch {
		case pc.Identity == "":
			return nil, fmt.Errorf("%w: a peer without identity", ErrInvalid)
		case key == foldKey(m.opts.Local.OriginHost):
			return nil, fmt.Errorf("%w: peer %q is the agent's own identity", ErrInvalid, pc.Identity)
		case pc.Connect && pc.Addr == "":
			return nil, fmt.Errorf("%w: peer %q: connect needs an address", ErrInvalid, pc.Identity)
		}
		if _, dup := want[key]; dup {
			return nil, fmt.Errorf("%w: peer %q configured twice", ErrInvalid, pc.Identity)
		}
		want[key] = pc
	}
	return want, nil
}

// peerConfigDiff names the settings that differ between two
// configurations of one peer.
func peerConfigDiff(a, b PeerConfig) []string {
	var out []string
	if a.Addr != b.Addr {
		out = append(out, "address")
	}
	if !tlsEqual(a.TLS, b.TLS) {
		out = append(out, "tls")
	}
	if a.Connect != b.Connect {
		out = append(out, "connect")
	}
	if foldKey(a.Realm) != foldKey(b.Realm) {
		out = append(out, "realm")
	}
	if a.VerifyIdentity != b.VerifyIdentity {
		out = append(out, "verify_identity")
	}
	if a.Watchdog != b.Watchdog {
		out = append(out, "watchdog")
	}
	return out
}

// tlsEqual compares the settings of two client TLS configurations that
// matter for a connection: certificates (by content, so that a renewed
// file counts as a change), trusted CAs, server name and versions.
func tlsEqual(a, b *tls.Config) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.ServerName != b.ServerName || a.MinVersion != b.MinVersion || a.MaxVersion != b.MaxVersion ||
		a.InsecureSkipVerify != b.InsecureSkipVerify || !a.RootCAs.Equal(b.RootCAs) ||
		len(a.Certificates) != len(b.Certificates) {
		return false
	}
	for i := range a.Certificates {
		if !slices.EqualFunc(a.Certificates[i].Certificate, b.Certificates[i].Certificate, bytes.Equal) {
			return false
		}
	}
	return true
}

// reconfigure gives a configured peer (or an unconfigured one being
// adopted) its new settings; it reports whether the open connection has to
// be reopened for them, and then marks it so that routing leaves it.
func (p *Peer) reconfigure(nc PeerConfig, tun *tunables, started bool) PeerChange {
	var d deferred
	defer func() { d.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cfg
	ch := PeerChange{Identity: old.Identity, Fields: peerConfigDiff(old, nc)}
	if !p.conf {
		ch.Fields = append([]string{"configured"}, ch.Fields...)
	}
	p.conf = true
	p.cfg.Realm, p.cfg.Addr, p.cfg.Connect = nc.Realm, nc.Addr, nc.Connect
	p.cfg.TLS, p.cfg.VerifyIdentity, p.cfg.Watchdog = nc.TLS, nc.VerifyIdentity, nc.Watchdog
	p.tw = nc.Watchdog
	if p.tw == 0 {
		p.tw = tun.watchdog
	}
	p.cfgGen++
	p.noRedial = false
	p.backoff = 0
	if !p.cfg.Connect && p.dial != nil {
		p.dial.Stop()
		p.dial = nil
	}
	transport := old.Addr != nc.Addr || !tlsEqual(old.TLS, nc.TLS)
	switch {
	case p.conn != nil && p.state.Open():
		if p.role == "initiator" && transport {
			ch.Reconnect = true
		}
		if p.cfg.Realm != "" && p.caps != nil && foldKey(p.caps.OriginRealm) != foldKey(p.cfg.Realm) {
			ch.Reconnect = true
		}
		if p.cfg.VerifyIdentity && verifyIdentity(p.conn, p.cfg.Identity) != nil {
			ch.Reconnect = true
		}
		if ch.Reconnect {
			p.drainConn, p.drainWhy = p.conn, "connection being reopened with new settings"
			p.redialNow = p.cfg.Connect
			p.publish(&d) // out of routing now
		}
	case p.iconn != nil && transport:
		// Our connection attempt still uses the old settings: drop it and
		// dial again with the new ones.
		ic := p.iconn
		p.redialNow = p.cfg.Connect
		d.add(func() { ic.Close(errReconfigured) })
	case p.state == StateClosed:
		if p.dial != nil {
			p.dial.Stop()
			p.dial = nil
		}
		if p.cfg.Connect && started {
			p.dialLocked()
		}
	}
	// StateWaitConnAck: dialed sees that cfgGen moved and dials again.
	p.m.table.put(p.infoLocked())
	if len(ch.Fields) > 0 {
		p.logger().Info("peer reconfigured", "changed", ch.Fields, "reconnect", ch.Reconnect)
	}
	return ch
}

// setDefaultWatchdog gives an unconfigured peer a new Tw, used from its
// next watchdog interval on.
func (p *Peer) setDefaultWatchdog(tw time.Duration) {
	p.mu.Lock()
	if p.cfg.Watchdog == 0 {
		p.tw = tw
	}
	p.mu.Unlock()
}

// retire takes a removed peer out of service: out of the manager's maps
// at once (routing cannot pick it any more), its open connection drained,
// closed with DPR (BUSY: do not reconnect), and never redialled.
func (m *Manager) retire(p *Peer, bound time.Duration) {
	var d deferred
	p.mu.Lock()
	p.retired = true
	p.forgotten = true // a CER racing with the removal looks the identity up again
	p.stopped = true
	if p.dial != nil {
		p.dial.Stop()
		p.dial = nil
	}
	for _, c := range []*Conn{p.iconn, p.rconn} {
		if c != nil {
			d.add(func() { c.Close(errRetired) })
		}
	}
	c := p.conn
	open := c != nil && p.state.Open()
	if open {
		p.drainConn, p.drainWhy = c, "peer removed from the configuration"
	}
	p.publish(&d)
	p.mu.Unlock()
	d.run()
	// Retired first, so that no state change writes its row back.
	m.mu.Lock()
	if m.peers[p.key] == p {
		delete(m.peers, p.key)
		m.index.remove(p.key, p)
		m.table.remove(p.key)
	}
	m.retiring[p] = struct{}{}
	m.mu.Unlock()
	p.logger().Info("peer removed from the configuration", "open", open, "drain_bound", bound.String())
	m.drains.Add(1)
	go func() {
		defer m.drains.Done()
		if open {
			p.dprOnDrained(c, CauseBusy, m.drain(c, bound), m.tun().disconnectTimeout)
		}
		m.retired(p, c)
	}()
}

// redial drains a reconnecting peer's connection, then closes it with DPR
// (REBOOTING); closed dials again at once with the new settings.
func (m *Manager) redial(p *Peer, bound time.Duration) {
	p.mu.Lock()
	c := p.drainConn
	p.mu.Unlock()
	if c == nil {
		return
	}
	m.drains.Add(1)
	go func() {
		defer m.drains.Done()
		p.dprOnDrained(c, CauseRebooting, m.drain(c, bound), m.tun().disconnectTimeout)
	}()
}

// drain waits until no request is pending on c in either direction (ours
// awaiting the peer's answers, the peer's awaiting ours), c closes, the
// manager stops, or bound passes; it returns how many requests are still
// pending.
func (m *Manager) drain(c *Conn, bound time.Duration) int {
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	pending := func() int { return c.PendingLen() + c.InboundLen() }
	for {
		// A tick first: a request the connection's reader took off the
		// fast path just before the drain began is counted by then.
		select {
		case <-tick.C:
		case <-deadline.C:
			return pending()
		case <-c.Done():
			return 0
		case <-m.ctx.Done():
			return pending()
		}
		if pending() == 0 {
			return 0
		}
	}
}

// dprOnDrained sends DPR on c once it is drained, if c is still the peer's
// open connection, and closes c if no DPA came within dpaWait. Requests
// still pending (the drain bound passed) may yet be answered before the
// DPA; those that are not are failed over when c closes.
func (p *Peer) dprOnDrained(c *Conn, cause uint32, pending int, dpaWait time.Duration) {
	var d deferred
	defer func() { d.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drainConn == c {
		p.drainConn = nil
	}
	if c != p.conn || !p.state.Open() {
		return
	}
	if pending > 0 {
		p.logger().Warn("drain bound reached: DPR sent with requests pending; those not answered before the DPA are failed over", "pending", pending, "refused", p.refused)
	} else {
		p.logger().Info("drained: DPR sent", "cause", causeName(cause), "refused", p.refused)
	}
	p.dprSent = true
	c.Send(p.m.build.dpr(cause, c.NextHopByHop(), p.m.nextEndToEnd()))
	p.closingLocked("DPR sent ("+causeName(cause)+")", &d)
	time.AfterFunc(dpaWait, func() { c.Close(errDPATimeout) })
}

// drainThenDPR drains p's connection c for up to bound, then sends DPR
// with cause and waits up to dpaWait for the DPA.
func (m *Manager) drainThenDPR(p *Peer, c *Conn, cause uint32, bound, dpaWait time.Duration) {
	m.drains.Add(1)
	go func() {
		defer m.drains.Done()
		p.dprOnDrained(c, cause, m.drain(c, bound), dpaWait)
	}()
}

// disconnectShares divides timers.disconnect between draining a connection
// and waiting for the DPA that follows, so that a shutdown or an operator
// disconnect ends within it: the DPA gets a quarter, at most 1 s.
func disconnectShares(total time.Duration) (drain, dpa time.Duration) {
	dpa = min(total/4, time.Second)
	return total - dpa, dpa
}

// retired forgets a removed peer once its connection c (if any) has ended.
func (m *Manager) retired(p *Peer, c *Conn) {
	if c != nil {
		select {
		case <-c.Done():
		case <-m.ctx.Done():
		}
	}
	m.mu.Lock()
	delete(m.retiring, p)
	m.mu.Unlock()
}

var (
	errRetired      = errors.New("peers: peer removed from the configuration")
	errReconfigured = errors.New("peers: peer settings changed")
)
