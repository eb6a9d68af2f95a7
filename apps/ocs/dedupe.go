package ocs

import (
	"sync"
	"time"
)

// RFC 4006 §5.1 and §7: a client that gets no answer resends the same
// CCR (same Session-Id and CC-Request-Number, T flag set), possibly after
// the server already acted on it, possibly after the server restarted.
// For an open session its durable state holds the answer to its last
// request (sessState.Ans); an EVENT or a TERMINATION leaves no session
// behind, so their answers are kept here for a while, and written in the
// same log record as the change they answer: a resent direct debit must
// not be charged twice, and a resent CCR-T must get the same answer, not
// 5002 DIAMETER_UNKNOWN_SESSION_ID, also after a crash.
const (
	doneTTL = 5 * time.Minute
	doneMax = 1 << 16
)

type doneKey struct {
	sid string
	num uint32
}

// doneState is the durable form of a completed one-shot request's answer.
type doneState struct {
	Sid string `json:"sid"`
	Num uint32 `json:"n"`
	Ans []byte `json:"ans"`
	At  int64  `json:"at"` // unix nanoseconds
}

type doneEntry struct {
	ans []byte
	at  time.Time
	c   *commit // the commit that makes ans durable; nil once recovered
}

// doneCache remembers the answers to completed one-shot requests, bounded
// by doneMax entries (oldest dropped first) and doneTTL.
type doneCache struct {
	mu    sync.Mutex
	m     map[doneKey]doneEntry
	order []doneKey // insertion order, a ring of doneMax
	head  int
}

// get returns the answer to (sid, num) and the commit to wait for before
// sending it, or nil.
func (c *doneCache) get(sid string, num uint32, now time.Time) ([]byte, *commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[doneKey{sid, num}]
	if !ok || now.Sub(e.at) > doneTTL {
		return nil, nil
	}
	return e.ans, e.c
}

func (c *doneCache) put(sid string, num uint32, ans []byte, now time.Time, cm *commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[doneKey]doneEntry)
	}
	k := doneKey{sid, num}
	if _, ok := c.m[k]; ok {
		c.m[k] = doneEntry{ans, now, cm}
		return
	}
	if len(c.order) < doneMax {
		c.order = append(c.order, k)
	} else {
		delete(c.m, c.order[c.head])
		c.order[c.head] = k
		c.head = (c.head + 1) % doneMax
	}
	c.m[k] = doneEntry{ans, now, cm}
}

// states returns the entries younger than doneTTL, for a snapshot.
func (c *doneCache) states(now time.Time) []doneState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]doneState, 0, len(c.m))
	n := len(c.order)
	for i := range n {
		k := c.order[(c.head+i)%n]
		if e, ok := c.m[k]; ok && now.Sub(e.at) <= doneTTL {
			out = append(out, doneState{Sid: k.sid, Num: k.num, Ans: e.ans, At: e.at.UnixNano()})
		}
	}
	return out
}
