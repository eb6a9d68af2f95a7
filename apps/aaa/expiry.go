package aaa

import (
	"time"
)

// expiryLoop releases expired sessions every ExpiryInterval.
func (s *Server) expiryLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.expire(s.now())
		}
	}
}

// expire releases every session whose expiry is at or before now and
// returns how many it released.
func (s *Server) expire(now time.Time) int {
	n, err := s.store.expire(now)
	if err != nil {
		s.log.Error("expiry failed", "err", err)
	}
	return n
}

// memExpire is expire on the embedded store.
func (s *Server) memExpire(now time.Time) int {
	it, err := s.db.Txn(false).LowerBound(tableSessions, indexExpires, uint64(0))
	if err != nil {
		s.log.Error("expiry scan failed", "err", err)
		return 0
	}
	limit := uint64(now.UnixNano())
	var due []*Session
	for v := it.Next(); v != nil; v = it.Next() {
		sess := v.(*Session)
		if sess.ExpiresAt > limit {
			break
		}
		due = append(due, sess)
	}
	n := 0
	for _, sess := range due {
		// Only the version that expired: a re-authorization since the scan
		// keeps the session.
		got, err := s.memRemove(sess.ID, sess, false)
		if err != nil {
			s.log.Error("expiry not stored", "session", sess.ID, "err", err)
			continue
		}
		if got != nil {
			n++
			s.log.Debug("session expired", "session", sess.ID, "user", sess.User, "addr", sess.Addr)
		}
	}
	return n
}
