package peers

import (
	"bufio"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/wire"
)

// Errors returned by Conn.Send.
var (
	ErrClosed     = errors.New("peers: connection closed")
	ErrQueueFull  = errors.New("peers: write queue full")
	ErrNotOpen    = errors.New("peers: peer not open")
	ErrPeerClosed = errors.New("peers: peer closed")
)

// writeTimeout bounds one batched write: a peer that stops reading for this
// long is cut off rather than allowed to pin its queue forever. (A variable
// so that tests can shorten it.)
var writeTimeout = 30 * time.Second

// writerPool holds the buffers a writer coalesces a batch into; they are
// taken only while writing, so idle connections hold none.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// Conn is one transport connection to a peer: one reader (the owner's
// goroutine calling readLoop) and a writer goroutine that batches queued
// messages into few system calls. The writer runs only while there is
// something to write: it is started by the first message queued on an idle
// connection and ends once the queue is empty, so that an idle peer costs
// no writer goroutine.
type Conn struct {
	nc        net.Conn
	rd        *wire.Reader
	mlog      *slog.Logger // the manager's logger: see logger
	peerID    string       // Origin-Host of the admitted CER, for logs
	initiator bool

	mu        sync.Mutex
	queue     []queued
	spare     []queued
	pending   map[uint32]any // requests awaiting answers, by hop-by-hop
	maxQueue  int
	closing   bool // no more sends; close once the queue is written
	closed    bool
	closeErr  error
	done      chan struct{}
	closeOnce sync.Once

	// wakes are writers this connection's reader queued messages for and
	// will wake once it has no whole frame left to read (SendVia): one
	// wake-up per burst instead of one per message. Only the reader
	// goroutine touches it.
	wakes []*Conn

	// Write backlog (conn_overload.go), changed under mu and read
	// without it: backlog counts the messages queued or being written,
	// owed the answers among them (what this side owes the peer); the
	// reader waits on room while paused.
	// writing: a writer goroutine is running. It is cleared under mu
	// when the writer finds the queue empty, so that a message queued
	// after that finds it clear and starts a new writer.
	writing atomic.Bool
	// writeLoopFn is c.writeLoop as a func value, made once: `go fn()`
	// of a value without arguments starts the goroutine without
	// allocating, where `go c.writeLoop()` allocates a closure per start.
	writeLoopFn func()

	backlog atomic.Int32
	owed    atomic.Int32
	paused  atomic.Bool
	room    chan struct{}
	limits  backlogLimits
	ov      *overload

	hbh     atomic.Uint32
	_       [60]byte // keep the reader's counter off the senders' cache line
	rxCount atomic.Uint64
	_       [56]byte
	txCount atomic.Uint64
	_       [56]byte
	// inbound counts the peer's requests received on this connection and
	// not yet answered (BeginInbound/EndInbound): a connection is drained
	// only when these are answered too.
	inbound atomic.Int64
}

// queued is one message waiting for the writer.
type queued struct {
	m wire.Msg
}

// readBufSize is each connection's read buffer: small, so that thousands of
// idle peers stay cheap; a larger message is read straight into its frame.
const readBufSize = 4 << 10

func newConn(nc net.Conn, initiator bool, maxMsg, maxQueue int, log *slog.Logger, ov *overload) *Conn {
	c := &Conn{
		nc:        nc,
		rd:        wire.NewReaderSize(nc, maxMsg, readBufSize),
		mlog:      log,
		initiator: initiator,
		maxQueue:  maxQueue,
		done:      make(chan struct{}),
		room:      make(chan struct{}, 1),
		limits:    newBacklogLimits(maxQueue),
		ov:        ov,
	}
	c.writeLoopFn = c.writeLoop
	c.hbh.Store(rand.Uint32())
	return c
}

// logger returns the logger for lines about the connection. It is built
// when a line is written (rare: warnings) rather than kept per connection.
func (c *Conn) logger() *slog.Logger {
	if c.peerID != "" {
		return c.mlog.With("remote", c.nc.RemoteAddr().String(), "peer", c.peerID)
	}
	return c.mlog.With("remote", c.nc.RemoteAddr().String())
}

// NextHopByHop returns a Hop-by-Hop Identifier unique on this connection
// (RFC 6733 §3: monotonically increasing from a random start), never 0.
func (c *Conn) NextHopByHop() uint32 {
	for {
		if id := c.hbh.Add(1); id != 0 {
			return id
		}
	}
}

// Counts returns the messages received and sent on the connection.
func (c *Conn) Counts() (rx, tx uint64) { return c.rxCount.Load(), c.txCount.Load() }

// RemoteAddr is the peer's transport address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr is the agent's transport address on this connection.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// TLS returns the TLS state, or nil on plain TCP.
func (c *Conn) TLS() *tls.ConnectionState {
	if tc, ok := c.nc.(*tls.Conn); ok {
		s := tc.ConnectionState()
		return &s
	}
	return nil
}

// Send queues m for writing. On success the connection owns m and returns
// it to the wire pool once written; on error (the connection is closed or
// closing) the caller keeps it.
//
// Send is for answers and base-protocol messages, and never refuses one
// for a full queue: an answer is owed to the peer, and dropping it would
// leave the peer waiting for nothing. The queue stays bounded because the
// connection's reader stops reading new requests while the answers owed
// fill it (PauseReading), and a peer that reads nothing for writeTimeout is
// disconnected. Requests go through SendRequest, which does refuse.
func (c *Conn) Send(m wire.Msg) error {
	if err := c.enqueue(m); err != nil {
		return err
	}
	c.signal()
	return nil
}

// SendVia is Send for a message produced while reading connection via, on
// via's reader goroutine (a relayed request or answer): the writer is woken
// when via's reader has drained what it has buffered, so that a burst of
// messages goes out in one write.
func (c *Conn) SendVia(m wire.Msg, via *Conn) error {
	if err := c.enqueue(m); err != nil {
		return err
	}
	c.later(via)
	return nil
}

// enqueue appends m to the queue unless the connection is closed or
// closing.
func (c *Conn) enqueue(m wire.Msg) error {
	c.mu.Lock()
	if c.closed || c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	c.queue = append(c.queue, queued{m: m})
	c.backlog.Add(1)
	if !m.IsRequest() {
		c.owed.Add(1)
	}
	c.mu.Unlock()
	return nil
}

// later wakes c's writer now, or, given the connection whose reader is
// running, once that reader has nothing more buffered.
func (c *Conn) later(via *Conn) {
	if via == nil {
		c.signal()
		return
	}
	for _, w := range via.wakes {
		if w == c {
			return
		}
	}
	via.wakes = append(via.wakes, c)
}

// flushWakes wakes the writers queued by this reader; the reader calls it
// before it may block.
func (c *Conn) flushWakes() {
	for i, w := range c.wakes {
		w.signal()
		c.wakes[i] = nil
	}
	c.wakes = c.wakes[:0]
}

// signal starts the writer unless it is running: a running writer writes
// whatever was queued before it finds the queue empty. (A writer started
// for a message another one already took finds nothing and ends.)
func (c *Conn) signal() {
	if c.writing.CompareAndSwap(false, true) {
		go c.writeLoopFn()
	}
}

// SendRequest gives request m a Hop-by-Hop Identifier unique on this
// connection, records entry as pending under it, and queues m. As with
// Send, the connection owns m on success. The entry comes back from
// TakePending when the answer arrives, or from DrainPending.
func (c *Conn) SendRequest(m wire.Msg, entry any) (uint32, error) {
	return c.SendRequestVia(m, entry, nil)
}

// SendRequestVia is SendRequest with the writer woken as for SendVia; via
// nil wakes it at once. A request is refused with ErrQueueFull when
// limits.write_queue messages are waiting for the writer already: unlike
// an answer, it can still be refused (3004) or sent elsewhere.
func (c *Conn) SendRequestVia(m wire.Msg, entry any, via *Conn) (uint32, error) {
	hbh := c.NextHopByHop()
	m.SetHopByHop(hbh)
	c.mu.Lock()
	switch {
	case c.closed || c.closing:
		c.mu.Unlock()
		return 0, ErrClosed
	case int(c.backlog.Load()) >= c.maxQueue:
		c.mu.Unlock()
		return 0, ErrQueueFull
	}
	if c.pending == nil {
		c.pending = make(map[uint32]any)
	}
	c.pending[hbh] = entry
	c.queue = append(c.queue, queued{m: m})
	c.backlog.Add(1)
	c.mu.Unlock()
	c.later(via)
	return hbh, nil
}

// TakePending removes and returns the entry recorded for hop-by-hop id hbh.
// Whoever takes an entry owns it: an answer and a timeout cannot both win.
func (c *Conn) TakePending(hbh uint32) (any, bool) {
	c.mu.Lock()
	e, ok := c.pending[hbh]
	if ok {
		delete(c.pending, hbh)
	}
	c.mu.Unlock()
	return e, ok
}

// DrainPending removes and returns every pending entry, for failover when
// the connection stops carrying traffic.
func (c *Conn) DrainPending() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	out := make([]any, 0, len(c.pending))
	for hbh, e := range c.pending {
		out = append(out, e)
		delete(c.pending, hbh)
	}
	return out
}

// PendingLen is the number of requests awaiting answers on the connection.
func (c *Conn) PendingLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// CloseAfterFlush refuses further sends and closes the connection once what
// is queued has been written (a DPA, a failed CEA).
func (c *Conn) CloseAfterFlush() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.signal()
}

// Close closes the connection at once; queued messages are dropped
// (answers among them are counted as lost; requests are tracked and failed
// over by the routing layer).
func (c *Conn) Close(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.closeErr = err
		q := c.queue
		c.queue = nil
		lost := c.owed.Swap(0)
		c.backlog.Store(0)
		c.mu.Unlock()
		c.lostAnswers(int(lost))
		for _, e := range q {
			wire.PutBuf(e.m)
		}
		c.nc.Close()
		close(c.done)
	})
}

// Err is the reason the connection closed, nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// writeLoop is the writer: it writes batches until the queue is empty,
// then ends (signal starts it again). A writer that closes the connection
// leaves writing set: none is needed again.
func (c *Conn) writeLoop() {
	for {
		// Double buffering: Send appends to one slice while this goroutine
		// writes the other. Each swap hands the written slice back as the
		// spare, so the two never share an array.
		c.mu.Lock()
		if c.closed || (len(c.queue) == 0 && !c.closing) {
			c.writing.Store(false)
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue = c.spare[:0]
		c.spare = nil
		closing := c.closing
		c.mu.Unlock()
		var err error
		answers := 0
		if len(batch) > 0 {
			answers, err = c.write(batch)
			clear(batch)
		}
		c.mu.Lock()
		c.spare = batch[:0]
		more := len(c.queue) > 0
		if err == nil && !c.closed {
			c.backlog.Add(-int32(len(batch)))
			c.owed.Add(-int32(answers))
		}
		c.mu.Unlock()
		if c.paused.Load() {
			select {
			case c.room <- struct{}{}:
			default:
			}
		}
		switch {
		case err != nil:
			c.writeFailed(err)
			c.Close(err)
			return
		case closing && !more:
			c.Close(errLocalClose)
			return
		}
	}
}

// write writes a batch and returns the number of answers in it.
func (c *Conn) write(batch []queued) (answers int, err error) {
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if len(batch) == 1 {
		if !batch[0].m.IsRequest() {
			answers = 1
		}
		_, err := c.nc.Write(batch[0].m)
		wire.PutBuf(batch[0].m)
		c.txCount.Add(1)
		return answers, err
	}
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(c.nc)
	for _, e := range batch {
		if !e.m.IsRequest() {
			answers++
		}
		if err == nil {
			_, err = bw.Write(e.m)
		}
		wire.PutBuf(e.m)
	}
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writerPool.Put(bw)
	c.txCount.Add(uint64(len(batch)))
	return answers, err
}

var errLocalClose = errors.New("peers: closed locally")

// Default message content limits (Options.MaxAVPs, Options.MaxAVPDepth):
// far above what real applications send (a large S6a ULA carries a few
// hundred AVPs, nested five deep) and far below what a hostile 64 KiB frame
// could hold.
const (
	DefaultMaxAVPs     = 4096
	DefaultMaxAVPDepth = 16
)

// AVPLimits returns the bounds on the AVPs of one message: their number,
// nested ones included, and the nesting depth of Grouped AVPs. The routing
// layer enforces them on every request it receives.
func (m *Manager) AVPLimits() (maxAVPs, maxDepth int) {
	return m.opts.MaxAVPs, m.opts.MaxAVPDepth
}

// FrameErrors is the number of connections closed because a frame header
// could not be trusted (version, length, size limit): one per connection,
// as the stream cannot be resynchronised after one.
func (m *Manager) FrameErrors() uint64 { return m.frameErrors.Load() }
