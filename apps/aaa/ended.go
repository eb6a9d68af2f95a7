package aaa

import "time"

// A NAS that gets no STA resends the STR (T flag), possibly after the
// session was released, possibly after a restart: it must get the first
// STA, not 5002. Sessions ended by STR are therefore remembered, in the
// same log record as their release, for endedTTL and at most endedMax of
// them; an AAR for one of them (a late copy: RFC 6733 §8.8 never reuses a
// Session-Id) is refused rather than given a second address.
const (
	endedTTL = 5 * time.Minute
	endedMax = 1 << 16
)

// endedSession is a session ended by STR: the User-Name its STA carried,
// when it ended (Unix ns), and the commit that makes its end durable (nil
// once recovered).
type endedSession struct {
	User string
	At   int64
	c    *commit
}

// endedSet holds the sessions ended by STR, oldest first.
type endedSet struct {
	m     map[string]endedSession
	order []endedRef
}

type endedRef struct {
	id string
	at int64
}

// add remembers id as ended at at, dropping what is older than endedTTL
// before at and the oldest beyond endedMax.
func (e *endedSet) add(id, user string, at int64, c *commit) {
	if e.m == nil {
		e.m = map[string]endedSession{}
	}
	e.m[id] = endedSession{User: user, At: at, c: c}
	e.order = append(e.order, endedRef{id, at})
	e.prune(at)
}

// prune drops the entries older than endedTTL at now, and the oldest
// beyond endedMax.
func (e *endedSet) prune(now int64) {
	for len(e.order) > 0 {
		r := e.order[0]
		if cur, ok := e.m[r.id]; ok && cur.At == r.at {
			if now-r.at <= int64(endedTTL) && len(e.m) <= endedMax {
				return
			}
			delete(e.m, r.id)
		}
		e.order = e.order[1:]
	}
}

// get returns the session id ended within endedTTL of now.
func (e *endedSet) get(id string, now int64) (endedSession, bool) {
	s, ok := e.m[id]
	if !ok || now-s.At > int64(endedTTL) {
		return endedSession{}, false
	}
	return s, true
}

// each calls f for the entries, oldest first.
func (e *endedSet) each(f func(id string, s endedSession)) {
	for _, r := range e.order {
		if cur, ok := e.m[r.id]; ok && cur.At == r.at {
			f(r.id, cur)
		}
	}
}
