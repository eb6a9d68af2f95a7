package ocs

import (
	"sync"
	"time"
)

// RFC 4006 §5.1 and §7: a client that gets no answer resends the same
// CCR (same Session-Id and CC-Request-Number, T flag set), possibly after
// the server already acted on it. For an open session the cached last
// answer serves the duplicate; an EVENT or a TERMINATION leaves no session
// behind, so their answers are kept here for a while: a resent direct
// debit must not be charged twice, and a resent CCR-T must get the same
// answer, not 5002 DIAMETER_UNKNOWN_SESSION_ID.
const (
	doneTTL = 5 * time.Minute
	doneMax = 1 << 16
)

type doneKey struct {
	sid string
	num uint32
}

type doneEntry struct {
	ans []byte
	at  time.Time
}

// doneCache remembers the answers to completed one-shot requests, bounded
// by doneMax entries (oldest dropped first) and doneTTL.
type doneCache struct {
	mu    sync.Mutex
	m     map[doneKey]doneEntry
	order []doneKey // insertion order, a ring of doneMax
	head  int
}

func (c *doneCache) get(sid string, num uint32, now time.Time) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[doneKey{sid, num}]
	if !ok || now.Sub(e.at) > doneTTL {
		return nil
	}
	return e.ans
}

func (c *doneCache) put(sid string, num uint32, ans []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[doneKey]doneEntry)
	}
	k := doneKey{sid, num}
	if _, ok := c.m[k]; ok {
		c.m[k] = doneEntry{ans, now}
		return
	}
	if len(c.order) < doneMax {
		c.order = append(c.order, k)
	} else {
		delete(c.m, c.order[c.head])
		c.order[c.head] = k
		c.head = (c.head + 1) % doneMax
	}
	c.m[k] = doneEntry{ans, now}
}
