package loadgen

// pendEntry is one request awaiting its answer.
type pendEntry struct {
	sess *Session
	sent int64 // when latency starts: send or scheduled time, ns since the run's epoch
	hbh  uint32
	e2e  uint32
	used bool
}

// pending is a connection's table of requests awaiting answers: a ring
// indexed by Hop-by-Hop Identifier modulo its power-of-two size, so that
// adding and matching cost an index and a compare, without map churn.
//
// Identifiers are handed out in increasing order from a random start; one
// whose slot is still taken by an older request (one slow to be answered)
// is skipped. The ring doubles when half full, so a free slot is always
// near. Not safe for concurrent use: the connection's mutex guards it.
type pending struct {
	ring []pendEntry
	mask uint32
	next uint32 // next identifier to try
	tail uint32 // every request still pending has an identifier in [tail, next)
	n    int    // requests pending
}

// minPending is the smallest ring.
const minPending = 64

func newPending(size int, start uint32) pending {
	c := minPending
	for c < size {
		c *= 2
	}
	return pending{ring: make([]pendEntry, c), mask: uint32(c - 1), next: start, tail: start}
}

// add records a request of session s sent at sent and returns the
// Hop-by-Hop Identifier it must carry.
func (p *pending) add(s *Session, sent int64, e2e uint32) uint32 {
	if 2*(p.n+1) > len(p.ring) {
		p.grow()
	}
	for {
		id := p.next
		p.next++
		e := &p.ring[id&p.mask]
		if e.used {
			continue
		}
		*e = pendEntry{sess: s, sent: sent, hbh: id, e2e: e2e, used: true}
		p.n++
		return id
	}
}

// remove takes the request an answer with these identifiers belongs to.
func (p *pending) remove(hbh, e2e uint32) (pendEntry, bool) {
	e := &p.ring[hbh&p.mask]
	if !e.used || e.hbh != hbh || e.e2e != e2e {
		return pendEntry{}, false
	}
	out := *e
	*e = pendEntry{}
	p.n--
	return out, true
}

// expire removes, oldest first, the requests sent before deadline and
// appends their sessions to out. Identifiers are issued in send order, so
// it stops at the first request still within its time.
func (p *pending) expire(deadline int64, out []*Session) []*Session {
	for p.tail != p.next && p.n > 0 {
		e := &p.ring[p.tail&p.mask]
		if e.used && e.hbh == p.tail {
			if e.sent >= deadline {
				break
			}
			out = append(out, e.sess)
			*e = pendEntry{}
			p.n--
		}
		p.tail++
	}
	if p.n == 0 {
		p.tail = p.next
	}
	return out
}

// drain removes every request and appends their sessions to out.
func (p *pending) drain(out []*Session) []*Session {
	for i := range p.ring {
		if e := &p.ring[i]; e.used {
			out = append(out, e.sess)
			*e = pendEntry{}
		}
	}
	p.n = 0
	p.tail = p.next
	return out
}

// grow doubles the ring. Identifiers distinct modulo the old size are
// distinct modulo the new one, so the entries move without collisions.
func (p *pending) grow() {
	ring := make([]pendEntry, 2*len(p.ring))
	mask := uint32(len(ring) - 1)
	for _, e := range p.ring {
		if e.used {
			ring[e.hbh&mask] = e
		}
	}
	p.ring, p.mask = ring, mask
}
