package peers

import (
	"sync/atomic"
	"time"
)

// How a connection's write backlog turns into load shedding and
// backpressure. limits.write_queue (Options.WriteQueue) is the unit:
//
//   - requests: SendRequest refuses one once that many messages wait for
//     the writer (ErrQueueFull), and the router sends no new request to a
//     connection whose backlog reaches 3/4 of it (Congested) but tries
//     another peer or answers 3004;
//   - answers are never refused for a full queue (they are owed). Once
//     the answers owed on a connection reach half of it, the router
//     answers the peer's new requests 3004 at once instead of serving them
//     (Backlogged); once they reach all of it, the connection's reader
//     stops reading until the writer has brought them down to a quarter
//     (PauseReading), so the peer's requests wait in its own socket;
//   - a peer that reads nothing for writeTimeout is disconnected, the
//     answers still queued for it counted as lost.
type backlogLimits struct {
	congested  int32 // requests: Congested from here
	backlogged int32 // owed answers: Backlogged from here
	pause      int32 // owed answers: the reader pauses from here
	resume     int32 // ...and resumes at or below this
}

func newBacklogLimits(maxQueue int) backlogLimits {
	q := int32(max(maxQueue, 4))
	return backlogLimits{congested: q * 3 / 4, backlogged: q / 2, pause: q, resume: q / 4}
}

// overload counts what the connections of one manager do under load.
type overload struct {
	readPauses    atomic.Uint64
	stalledCloses atomic.Uint64
	answersLost   atomic.Uint64
	pauseLog      logLimiter
	stallLog      logLimiter
}

// OverloadCounts are the peer layer's overload counters (Manager.Overload).
type OverloadCounts struct {
	// ReadPauses counts the times a connection's reader stopped reading
	// because the answers owed to its peer filled the write queue.
	ReadPauses uint64
	// StalledCloses counts connections closed because the peer read
	// nothing for the write timeout.
	StalledCloses uint64
	// AnswersLost counts answers still queued on a connection when it
	// closed (stalled, reset by the peer, shut down).
	AnswersLost uint64
}

// Overload returns the peer layer's overload counters.
func (m *Manager) Overload() OverloadCounts {
	return OverloadCounts{
		ReadPauses:    m.ov.readPauses.Load(),
		StalledCloses: m.ov.stalledCloses.Load(),
		AnswersLost:   m.ov.answersLost.Load(),
	}
}

// Backlogged reports whether the answers owed to the peer and not yet
// written reach half the write queue: its new requests should be refused
// (3004) rather than served, since their answers would only queue up.
func (c *Conn) Backlogged() bool { return c.owed.Load() >= c.limits.backlogged }

// Congested reports whether the messages waiting for the writer reach 3/4
// of the write queue: no new request should be sent on the connection.
func (c *Conn) Congested() bool { return c.backlog.Load() >= c.limits.congested }

// OwedLen is the number of answers queued for the peer and not yet
// written.
func (c *Conn) OwedLen() int { return int(c.owed.Load()) }

// PauseReading is called by the connection's reader between messages:
// while the answers owed to the peer fill the write queue it reads
// nothing more (the peer's requests wait in its socket, and TCP slows the
// peer down) until the writer has brought them down to a quarter of it,
// or the connection closes. The wait is bounded: a writer that cannot
// write for writeTimeout closes the connection.
func (c *Conn) PauseReading() {
	if c.owed.Load() < c.limits.pause {
		return
	}
	c.flushWakes() // what this reader queued elsewhere must not wait on it
	if c.ov != nil {
		c.ov.readPauses.Add(1)
		c.ov.pauseLog.warn(c.logger(), "peer reads its answers too slowly: reading its requests paused",
			"queued_answers", c.owed.Load(), "write_queue", c.maxQueue)
	}
	c.paused.Store(true)
	defer c.paused.Store(false)
	for c.owed.Load() > c.limits.resume {
		select {
		case <-c.room:
		case <-c.done:
			return
		}
	}
}

// writeFailed counts a write that failed because the peer read nothing
// for writeTimeout.
func (c *Conn) writeFailed(err error) {
	if c.ov == nil || !isTimeout(err) {
		return
	}
	c.ov.stalledCloses.Add(1)
	c.ov.stallLog.warn(c.logger(), "peer read nothing for the write timeout: closing its connection",
		"timeout", writeTimeout.String(), "queued_answers", c.owed.Load())
}

// lostAnswers counts the answers dropped with a closed connection's queue.
func (c *Conn) lostAnswers(n int) {
	if c.ov != nil && n > 0 {
		c.ov.answersLost.Add(uint64(n))
	}
}

// init sets the log intervals.
func (o *overload) init() {
	o.pauseLog.every = 10 * time.Second
	o.stallLog.every = 10 * time.Second
}
