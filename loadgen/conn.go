package loadgen

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/dra-project/dra/wire"
)

// ioBufSize is the read and write buffer of each connection.
const ioBufSize = 64 << 10

// maxBurst bounds the requests an open-loop connection builds before it
// writes them, when it catches up with its schedule after a stall.
const maxBurst = 1024

// conn is one client connection: a peer of its own (Origin-Host host),
// with one reader goroutine (answers, DWR, DPR) and one writer goroutine
// that writes the queued messages in batches and, in open loop, paces the
// requests.
type conn struct {
	cl   *Client
	n    int // connection number, from 1
	host string
	id   identity
	nc   net.Conn
	rd   *wire.Reader
	bw   *bufio.Writer
	peer peerInfo

	mu      sync.Mutex
	queue   []wire.Msg // to write
	spare   []wire.Msg
	pend    pending
	ready   []*Session // open loop: sessions whose next request may go
	rhead   int        // ready[rhead:] are waiting
	free    []*Session // sessions to reuse
	e2e     uint32
	closing bool  // no more requests: the run ended, DPR, or a failure
	byUs    bool  // the client is disconnecting: an EOF is expected
	err     error // why the connection failed during the run

	wake      chan struct{}
	quit      chan struct{} // closed to stop the writer
	readDone  chan struct{}
	writeDone chan struct{}
	dpa       chan struct{}

	// Writer goroutine only (set before it starts).
	pacer  pacer
	pacing bool

	expired []*Session // monitor scratch
	stats   connStats
}

func newConn(cl *Client, n int, host string, nc net.Conn) *conn {
	size := 2 * (cl.cfg.InFlight/cl.cfg.Conns + 1)
	if cl.open {
		// A tenth of a second of requests; the ring grows if needed.
		size = int(cl.cfg.Rate / float64(cl.cfg.Conns) / 5)
	}
	size = min(size, 1<<16)
	return &conn{
		cl: cl, n: n, host: host, nc: nc,
		id: identity{host: host, realm: cl.cfg.OriginRealm, product: cl.cfg.ProductName,
			stateID: cl.boot, advertise: cl.cfg.Advertise},
		rd:        wire.NewReaderSize(nc, cl.cfg.MaxMessage, ioBufSize),
		bw:        bufio.NewWriterSize(nc, ioBufSize),
		pend:      newPending(size, rand.Uint32()),
		e2e:       cl.boot<<20 | rand.Uint32()&0xfffff,
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		readDone:  make(chan struct{}),
		writeDone: make(chan struct{}),
		dpa:       make(chan struct{}, 1),
	}
}

// exchangeCapabilities sends the CER and reads the CEA, before the
// goroutines start.
func (c *conn) exchangeCapabilities() error {
	c.e2e++
	if _, err := c.nc.Write(c.id.cer(c.nc.LocalAddr(), c.pend.next-1, c.e2e)); err != nil {
		return fmt.Errorf("CER: %w", err)
	}
	for {
		m, err := c.rd.Next()
		if err != nil {
			return fmt.Errorf("waiting for CEA: %w", err)
		}
		if m.IsRequest() || m.AppID() != 0 || m.Code() != wire.CmdCapabilitiesExchange {
			// Nothing else may come before the CEA (RFC 6733 §5.6.1).
			wire.PutBuf(m)
			return fmt.Errorf("got command %d (application %d) instead of a CEA", m.Code(), m.AppID())
		}
		c.peer = parseCEA(m)
		wire.PutBuf(m)
		if c.peer.resultCode != wire.ResultSuccess {
			msg := ""
			if c.peer.errorMessage != "" {
				msg = " (" + c.peer.errorMessage + ")"
			}
			return fmt.Errorf("CER refused by %q with Result-Code %d%s", c.peer.host, c.peer.resultCode, msg)
		}
		return nil
	}
}

// wakeWriter makes the writer look at its queue.
func (c *conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// newSession returns a session object to start.
func (c *conn) newSession() *Session {
	c.mu.Lock()
	var s *Session
	if n := len(c.free); n > 0 {
		s = c.free[n-1]
		c.free = c.free[:n-1]
	}
	c.mu.Unlock()
	if s == nil {
		s = new(Session)
	}
	s.Start(c.host, c.cl.cfg.OriginRealm, c.cl.boot, c.cl.seq.Add(1))
	return s
}

// send builds and queues the request at step s.Step of session s, or the
// first request of a new session when s is nil; latency will be measured
// from sched. It reports false when nothing was sent: the run is stopping,
// the budget is spent or the connection is closing.
func (c *conn) send(s *Session, sched int64) bool {
	cl := c.cl
	if s == nil {
		if !cl.reserve() {
			return false
		}
		s = c.newSession()
	} else if cl.stop.Load() {
		c.mu.Lock()
		c.free = append(c.free, s)
		c.mu.Unlock()
		return false
	}
	m := cl.mix.Request(s)
	c.mu.Lock()
	if c.closing {
		refund := cl.sessLen - s.Step
		c.free = append(c.free, s)
		c.mu.Unlock()
		wire.PutBuf(m)
		cl.refund(refund)
		return false
	}
	c.e2e++
	m.SetHopByHop(c.pend.add(s, sched, c.e2e))
	m.SetEndToEnd(c.e2e)
	c.queue = append(c.queue, m)
	cl.inflight.Add(1)
	c.mu.Unlock()
	c.stats.sent.Add(1)
	c.wakeWriter()
	return true
}

// queueBase queues a base protocol message, even while closing.
func (c *conn) queueBase(m wire.Msg) {
	c.mu.Lock()
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	c.wakeWriter()
}

// onAnswer matches an answer with its request, records it and, in closed
// loop, sends the next request in its place.
func (c *conn) onAnswer(m wire.Msg) {
	cl := c.cl
	now := cl.now()
	var next *Session
	c.mu.Lock()
	e, ok := c.pend.remove(m.HopByHop(), m.EndToEnd())
	if ok {
		cl.inflight.Add(-1)
		s := e.sess
		s.Step++
		switch {
		case s.Step >= cl.sessLen:
			c.free = append(c.free, s)
		case cl.open:
			c.ready = append(c.ready, s)
		default:
			next = s
		}
	}
	c.mu.Unlock()
	if !ok {
		c.stats.late.Add(1)
		return
	}
	code, exp := resultCode(m)
	c.stats.codes.add(makeCodeKey(code, exp))
	c.stats.hist.Record(time.Duration(now - e.sent))
	c.stats.answered.Add(1)
	if !cl.open && !c.send(next, now) {
		cl.slots.Add(-1)
	}
}

// onRequest answers a request from the node: DWR, DPR, or anything else
// with 3001 (the client serves no application).
func (c *conn) onRequest(m wire.Msg) {
	if m.AppID() == 0 {
		switch m.Code() {
		case wire.CmdDeviceWatchdog:
			c.queueBase(c.id.dwa(m))
			return
		case wire.CmdDisconnectPeer:
			c.queueBase(c.id.dpa(m))
			c.mu.Lock()
			if !c.byUs && c.err == nil {
				cause := uint32(0)
				if a, ok := m.Find(wire.AVPDisconnectCause, 0); ok {
					cause, _ = a.Uint32()
				}
				c.err = fmt.Errorf("the node sent DPR (Disconnect-Cause %d)", cause)
			}
			c.closing = true
			c.mu.Unlock()
			return
		}
	}
	c.queueBase(c.id.unsupported(m))
}

// readLoop reads until the connection ends, then abandons what is pending.
func (c *conn) readLoop() {
	defer close(c.readDone)
	for {
		m, err := c.rd.Next()
		if err != nil {
			c.fail(err)
			c.abandon()
			return
		}
		switch {
		case m.IsRequest():
			c.onRequest(m)
		case isBase(m):
			if m.Code() == wire.CmdDisconnectPeer {
				select {
				case c.dpa <- struct{}{}:
				default:
				}
			}
		default:
			c.onAnswer(m)
		}
		wire.PutBuf(m)
	}
}

// fail records why the connection broke, unless the client is closing it,
// and closes it.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if !c.byUs && c.err == nil {
		c.err = err
	}
	c.closing = true
	c.mu.Unlock()
	c.nc.Close()
}

// abandon counts every pending request as lost once the connection is
// gone.
func (c *conn) abandon() {
	cl := c.cl
	c.mu.Lock()
	lost := c.pend.drain(nil)
	cl.inflight.Add(-int64(len(lost)))
	refund := c.unsent(lost)
	c.free = append(c.free, lost...)
	c.free = append(c.free, c.ready[c.rhead:]...)
	c.ready, c.rhead = c.ready[:0], 0
	c.closing = true
	c.mu.Unlock()
	cl.refund(refund)
	c.stats.lost.Add(uint64(len(lost)))
	if !cl.open {
		cl.slots.Add(-int64(len(lost)))
	}
}

// unsent returns how many requests of the abandoned sessions ss, whose
// current request was sent, will not be sent. It reads the sessions, so
// it is called before they are released.
func (c *conn) unsent(ss []*Session) int {
	n := 0
	for _, s := range ss {
		n += c.cl.sessLen - s.Step - 1
	}
	return n
}

// expire counts the requests unanswered after the timeout and, in closed
// loop, starts a new session in place of each.
func (c *conn) expire(now int64) {
	cl := c.cl
	c.mu.Lock()
	c.expired = c.pend.expire(now-int64(cl.cfg.Timeout), c.expired[:0])
	cl.inflight.Add(-int64(len(c.expired)))
	refund := c.unsent(c.expired)
	c.free = append(c.free, c.expired...)
	c.mu.Unlock()
	if len(c.expired) == 0 {
		return
	}
	c.stats.timeouts.Add(uint64(len(c.expired)))
	cl.refund(refund)
	if !cl.open {
		for range c.expired {
			if !c.send(nil, now) {
				cl.slots.Add(-1)
			}
		}
	}
	clear(c.expired)
}

// popReady returns the session waiting longest to send its next request,
// or nil. c.mu must be held.
func (c *conn) popReady() *Session {
	if c.rhead == len(c.ready) {
		return nil
	}
	s := c.ready[c.rhead]
	c.ready[c.rhead] = nil
	c.rhead++
	if c.rhead == len(c.ready) {
		c.ready, c.rhead = c.ready[:0], 0
	} else if c.rhead > 1024 && 2*c.rhead > len(c.ready) {
		n := copy(c.ready, c.ready[c.rhead:])
		clear(c.ready[n:])
		c.ready, c.rhead = c.ready[:n], 0
	}
	return s
}

// pace sends the open-loop requests that are due: the next request of a
// session waiting for its turn, else the first of a new session.
func (c *conn) pace() {
	cl := c.cl
	n := min(c.pacer.due(cl.now()), maxBurst)
	for ; n > 0 && !cl.stop.Load(); n-- {
		sched := c.pacer.take()
		c.mu.Lock()
		s := c.popReady()
		c.mu.Unlock()
		c.send(s, sched) // with no session waiting and no budget, the slot passes
	}
	c.mu.Lock()
	over := cl.stop.Load() || c.closing ||
		(c.pend.n == 0 && c.rhead == len(c.ready) && cl.cfg.Count > 0 && cl.left.Load() < int64(cl.sessLen))
	c.mu.Unlock()
	if over {
		c.stopPacing()
	}
}

func (c *conn) stopPacing() {
	if c.pacing {
		c.pacing = false
		c.cl.pacers.Add(-1)
	}
}

// writeLoop writes what is queued, in batches, until quit; in open loop it
// also wakes at each scheduled send time.
func (c *conn) writeLoop() {
	defer close(c.writeDone)
	defer c.stopPacing()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if c.pacing {
			timer.Reset(time.Duration(c.pacer.nextAt() - c.cl.now()))
		}
		select {
		case <-c.wake:
		case <-timer.C:
		case <-c.quit:
			c.flush()
			return
		}
		if c.pacing {
			c.pace()
		}
		if err := c.flush(); err != nil {
			c.fail(err)
			return
		}
	}
}

// flush writes the queue in one batch.
func (c *conn) flush() error {
	c.mu.Lock()
	batch := c.queue
	if len(batch) == 0 {
		c.mu.Unlock()
		return nil
	}
	c.queue = c.spare[:0]
	c.mu.Unlock()
	var err error
	for _, m := range batch {
		if err == nil {
			_, err = c.bw.Write(m)
		}
		wire.PutBuf(m)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	clear(batch)
	c.mu.Lock()
	c.spare = batch[:0]
	c.mu.Unlock()
	return err
}

// disconnect ends the connection at the end of the run: DPR, DPA (or
// timeout), close.
func (c *conn) disconnect(timeout time.Duration) {
	c.mu.Lock()
	broken := c.closing && c.err != nil
	c.closing, c.byUs = true, true
	c.e2e++
	e2e := c.e2e
	hbh := c.pend.next
	c.mu.Unlock()
	if !broken {
		c.queueBase(c.id.dpr(hbh, e2e))
		t := time.NewTimer(timeout)
		select {
		case <-c.dpa:
		case <-c.readDone:
		case <-t.C:
			c.mu.Lock()
			if c.err == nil {
				c.err = fmt.Errorf("no DPA within %s", timeout)
			}
			c.mu.Unlock()
		}
		t.Stop()
	}
	// Closing the socket first also frees a writer stuck on a node that
	// stopped reading.
	close(c.quit)
	c.nc.Close()
	<-c.writeDone
	<-c.readDone
}
