package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/wire"
)

// ClientConfig configures a Client. Zero fields take the defaults noted.
type ClientConfig struct {
	// Addr is the host:port of the Diameter node to load (required).
	Addr string
	// Conns is the number of connections, each a peer of its own
	// (default 1).
	Conns int
	// OriginHost is the Origin-Host of each connection; a %d in it is
	// replaced by the connection number, from 1 (default
	// "load-%d.load.test"). Without %d every connection announces the
	// same identity, which most nodes refuse beyond the first.
	OriginHost string
	// OriginRealm defaults to "load.test".
	OriginRealm string
	// Advertise lists the applications announced in CER: 3 is sent as
	// Acct-Application-Id, any other as Auth-Application-Id (default: the
	// Relay application, 0xffffffff).
	Advertise []uint32
	// ProductName defaults to "draload".
	ProductName string
	// TLS, if set, makes each connection TLS from the first byte
	// (RFC 6733 §13). An empty ServerName is taken from Addr.
	TLS *tls.Config

	// Mix builds the requests (required; see NewMix).
	Mix Mix

	// Exactly one of InFlight and Rate is set. InFlight > 0 runs closed
	// loop: that many requests are kept in flight across all connections,
	// each answer (or timeout) making room for the next request. Rate > 0
	// runs open loop: requests are sent at that many per second across all
	// connections, on a schedule that does not wait for answers.
	InFlight int
	Rate     float64

	// The run stops sending after Duration or after Count requests,
	// whichever comes first (at least one is set). With a mix of
	// multi-request sessions, only whole sessions are started within
	// Count: the run sends Count rounded down to a multiple of the session
	// length. After the last request the client waits for the answers
	// (at most Timeout), then sends DPR on each connection.
	Duration time.Duration
	Count    int64

	// Timeout is how long a request may wait for its answer before it
	// counts as unanswered (default 5s).
	Timeout time.Duration
	// ConnectTimeout bounds connecting, TLS and CER/CEA (default 5s).
	ConnectTimeout time.Duration
	// DisconnectTimeout bounds the wait for DPA (default 2s).
	DisconnectTimeout time.Duration
	// MaxMessage is the largest message accepted (default 65536).
	MaxMessage int

	// Progress, if set, receives a line every ProgressInterval (default
	// 1s) while the run goes: elapsed time, requests sent and answered,
	// answers per second and p99 latency over the interval.
	Progress         io.Writer
	ProgressInterval time.Duration
}

func (c *ClientConfig) setDefaults() {
	if c.Conns == 0 {
		c.Conns = 1
	}
	if c.OriginHost == "" {
		c.OriginHost = "load-%d.load.test"
	}
	if c.OriginRealm == "" {
		c.OriginRealm = "load.test"
	}
	if c.Advertise == nil {
		c.Advertise = []uint32{wire.RelayAppID}
	}
	if c.ProductName == "" {
		c.ProductName = defaultProductName
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.DisconnectTimeout == 0 {
		c.DisconnectTimeout = 2 * time.Second
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = wire.DefaultMaxLen
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = time.Second
	}
}

func (c *ClientConfig) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.Addr == "" {
		bad("address is required")
	}
	if c.Mix == nil {
		bad("mix is required")
	}
	if c.Conns < 1 {
		bad("connections %d: want at least 1", c.Conns)
	}
	switch {
	case c.InFlight > 0 && c.Rate > 0:
		bad("in-flight and rate are exclusive: closed loop or open loop")
	case c.InFlight <= 0 && c.Rate <= 0:
		bad("set in-flight (closed loop) or rate (open loop)")
	}
	if c.InFlight < 0 || c.Rate < 0 {
		bad("negative in-flight or rate")
	}
	if c.Duration <= 0 && c.Count <= 0 {
		bad("set a duration or a count")
	}
	if c.Duration < 0 || c.Count < 0 {
		bad("negative duration or count")
	}
	if c.Timeout < 0 || c.ConnectTimeout < 0 || c.DisconnectTimeout < 0 {
		bad("negative timeout")
	}
	if _, err := parsePattern(c.OriginHost); err != nil {
		bad("origin host: %v", err)
	}
	if len(errs) > 0 {
		return errors.New("loadgen: " + strings.Join(errs, "; "))
	}
	return nil
}

// Client generates load against one Diameter node over Conns connections.
// A Client runs once.
type Client struct {
	cfg     ClientConfig
	mix     Mix
	sessLen int
	open    bool // open loop

	epoch time.Time
	boot  uint32
	conns []*conn
	ran   atomic.Bool

	seq      atomic.Uint64 // session numbers
	left     atomic.Int64  // requests that may still be started, with Count
	stop     atomic.Bool   // no more requests
	slots    atomic.Int64  // closed loop: slots still cycling
	pacers   atomic.Int64  // open loop: connections still pacing
	inflight atomic.Int64  // requests awaiting an answer
}

// NewClient checks cfg and applies its defaults.
func NewClient(cfg ClientConfig) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.TLS != nil && cfg.TLS.ServerName == "" && !cfg.TLS.InsecureSkipVerify {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("loadgen: address %q: %w", cfg.Addr, err)
		}
		cfg.TLS = cfg.TLS.Clone()
		cfg.TLS.ServerName = host
	}
	return &Client{cfg: cfg, mix: cfg.Mix, sessLen: max(cfg.Mix.SessionLen(), 1), open: cfg.Rate > 0}, nil
}

// now returns the monotonic time since the run's epoch in nanoseconds.
func (cl *Client) now() int64 { return int64(time.Since(cl.epoch)) }

// reserve takes a whole session's worth of requests from the budget; it
// fails once the run stops or the budget is spent.
func (cl *Client) reserve() bool {
	if cl.stop.Load() {
		return false
	}
	if cl.cfg.Count <= 0 {
		return true
	}
	n := int64(cl.sessLen)
	for {
		left := cl.left.Load()
		if left < n {
			return false
		}
		if cl.left.CompareAndSwap(left, left-n) {
			return true
		}
	}
}

// refund returns the requests of an abandoned session that were reserved
// but will not be sent.
func (cl *Client) refund(n int) {
	if cl.cfg.Count > 0 && n > 0 {
		cl.left.Add(int64(n))
	}
}

// finished reports whether nothing can be sent or answered any more.
func (cl *Client) finished() bool {
	if cl.open {
		return cl.pacers.Load() == 0 && cl.inflight.Load() == 0
	}
	return cl.slots.Load() == 0
}

// Run connects, sends the load, waits for the answers, disconnects and
// returns the result. It returns an error, and no result, only if a
// connection cannot be opened; failures during the run are counted and
// listed in Result.Errors. Cancelling ctx ends the run early: no more
// requests are sent, those in flight are waited for.
func (cl *Client) Run(ctx context.Context) (*Result, error) {
	if cl.ran.Swap(true) {
		return nil, errors.New("loadgen: a Client runs once")
	}
	cfg := &cl.cfg
	cl.epoch = time.Now()
	cl.boot = uint32(cl.epoch.Unix())
	if cfg.Count > 0 {
		cl.left.Store(cfg.Count)
	}
	host, _ := parsePattern(cfg.OriginHost)

	cl.conns = make([]*conn, cfg.Conns)
	errs := make([]error, cfg.Conns)
	var wg sync.WaitGroup
	for i := range cl.conns {
		wg.Go(func() { cl.conns[i], errs[i] = cl.dial(ctx, i+1, host.format(uint64(i+1))) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range cl.conns {
			if c != nil {
				c.nc.Close()
			}
		}
		return nil, err
	}

	cpu0 := processCPU()
	start := cl.now()
	for i, c := range cl.conns {
		if cl.open {
			c.pacing = true
			c.pacer = newPacer(start+int64(float64(i)*float64(time.Second)/cfg.Rate), cfg.Rate/float64(cfg.Conns))
			cl.pacers.Add(1)
		}
		go c.readLoop()
		go c.writeLoop()
	}
	if !cl.open {
		cl.slots.Store(int64(cfg.InFlight))
		for i, c := range cl.conns {
			k := cfg.InFlight / cfg.Conns
			if i < cfg.InFlight%cfg.Conns {
				k++
			}
			for range k {
				if !c.send(nil, cl.now()) {
					cl.slots.Add(-1)
				}
			}
		}
	}

	cl.monitor(ctx, start)
	end := cl.now()
	cpu := processCPU() - cpu0
	cl.stop.Store(true)

	for _, c := range cl.conns {
		wg.Go(func() { c.disconnect(cfg.DisconnectTimeout) })
	}
	wg.Wait()
	return cl.result(time.Duration(end-start), cpu), nil
}

// monitorTick is how often the monitor expires requests, checks whether
// the run is over and reports progress.
const monitorTick = 5 * time.Millisecond

// monitor runs until the run is over: it stops the run at its deadline or
// when ctx ends, expires unanswered requests and writes progress lines.
func (cl *Client) monitor(ctx context.Context, start int64) {
	cfg := &cl.cfg
	tick := time.NewTicker(min(monitorTick, max(cfg.Timeout/4, time.Millisecond)))
	defer tick.Stop()
	deadline := int64(-1)
	if cfg.Duration > 0 {
		deadline = start + int64(cfg.Duration)
	}
	var p *progress
	if cfg.Progress != nil {
		p = newProgress(cl, start)
	}
	cancelled := ctx.Done()
	for {
		select {
		case <-tick.C:
		case <-cancelled:
			cl.stop.Store(true)
			cancelled = nil
		}
		now := cl.now()
		if deadline >= 0 && now >= deadline {
			cl.stop.Store(true)
		}
		for _, c := range cl.conns {
			c.expire(now)
		}
		if p != nil {
			p.maybeWrite(now)
		}
		if cl.finished() {
			return
		}
	}
}

// dial opens connection n (1-based) as originHost: TCP (or TLS), CER, CEA.
func (cl *Client) dial(ctx context.Context, n int, originHost string) (*conn, error) {
	cfg := &cl.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connection %d: %w", n, err)
	}
	if cfg.TLS != nil {
		tc := tls.Client(nc, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("connection %d: TLS: %w", n, err)
		}
		nc = tc
	}
	c := newConn(cl, n, originHost, nc)
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if err := c.exchangeCapabilities(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connection %d (%s): %w", n, originHost, err)
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

// result adds up the connections' statistics once their goroutines ended.
func (cl *Client) result(d time.Duration, cpu time.Duration) *Result {
	r := &Result{
		Mix: cl.mix.Name(), Connections: cl.cfg.Conns, InFlight: cl.cfg.InFlight, Rate: cl.cfg.Rate,
		ResultCodes: map[uint32]uint64{}, ExperimentalCodes: map[uint32]uint64{},
		Duration: d, ClientCPU: cpu, Histogram: new(Histogram),
	}
	for _, c := range cl.conns {
		s := &c.stats
		r.Sent += s.sent.Load()
		r.Answered += s.answered.Load()
		r.Timeouts += s.timeouts.Load()
		r.Lost += s.lost.Load()
		r.Late += s.late.Load()
		r.Histogram.Merge(&s.hist)
		s.codes.addTo(r.ResultCodes, r.ExperimentalCodes)
		if c.err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("connection %d (%s): %v", c.n, c.host, c.err))
		}
		if r.Peer == "" {
			r.Peer, r.PeerProduct = c.peer.host, c.peer.product
		}
	}
	r.Unanswered = r.Timeouts + r.Lost
	if d > 0 {
		r.Throughput = float64(r.Answered) / d.Seconds()
	}
	r.Latency = latencyOf(r.Histogram)
	return r
}

// progress writes the progress lines.
type progress struct {
	cl                      *Client
	start, next, intervalNs int64
	cur, prev, ival         *Histogram // snapshots and their difference
	lastAnswered            uint64
	lastAt                  int64
}

func newProgress(cl *Client, start int64) *progress {
	iv := int64(cl.cfg.ProgressInterval)
	return &progress{cl: cl, start: start, next: start + iv, intervalNs: iv, lastAt: start,
		cur: new(Histogram), prev: new(Histogram), ival: new(Histogram)}
}

func (p *progress) maybeWrite(now int64) {
	if now < p.next {
		return
	}
	for p.next <= now {
		p.next += p.intervalNs
	}
	p.cur.Reset()
	var sent, answered, timeouts, lost uint64
	for _, c := range p.cl.conns {
		p.cur.Merge(&c.stats.hist)
		sent += c.stats.sent.Load()
		answered += c.stats.answered.Load()
		timeouts += c.stats.timeouts.Load()
		lost += c.stats.lost.Load()
	}
	p.ival.sub(p.cur, p.prev)
	p.cur, p.prev = p.prev, p.cur
	secs := float64(now-p.lastAt) / float64(time.Second)
	rate := float64(answered-p.lastAnswered) / secs
	p.lastAnswered, p.lastAt = answered, now
	p99 := "-"
	if p.ival.Count() > 0 {
		p99 = fmtDur(p.ival.Quantile(0.99))
	}
	line := fmt.Sprintf("%7.1fs  sent %d  answered %d  %.0f/s  p99 %s",
		float64(now-p.start)/float64(time.Second), sent, answered, rate, p99)
	if timeouts+lost > 0 {
		line += fmt.Sprintf("  unanswered %d", timeouts+lost)
	}
	fmt.Fprintln(p.cl.cfg.Progress, line)
}
