package aaa

import (
	"time"
)

// sessionStore keeps the server's sessions, the addresses they hold and
// the sessions ended by STR. The embedded store (go-memdb and the session
// log in DataDir) is the default; the shared store keeps them in Redis so
// that every agent on the same Redis serves the same sessions from one
// pool (shared.go).
type sessionStore interface {
	// authorize stores a new session for user with a fresh address, or
	// refreshes the authorization of the session when it exists for the
	// same user (errUserMismatch otherwise); errSessionEnded for a
	// session ended by STR within endedTTL, errPoolExhausted when no
	// address is free. It returns once the session is committed.
	authorize(id, user, nasHost, nasRealm string, now time.Time) (*Session, error)
	// end removes the session as ended by its NAS and remembers it for
	// endedTTL. When there is no session but one was ended within
	// endedTTL, sess is nil and user is the User-Name of its STA; when
	// there is neither, both are zero.
	end(id string, now time.Time) (sess *Session, user string, err error)
	// release removes the session (nil when there was none).
	release(id string) (*Session, error)
	// get returns the session with id, nil when there is none.
	get(id string) (*Session, error)
	// all returns every session.
	all() ([]Session, error)
	// expire releases the sessions whose expiry is at or before now.
	expire(now time.Time) (int, error)
	// close flushes what the store holds for this server.
	close() error
}

// embeddedStore is the server's own go-memdb table and session log.
type embeddedStore struct{ s *Server }

var _ sessionStore = embeddedStore{}

func (e embeddedStore) authorize(id, user, nasHost, nasRealm string, now time.Time) (*Session, error) {
	return e.s.memAuthorize(id, user, nasHost, nasRealm, now)
}

func (e embeddedStore) end(id string, now time.Time) (*Session, string, error) {
	s := e.s
	sess, err := s.memRemove(id, nil, true)
	if err != nil || sess != nil {
		return sess, "", err
	}
	s.mu.Lock()
	ended, ok := s.ended.get(id, now.UnixNano())
	s.mu.Unlock()
	if !ok {
		return nil, "", nil
	}
	// A resent STR gets its STA once the end is durable.
	if ended.c != nil {
		if err := ended.c.wait(); err != nil {
			return nil, "", err
		}
	}
	return nil, ended.User, nil
}

func (e embeddedStore) release(id string) (*Session, error) { return e.s.memRemove(id, nil, false) }

func (e embeddedStore) get(id string) (*Session, error) {
	return getSession(e.s.db.Txn(false), id), nil
}

func (e embeddedStore) all() ([]Session, error) {
	it, err := e.s.db.Txn(false).Get(tableSessions, indexID)
	if err != nil {
		return nil, err
	}
	var out []Session
	for v := it.Next(); v != nil; v = it.Next() {
		out = append(out, *v.(*Session))
	}
	return out, nil
}

func (e embeddedStore) expire(now time.Time) (int, error) { return e.s.memExpire(now), nil }

func (e embeddedStore) close() error { return e.s.wal.close() }
