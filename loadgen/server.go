package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/wire"
)

// ServerConfig configures a Server. Zero fields take the defaults noted.
type ServerConfig struct {
	// OriginHost and OriginRealm identify the server (default
	// "srv.load.test" and "load.test").
	OriginHost, OriginRealm string
	// ProductName defaults to "draload".
	ProductName string
	// Advertise lists the applications announced in CEA, as in
	// ClientConfig (default: Relay).
	Advertise []uint32
	// ResultCode answers every application request (default 2001). With
	// ExperimentalVendor set, it is sent as Experimental-Result-Code in an
	// Experimental-Result with that Vendor-Id instead of as Result-Code.
	ResultCode         uint32
	ExperimentalVendor uint32
	// Delay holds every application answer back for this long (fixed
	// delay, kept in a per-connection queue: no goroutine or timer per
	// request).
	Delay time.Duration
	// TLS, if set, makes the listener TLS from the first byte.
	TLS *tls.Config
	// MaxMessage is the largest message accepted (default 65536).
	MaxMessage int
	// Observe, if set, is called with each application request before it
	// is answered, on the connection's reader goroutine; it must not keep
	// the message.
	Observe func(req wire.Msg)
}

// Server is a Diameter node that answers every request: it accepts any
// number of peers, answers CER with CEA 2001, DWR and DPR, and every
// application request with the configured result. It stands behind an
// agent in benchmarks, or in front of the client in tests.
type Server struct {
	cfg   ServerConfig
	id    identity
	ans   answerer
	epoch time.Time

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*srvConn]struct{}
	closed    bool
	wg        sync.WaitGroup

	accepted atomic.Uint64
	requests atomic.Uint64
}

// ServerStats are a server's counters.
type ServerStats struct {
	// Peers is the number of connections open now; Accepted counts every
	// connection accepted.
	Peers    int
	Accepted uint64
	// Requests counts the application requests received (and answered,
	// or about to be after Delay).
	Requests uint64
}

// NewServer checks cfg and applies its defaults.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.OriginHost == "" {
		cfg.OriginHost = "srv.load.test"
	}
	if cfg.OriginRealm == "" {
		cfg.OriginRealm = "load.test"
	}
	if cfg.ProductName == "" {
		cfg.ProductName = defaultProductName
	}
	if cfg.Advertise == nil {
		cfg.Advertise = []uint32{wire.RelayAppID}
	}
	if cfg.ResultCode == 0 {
		cfg.ResultCode = wire.ResultSuccess
	}
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = wire.DefaultMaxLen
	}
	if cfg.Delay < 0 {
		return nil, fmt.Errorf("loadgen: negative server delay %s", cfg.Delay)
	}
	epoch := time.Now()
	return &Server{
		cfg: cfg,
		id: identity{host: cfg.OriginHost, realm: cfg.OriginRealm, product: cfg.ProductName,
			stateID: uint32(epoch.Unix()), advertise: cfg.Advertise},
		ans:   newAnswerer(cfg.OriginHost, cfg.OriginRealm, cfg.ResultCode, cfg.ExperimentalVendor),
		epoch: epoch,
		conns: map[*srvConn]struct{}{},
	}, nil
}

func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }

// Start listens on addr (host:port; port 0 picks a free one) and serves in
// the background until Close or Shutdown.
func (s *Server) Start(addr string) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := s.track(l); err != nil {
		l.Close()
		return nil, err
	}
	s.wg.Go(func() { s.serve(l) })
	return l.Addr(), nil
}

// Serve accepts connections on l until Close or Shutdown, then returns
// nil (or the error that stopped accepting).
func (s *Server) Serve(l net.Listener) error {
	if err := s.track(l); err != nil {
		return err
	}
	s.wg.Add(1)
	defer s.wg.Done()
	return s.serve(l)
}

func (s *Server) track(l net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("loadgen: server closed")
	}
	s.listeners = append(s.listeners, l)
	return nil
}

func (s *Server) serve(l net.Listener) error {
	if s.cfg.TLS != nil {
		l = tls.NewListener(l, s.cfg.TLS)
	}
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		c := &srvConn{
			s: s, nc: nc,
			rd:   wire.NewReaderSize(nc, s.cfg.MaxMessage, ioBufSize),
			bw:   bufio.NewWriterSize(nc, ioBufSize),
			wake: make(chan struct{}, 1), done: make(chan struct{}),
			dpa: make(chan struct{}, 1),
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.accepted.Add(1)
		s.wg.Add(2)
		go func() { defer s.wg.Done(); c.readLoop() }()
		go func() { defer s.wg.Done(); c.writeLoop() }()
	}
}

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return ServerStats{Peers: n, Accepted: s.accepted.Load(), Requests: s.requests.Load()}
}

// Close stops listening and closes every connection at once, then waits
// for the server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ls := s.listeners
	s.listeners = nil
	conns := make([]*srvConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	return nil
}

// Shutdown stops listening, sends DPR (Disconnect-Cause REBOOTING) on
// every connection and waits for the DPAs until ctx ends, then closes
// everything like Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, l := range s.listeners {
		l.Close()
	}
	conns := make([]*srvConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			c.queue1(s.id.dpr(uint32(i+1), uint32(s.epoch.Unix())<<20|uint32(i+1)))
			select {
			case <-c.dpa:
			case <-c.done:
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
	s.Close()
	return ctx.Err()
}

// srvConn is one server connection: a reader goroutine that answers and a
// writer goroutine that writes answers in batches, holding them back for
// the configured delay in a FIFO (the delay is fixed, so answers fall due
// in arrival order).
type srvConn struct {
	s  *Server
	nc net.Conn
	rd *wire.Reader
	bw *bufio.Writer

	mu      sync.Mutex
	queue   []wire.Msg
	spare   []wire.Msg
	delayed []delayedMsg
	dhead   int
	closing bool // close once the queue is written (after a DPA)

	wake      chan struct{}
	done      chan struct{} // closed when the connection is closed
	dpa       chan struct{}
	closeOnce sync.Once
}

type delayedMsg struct {
	m   wire.Msg
	due int64
}

func (c *srvConn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// queue1 queues a message to write now.
func (c *srvConn) queue1(m wire.Msg) {
	c.mu.Lock()
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	c.wakeWriter()
}

// queueDelayed queues an answer to write at due.
func (c *srvConn) queueDelayed(m wire.Msg, due int64) {
	c.mu.Lock()
	first := c.dhead == len(c.delayed)
	c.delayed = append(c.delayed, delayedMsg{m, due})
	c.mu.Unlock()
	if first {
		c.wakeWriter()
	}
}

func (c *srvConn) close() {
	c.closeOnce.Do(func() {
		c.nc.Close()
		close(c.done)
		s := c.s
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	})
}

func (c *srvConn) readLoop() {
	defer c.close()
	s := c.s
	for {
		m, err := c.rd.Next()
		if err != nil {
			return
		}
		switch {
		case !m.IsRequest():
			if isBase(m) && m.Code() == wire.CmdDisconnectPeer {
				select {
				case c.dpa <- struct{}{}:
				default:
				}
			}
		case isBase(m):
			switch m.Code() {
			case wire.CmdCapabilitiesExchange:
				c.queue1(s.id.cea(m, c.nc.LocalAddr()))
			case wire.CmdDeviceWatchdog:
				c.queue1(s.id.dwa(m))
			case wire.CmdDisconnectPeer:
				c.mu.Lock()
				c.queue = append(c.queue, s.id.dpa(m))
				c.closing = true
				c.mu.Unlock()
				c.wakeWriter()
			}
		default:
			if s.cfg.Observe != nil {
				s.cfg.Observe(m)
			}
			s.requests.Add(1)
			a := s.ans.answer(m)
			if s.cfg.Delay > 0 {
				c.queueDelayed(a, s.now()+int64(s.cfg.Delay))
			} else {
				c.queue1(a)
			}
		}
		wire.PutBuf(m)
	}
}

func (c *srvConn) writeLoop() {
	defer c.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-c.wake:
		case <-timer.C:
		case <-c.done:
			c.drop()
			return
		}
		now := c.s.now()
		c.mu.Lock()
		batch := c.queue
		c.queue = c.spare[:0]
		for c.dhead < len(c.delayed) && c.delayed[c.dhead].due <= now {
			batch = append(batch, c.delayed[c.dhead].m)
			c.delayed[c.dhead] = delayedMsg{}
			c.dhead++
		}
		if c.dhead == len(c.delayed) {
			c.delayed, c.dhead = c.delayed[:0], 0
		} else if c.dhead > 1024 && 2*c.dhead > len(c.delayed) {
			n := copy(c.delayed, c.delayed[c.dhead:])
			clear(c.delayed[n:])
			c.delayed, c.dhead = c.delayed[:n], 0
		}
		next := int64(-1)
		if c.dhead < len(c.delayed) {
			next = c.delayed[c.dhead].due
		}
		closing := c.closing
		c.mu.Unlock()

		var err error
		for _, m := range batch {
			if err == nil {
				_, err = c.bw.Write(m)
			}
			wire.PutBuf(m)
		}
		if err == nil && len(batch) > 0 {
			err = c.bw.Flush()
		}
		clear(batch)
		c.mu.Lock()
		c.spare = batch[:0]
		more := len(c.queue) > 0
		c.mu.Unlock()
		if err != nil || (closing && !more) {
			c.drop()
			return
		}
		if more {
			c.wakeWriter()
		}
		if next >= 0 {
			timer.Reset(time.Duration(next - now))
		}
	}
}

// drop closes the connection and returns what was left to write to the
// pool.
func (c *srvConn) drop() {
	c.close()
	c.mu.Lock()
	for _, m := range c.queue {
		wire.PutBuf(m)
	}
	for _, d := range c.delayed[c.dhead:] {
		wire.PutBuf(d.m)
	}
	c.queue, c.delayed, c.dhead = nil, nil, 0
	c.mu.Unlock()
}
