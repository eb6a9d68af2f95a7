package aaa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/dra-project/dra/apps"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"
	memdb "github.com/hashicorp/go-memdb"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// NASREQ command codes (RFC 7155 §3).
const (
	cmdAA                 = 265
	cmdReAuth             = wire.CmdReAuth
	cmdAbortSession       = wire.CmdAbortSession
	cmdSessionTermination = wire.CmdSessionTermination
)

// Identity is the agent's identity (apps.Identity).
type Identity = apps.Identity

// Originator routes the requests the application originates
// (apps.Originator); *routing.Router satisfies it.
type Originator = apps.Originator

// ErrUnknownSession is returned by Abort and ReAuth for a Session-Id the
// server does not hold.
var ErrUnknownSession = errors.New("aaa: unknown session")

// Server is the NASREQ server. It is a routing.Handler.
type Server struct {
	cfg   Config
	id    Identity
	orig  Originator
	log   *slog.Logger
	users *Users

	// mu serializes session writes: the memdb write transaction, address
	// allocation and the order of records in the log.
	mu   sync.Mutex
	db   *memdb.MemDB
	pool *pool
	wal  *wal
	// ended holds the sessions ended by STR, for retransmissions.
	ended endedSet

	// store keeps the sessions: embedded (the fields above) or shared
	// (Redis).
	store sessionStore

	now    func() time.Time
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

var _ routing.Handler = (*Server)(nil)

// New validates cfg, loads the users, recovers the sessions and their
// addresses from cfg.DataDir and starts the expiry loop.
func New(cfg Config, id Identity, orig Originator, log *slog.Logger) (*Server, error) {
	s, err := newServer(cfg, id, orig, log)
	if err != nil {
		return nil, err
	}
	prefix, _ := parsePool(cfg.Pool)
	db, err := memdb.NewMemDB(schema)
	if err != nil {
		return nil, fmt.Errorf("aaa: session table: %w", err)
	}
	w, live, ended, err := openWAL(cfg.DataDir, s.log)
	if err != nil {
		return nil, err
	}
	txn := db.Txn(true)
	for _, s := range live {
		if err := txn.Insert(tableSessions, s); err != nil {
			txn.Abort()
			w.close()
			return nil, fmt.Errorf("aaa: session table: %w", err)
		}
	}
	txn.Commit()
	s.db, s.pool, s.wal, s.ended = db, newPoolWith(prefix, live), w, ended
	s.store = embeddedStore{s}
	s.log.Info("aaa started", "sessions", len(live), "users", s.users.Len(), "pool", prefix.String())
	s.start()
	return s, nil
}

// newServer validates cfg and loads the users: what both stores share.
func newServer(cfg Config, id Identity, orig Originator, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if id.OriginHost == "" || id.OriginRealm == "" {
		return nil, errors.New("aaa: identity: origin host and realm must be set")
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("app", "aaa")
	users := labUsers()
	if cfg.UsersFile != "" {
		u, err := LoadUsers(cfg.UsersFile)
		if err != nil {
			return nil, err
		}
		users = u
		if fi, err := os.Stat(cfg.UsersFile); err == nil && u.reversible && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("users file holds reversible CHAP secrets and is readable by others", "file", cfg.UsersFile, "mode", fi.Mode().Perm().String())
		}
	} else {
		log.Warn("lab mode: serving the demo user", "user", LabUser)
	}
	return &Server{cfg: cfg, id: id, orig: orig, log: log, users: users, now: time.Now, stop: make(chan struct{})}, nil
}

// start starts the expiry loop.
func (s *Server) start() {
	s.wg.Add(1)
	go s.expiryLoop()
}

// Apps advertises NASREQ as an Auth-Application-Id.
func (s *Server) Apps() []peers.App { return []peers.App{{ID: AppID}} }

// Close stops the expiry loop and flushes and closes the session log.
func (s *Server) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.stop)
		s.wg.Wait()
		err = s.store.close()
	})
	return err
}

// Session returns a copy of the session with id (none when the store
// could not be read).
func (s *Server) Session(id string) (Session, bool) {
	p, err := s.store.get(id)
	if err != nil || p == nil {
		return Session{}, false
	}
	return *p, true
}

// Sessions returns a copy of every session (none when the store could
// not be read).
func (s *Server) Sessions() []Session {
	out, err := s.store.all()
	if err != nil {
		s.log.Warn("sessions not read", "err", err)
	}
	return out
}

// ServeDiameter serves AAR and STR; other commands are answered 3001.
func (s *Server) ServeDiameter(ctx context.Context, r *routing.Request) (routing.Answer, error) {
	code := r.Msg.Code()
	if code != cmdAA && code != cmdSessionTermination {
		return s.wireError(r.Msg, wire.ResultCommandUnsupported, "command not supported by NASREQ", nil), nil
	}
	if ans := apps.CheckRequest(r.Msg, dictionary, s.id); ans != nil {
		return ans, nil
	}
	m, err := decode(r.Msg)
	if err != nil {
		s.log.Warn("undecodable request", "code", code, "err", err)
		return s.wireError(r.Msg, wire.ResultUnableToComply, "undecodable request", nil), nil
	}
	var a *diam.Message
	switch code {
	case cmdAA:
		a = s.serveAAR(m)
	default:
		a = s.serveSTR(m)
	}
	b, err := a.Serialize()
	if err != nil {
		return nil, fmt.Errorf("aaa: encode answer: %w", err)
	}
	return b, nil
}

// decode parses a message with go-diameter, turning its panics into
// errors.
func decode(b []byte) (m *diam.Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			m, err = nil, fmt.Errorf("aaa: decode: panic: %v", v)
		}
	}()
	m, err = diam.ReadMessage(bytes.NewReader(b), dict.Default)
	if err != nil {
		return nil, fmt.Errorf("aaa: decode: %w", err)
	}
	return m, nil
}

// wireError builds an error answer from the raw request.
func (s *Server) wireError(req wire.Msg, code uint32, msg string, failed []byte) routing.Answer {
	return wire.ErrorAnswer(req, wire.ErrorSpec{
		OriginHost: s.id.OriginHost, OriginRealm: s.id.OriginRealm,
		ResultCode: code, Message: msg, FailedAVP: failed,
	})
}

// expiresAt computes a session's expiry: the earlier of its Session-Timeout
// from start and its Authorization-Lifetime plus grace from now.
func (s *Server) expiresAt(started, now time.Time) uint64 {
	exp := uint64(noExpiry)
	if s.cfg.SessionTimeout > 0 {
		exp = min(exp, uint64(started.Add(s.cfg.SessionTimeout).UnixNano()))
	}
	if s.cfg.AuthorizationLifetime > 0 {
		exp = min(exp, uint64(now.Add(s.cfg.AuthorizationLifetime+s.cfg.AuthGracePeriod).UnixNano()))
	}
	return exp
}

// authorize stores a new session for user, with a fresh address, or
// refreshes the session's authorization when it exists for the same user.
// It returns once the session is durable (or committed in Redis).
func (s *Server) authorize(id, userName, nasHost, nasRealm string) (*Session, error) {
	return s.store.authorize(id, userName, nasHost, nasRealm, s.now())
}

// memAuthorize is authorize on the embedded store.
func (s *Server) memAuthorize(id, userName, nasHost, nasRealm string, now time.Time) (*Session, error) {
	s.mu.Lock()
	txn := s.db.Txn(true)
	var ns *Session
	var undo func(*memdb.Txn)
	fresh := false // ns holds a newly allocated address
	if _, ok := s.ended.get(id, now.UnixNano()); ok {
		txn.Abort()
		s.mu.Unlock()
		return nil, errSessionEnded
	}
	if old := getSession(txn, id); old != nil {
		if old.User != userName {
			txn.Abort()
			s.mu.Unlock()
			return nil, errUserMismatch
		}
		cp := *old
		cp.NASHost, cp.NASRealm = nasHost, nasRealm
		cp.ExpiresAt = s.expiresAt(time.Unix(0, old.Started), now)
		ns = &cp
		undo = func(t *memdb.Txn) { t.Insert(tableSessions, old) }
	} else {
		addr, err := s.pool.allocate(txn)
		if err != nil {
			txn.Abort()
			s.mu.Unlock()
			return nil, err
		}
		ns = &Session{ID: id, User: userName, NASHost: nasHost, NASRealm: nasRealm,
			Addr: addr.String(), Started: now.UnixNano(), ExpiresAt: s.expiresAt(now, now)}
		fresh = true
		undo = func(t *memdb.Txn) { t.Delete(tableSessions, ns); s.pool.free(ns.Addr) }
	}
	if err := txn.Insert(tableSessions, ns); err != nil {
		txn.Abort()
		if fresh {
			s.pool.free(ns.Addr) // allocated above, never published
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("aaa: session table: %w", err)
	}
	txn.Commit()
	c := s.wal.put(ns)
	s.mu.Unlock()
	if err := c.wait(); err != nil {
		s.mu.Lock()
		t := s.db.Txn(true)
		if cur := getSession(t, id); cur == ns {
			undo(t)
		}
		t.Commit()
		s.mu.Unlock()
		return nil, err
	}
	return ns, nil
}

var (
	errUserMismatch = errors.New("aaa: session belongs to another user")
	errSessionEnded = errors.New("aaa: session ended by STR")
)

// release removes a session and frees its address once the removal is
// durable. It returns the removed session, or nil if there was none.
func (s *Server) release(id string) (*Session, error) { return s.store.release(id) }

// terminate is release for a session its NAS ended (an STR, or an ASR the
// NAS accepted): the session is remembered as ended, with the STA's
// User-Name (ended.go). When the session was already ended within
// endedTTL, sess is nil and user is that User-Name, for a resent STR.
func (s *Server) terminate(id string) (sess *Session, user string, err error) {
	return s.store.end(id, s.now())
}

// memRemove removes a session from the embedded store. When only is
// non-nil, the session is removed only if it is still that version; when
// str is set, it is remembered as ended in the same log record.
func (s *Server) memRemove(id string, only *Session, str bool) (*Session, error) {
	s.mu.Lock()
	txn := s.db.Txn(true)
	cur := getSession(txn, id)
	if cur == nil || (only != nil && cur != only) {
		txn.Abort()
		s.mu.Unlock()
		return nil, nil
	}
	if err := txn.Delete(tableSessions, cur); err != nil {
		txn.Abort()
		s.mu.Unlock()
		return nil, fmt.Errorf("aaa: session table: %w", err)
	}
	txn.Commit()
	s.pool.free(cur.Addr)
	var c *commit
	if str {
		at := s.now().UnixNano()
		c = s.wal.end(id, cur.User, at)
		s.ended.add(id, cur.User, at, c)
	} else {
		c = s.wal.del(id)
	}
	s.mu.Unlock()
	if err := c.wait(); err != nil {
		return nil, err
	}
	return cur, nil
}

// ipBytes encodes a Framed-IP-Address value.
func ipBytes(a netip.Addr) []byte { return a.AsSlice() }
