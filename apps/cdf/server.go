package cdf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/apps"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/state"
	"github.com/dra-project/dra/wire"
)

// Identity is the agent's identity (apps.Identity).
type Identity = apps.Identity

// Originator routes the requests the application originates
// (apps.Originator); *routing.Router satisfies it.
type Originator = apps.Originator

// Server is the CDF: it answers Accounting-Requests after their CDR is
// durable in the journal.
type Server struct {
	cfg     Config
	id      Identity
	log     *slog.Logger
	journal *journal
	table   *sessions    // nil when stateless or shared
	shared  *sharedState // stateful on Redis (NewShared); nil otherwise

	// mu orders the state-machine decision and the journal append of
	// concurrent requests, so that the journal order is the state order.
	mu       sync.Mutex
	inflight map[recordKey]*commit // accepted records not yet durable

	stats     Stats
	stopSweep chan struct{}
	sweepDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Stats counts the requests the CDF answered.
type Stats struct {
	Written    atomic.Uint64 // CDRs made durable
	Duplicates atomic.Uint64 // answered 2001 without a new CDR
	Unknown    atomic.Uint64 // answered 5002
	Invalid    atomic.Uint64 // answered 5001/5004/5005/5014/3001/5012
	Failed     atomic.Uint64 // journal failures answered 4002
	Released   atomic.Uint64 // sessions released by timeout
}

type recordKey struct {
	sid string
	num uint32
}

var _ routing.Handler = (*Server)(nil)

// New opens the journal in cfg.DataDir, replays it to rebuild the session
// table when stateful, and starts the writer.
func New(cfg Config, id Identity, orig Originator, log *slog.Logger) (*Server, error) {
	return newServer(cfg, id, nil, log)
}

// NewShared is New with the stateful CDF's sessions and its
// (Session-Id, Accounting-Record-Number) dedupe in Redis, shared by every
// agent on st's Redis and key prefix; the CDRs still go to this agent's
// journal in cfg.DataDir, fsynced before the answer. st is the caller's
// to close, after the Server. A stateless cfg needs no shared state and
// runs as New.
func NewShared(cfg Config, id Identity, orig Originator, st *state.Redis, log *slog.Logger) (*Server, error) {
	if st == nil {
		return nil, errors.New("cdf: shared state: no store")
	}
	return newServer(cfg, id, st, log)
}

// newServer builds the CDF; with st (stateful only) its sessions and
// record claims live in Redis instead of the in-process table.
func newServer(cfg Config, id Identity, st *state.Redis, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if id.OriginHost == "" || id.OriginRealm == "" {
		return nil, errors.New("cdf: identity: origin host and realm are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("app", "cdf")
	s := &Server{cfg: cfg, id: id, log: log, inflight: map[recordKey]*commit{}}
	if cfg.Stateful && st != nil {
		j, err := openJournal(cfg.DataDir, cfg.RotateBytes, cfg.RotateAge, log)
		if err != nil {
			return nil, err
		}
		s.journal = j
		s.shared = newSharedState(s, st)
		return s, nil
	}
	if cfg.Stateful {
		t, err := newSessions(cfg.sessionTimeout())
		if err != nil {
			return nil, err
		}
		s.table = t
		if err := s.recoverSessions(); err != nil {
			return nil, err
		}
	}
	j, err := openJournal(cfg.DataDir, cfg.RotateBytes, cfg.RotateAge, log)
	if err != nil {
		return nil, err
	}
	s.journal = j
	if s.table != nil {
		s.stopSweep, s.sweepDone = make(chan struct{}), make(chan struct{})
		go s.sweeper()
	}
	return s, nil
}

// recoverSessions rebuilds the session table from the journal files that may hold
// live sessions (modified within the session timeout).
func (s *Server) recoverSessions() error {
	if _, err := os.Stat(s.cfg.DataDir); os.IsNotExist(err) {
		return nil // a new journal
	}
	fs, err := listFiles(s.cfg.DataDir)
	if err != nil {
		return err
	}
	start := time.Now()
	cutoff := start.Add(-s.table.timeout)
	n := 0
	for _, f := range fs {
		if st, err := os.Stat(f.Path); err == nil && st.ModTime().Before(cutoff) {
			continue
		}
		if err := readFile(f.Path, func(r Record) error {
			s.table.replay(r)
			n++
			return nil
		}); err != nil {
			return fmt.Errorf("cdf: recover sessions: %w", err)
		}
	}
	dropped := s.table.sweep(start)
	s.log.Info("sessions recovered", "records", n, "sessions", s.table.count(), "expired", dropped, "took", time.Since(start))
	return nil
}

// Apps advertises base accounting as an Acct-Application-Id.
func (s *Server) Apps() []peers.App { return []peers.App{{ID: AppID, Acct: true}} }

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Close stops the sweeper, flushes the journal and closes it. Requests
// after Close are answered 4002.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.shared != nil {
			s.shared.close()
		}
		if s.stopSweep != nil {
			close(s.stopSweep)
			<-s.sweepDone
		}
		s.closeErr = s.journal.close()
	})
	return s.closeErr
}

func (s *Server) sweeper() {
	defer close(s.sweepDone)
	every := min(max(s.table.timeout/4, 10*time.Millisecond), 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case now := <-t.C:
			s.mu.Lock()
			n := s.table.sweep(now)
			s.mu.Unlock()
			if n > 0 {
				s.stats.Released.Add(uint64(n))
				s.log.Debug("sessions released by timeout", "count", n)
			}
		}
	}
}

// ServeDiameter answers one Accounting-Request.
func (s *Server) ServeDiameter(ctx context.Context, r *routing.Request) (routing.Answer, error) {
	now := time.Now()
	if r.Msg.Code() != diam.Accounting || !r.Msg.IsRequest() {
		s.stats.Invalid.Add(1)
		return s.wireError(r.Msg, wire.ResultCommandUnsupported, "command "+strconv.Itoa(int(r.Msg.Code()))+" is not served by the CDF"), nil
	}
	if ans := apps.CheckRequest(r.Msg, dictionary, s.id); ans != nil {
		s.stats.Invalid.Add(1)
		return ans, nil
	}
	m, err := decode(r.Msg)
	if err != nil {
		s.stats.Invalid.Add(1)
		s.log.Debug("undecodable request", "err", err)
		return s.wireError(r.Msg, wire.ResultUnableToComply, "cannot decode request"), nil
	}
	rec, aerr := parseACR(m, now)
	if aerr != nil {
		s.stats.Invalid.Add(1)
		return s.answer(m, aerr.code, aerr)
	}
	if s.shared != nil {
		code, e := s.shared.account(rec)
		return s.answer(m, code, e)
	}
	code := s.account(rec)
	return s.answer(m, code, nil)
}

// decode parses a checked frame with go-diameter, turning its panics into
// errors.
func decode(b []byte) (m *diam.Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			m, err = nil, fmt.Errorf("cdf: decode: panic: %v", v)
		}
	}()
	m, err = diam.ReadMessage(bytes.NewReader(b), dict.Default)
	if err != nil {
		return nil, fmt.Errorf("cdf: decode: %w", err)
	}
	return m, nil
}

func (s *Server) wireError(req wire.Msg, code uint32, msg string) []byte {
	return wire.ErrorAnswer(req, wire.ErrorSpec{
		OriginHost: s.id.OriginHost, OriginRealm: s.id.OriginRealm, ResultCode: code, Message: msg,
	})
}

// account runs the state machine for rec, makes its CDR durable when
// accepted, and returns the Result-Code to answer.
func (s *Server) account(rec Record) uint32 {
	line, err := rec.MarshalJSON()
	if err != nil {
		s.log.Error("cannot encode CDR", "err", err, "session", rec.SessionID)
		s.stats.Invalid.Add(1)
		return wire.ResultUnableToComply
	}
	if s.table == nil {
		if err := s.journal.append(line).wait(); err != nil {
			return s.writeFailed(rec, err)
		}
		s.stats.Written.Add(1)
		return wire.ResultSuccess
	}
	key := recordKey{rec.SessionID, rec.RecordNumber}
	s.mu.Lock()
	txn := s.table.db.Txn(true)
	prev := s.table.get(txn, rec.SessionID, rec.Time)
	v := decide(prev, rec.RecordType, rec.RecordNumber)
	var c *commit
	var cur *session
	switch v {
	case unknown:
		txn.Abort()
		s.mu.Unlock()
		s.stats.Unknown.Add(1)
		return wire.ResultUnknownSessionID
	case duplicate:
		txn.Abort()
		c = s.inflight[key]
		s.mu.Unlock()
		if c != nil {
			if err := c.wait(); err != nil {
				return s.writeFailed(rec, err)
			}
		}
		s.stats.Duplicates.Add(1)
		return wire.ResultSuccess
	}
	cur = prev.next(rec.SessionID, rec.RecordType, rec.RecordNumber, rec.Time)
	if err := s.table.put(txn, cur); err != nil {
		txn.Abort()
		s.mu.Unlock()
		s.log.Error("session table", "err", err)
		return wire.ResultUnableToComply
	}
	c = s.journal.append(line)
	txn.Commit()
	s.inflight[key] = c
	s.mu.Unlock()

	err = c.wait()

	s.mu.Lock()
	delete(s.inflight, key)
	if err != nil {
		s.rollback(prev, cur)
	}
	s.mu.Unlock()
	if err != nil {
		return s.writeFailed(rec, err)
	}
	s.stats.Written.Add(1)
	return wire.ResultSuccess
}

// rollback undoes the table update cur (made from prev) whose CDR was not
// written, unless a later record changed the session since. Called with
// s.mu held.
func (s *Server) rollback(prev, cur *session) {
	txn := s.table.db.Txn(true)
	defer txn.Abort()
	raw, err := txn.First(sessionTable, "id", cur.ID)
	if err != nil || raw != cur {
		return
	}
	if prev == nil {
		s.table.remove(txn, cur.ID)
	} else if s.table.put(txn, prev) != nil {
		return
	}
	txn.Commit()
}

func (s *Server) writeFailed(rec Record, err error) uint32 {
	s.stats.Failed.Add(1)
	s.log.Error("CDR not written", "err", err, "session", rec.SessionID, "record", rec.RecordNumber)
	return wire.ResultOutOfSpace
}
