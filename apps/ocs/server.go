package ocs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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

// Server is the OCS: a routing.Handler for application 4.
type Server struct {
	cfg  Config
	id   Identity
	orig Originator
	log  *slog.Logger
	now  func() time.Time

	mu       sync.RWMutex
	accounts map[string]*account // by accountKey
	sessions map[string]*account // by Session-Id

	// store serves the requests: the embedded store (the maps above and
	// the WAL) or the shared one (shared).
	store  creditStore
	shared *sharedCredit
	// provisioned are the configured accounts, by accountKey.
	provisioned map[string]AccountConfig

	wal *wal
	// done holds the answers to completed EVENT and TERMINATION requests,
	// for their retransmissions (dedupe.go).
	done doneCache
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	// raaHook, when set (tests), sees every RAA Result-Code.
	raaHook func(sessionID string, code uint32)
}

var _ routing.Handler = (*Server)(nil)

// New opens the durable state in cfg.DataDir, replays it, adds the
// configured accounts it does not hold yet and starts the session timer.
func New(cfg Config, id Identity, orig Originator, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s, err := newEmbedded(cfg, id, orig, log)
	if err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.sweep()
	return s, nil
}

// NewShared returns an OCS whose accounts, sessions and kept answers live
// in Redis (shared.go), shared with every agent on the same store: the
// configured accounts Redis does not hold yet are added, with their
// configured balance; those it holds keep their balance and take Blocked
// from configuration. cfg.DataDir is not used. A Redis that cannot be
// reached is not an error: requests are answered 5012 until it can.
//
// The shared store sends no RAR when a Validity-Time passes (the embedded
// store's session timer does); reservations of idle sessions are released
// after SessionTimeout all the same.
func NewShared(cfg Config, id Identity, orig Originator, st *state.Redis, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := newServer(cfg, id, orig, log)
	s.shared = newSharedCredit(s, st)
	s.store = s.shared
	s.shared.provision()
	s.log.Info("ocs: credit store on redis", "accounts", len(s.provisioned))
	if cfg.LabMode {
		s.log.Warn("ocs: lab mode: unknown subscribers get a starting balance (free credit); never in production",
			"starting_balance", cfg.StartingBalance)
	}
	return s, nil
}

func newServer(cfg Config, id Identity, orig Originator, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, id: id, orig: orig, log: log.With("app", "ocs"), now: time.Now,
		accounts: map[string]*account{}, sessions: map[string]*account{}, stop: make(chan struct{}),
		provisioned: map[string]AccountConfig{}}
	for _, ac := range cfg.Accounts {
		s.provisioned[accountKey(subscriptionTypes[ac.Type], ac.Data)] = ac
	}
	s.store = embeddedCredit{s}
	return s
}

// newEmbedded opens the embedded store in cfg.DataDir.
func newEmbedded(cfg Config, id Identity, orig Originator, log *slog.Logger) (*Server, error) {
	if err := apps.PrivateDir(cfg.DataDir, log); err != nil {
		return nil, fmt.Errorf("ocs: %w", err)
	}
	s := newServer(cfg, id, orig, log)
	st, lastSeg, err := loadState(cfg.DataDir, s.log)
	if err != nil {
		return nil, err
	}
	for _, a := range st.Accounts {
		s.accounts[accountKey(a.Type, a.Data)] = &account{st: a, sessions: map[string]*session{}}
	}
	for _, ss := range st.Sessions {
		a := s.accounts[ss.Acct]
		if a == nil {
			s.log.Warn("ocs: session without account dropped", "session", ss.ID)
			continue
		}
		a.sessions[ss.ID] = &session{st: ss}
		s.sessions[ss.ID] = a
	}
	for _, d := range st.Done {
		s.done.put(d.Sid, d.Num, d.Ans, time.Unix(0, d.At), nil)
	}
	for _, ac := range cfg.Accounts {
		t := subscriptionTypes[ac.Type]
		k := accountKey(t, ac.Data)
		if a := s.accounts[k]; a != nil {
			a.st.Blocked = ac.Blocked
			continue
		}
		s.accounts[k] = &account{st: acctState{Type: t, Data: ac.Data, Avail: ac.Balance.amounts(), Blocked: ac.Blocked},
			sessions: map[string]*session{}}
	}
	s.wal, err = openWAL(cfg.DataDir, s.collect(st.Seq), lastSeg, cfg.SnapshotRecords, cfg.SnapshotInterval, s.collect, s.log)
	if err != nil {
		return nil, err
	}
	s.log.Info("ocs: state recovered", "accounts", len(s.accounts), "sessions", len(s.sessions), "seq", st.Seq)
	if cfg.LabMode {
		s.log.Warn("ocs: lab mode: unknown subscribers get a starting balance (free credit); never in production",
			"starting_balance", cfg.StartingBalance)
	}
	return s, nil
}

// collect copies the whole state for a snapshot after record seq.
func (s *Server) collect(seq uint64) *snapshot {
	s.mu.RLock()
	accts := make([]*account, 0, len(s.accounts))
	for _, a := range s.accounts {
		accts = append(accts, a)
	}
	s.mu.RUnlock()
	st := &snapshot{Seq: seq, Accounts: make([]acctState, 0, len(accts))}
	for _, a := range accts {
		a.mu.Lock()
		st.Accounts = append(st.Accounts, a.st)
		for _, ss := range a.sessions {
			c := ss.st
			c.Res = append([]resState(nil), ss.st.Res...)
			st.Sessions = append(st.Sessions, c)
		}
		a.mu.Unlock()
	}
	// After the accounts: an EVENT or CCR-T whose change a copy above
	// holds put its answer here before releasing the account's lock.
	st.Done = s.done.states(s.now())
	return st
}

// Apps returns the application the agent advertises for the OCS.
func (s *Server) Apps() []peers.App { return []peers.App{{ID: AppID}} }

// Close stops the session timer, flushes the log and writes a snapshot.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		if s.wal != nil {
			err = s.wal.close()
		}
	})
	return err
}

// Account returns a view of the account of a subscription
// (Subscription-Id-Type, Subscription-Id-Data).
//
// On the shared store it reads Redis (releasing the reservations of
// timed-out sessions); false when Redis cannot be reached.
func (s *Server) Account(subType uint32, data string) (AccountInfo, bool) {
	if s.shared != nil {
		info, ok, err := s.shared.account(subType, data)
		if err != nil {
			s.log.Warn("ocs: account view", "err", err)
		}
		return info, ok && err == nil
	}
	s.mu.RLock()
	a := s.accounts[accountKey(subType, data)]
	s.mu.RUnlock()
	if a == nil {
		return AccountInfo{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var res amounts
	for _, ss := range a.sessions {
		r := ss.st.reserved()
		for k := range r {
			res[k] += r[k]
		}
	}
	return AccountInfo{Available: toBalance(a.st.Avail), Reserved: toBalance(res), Used: toBalance(a.st.Used),
		Blocked: a.st.Blocked, Sessions: len(a.sessions)}, true
}

// lookup returns the account of a subscription, creating it in lab mode.
func (s *Server) lookup(sub subscription) *account {
	k := accountKey(sub.typ, sub.data)
	s.mu.RLock()
	a := s.accounts[k]
	s.mu.RUnlock()
	if a != nil || !s.cfg.LabMode {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a = s.accounts[k]; a == nil {
		a = &account{st: acctState{Type: sub.typ, Data: sub.data, Avail: s.cfg.StartingBalance.amounts()}, sessions: map[string]*session{}}
		s.accounts[k] = a
		s.log.Debug("ocs: account created", "type", sub.typ, "data", sub.data)
	}
	return a
}

// ServeDiameter answers a Credit-Control-Request.
func (s *Server) ServeDiameter(ctx context.Context, r *routing.Request) (routing.Answer, error) {
	if r.Msg.Code() != wire.CmdCreditControl {
		return wire.ErrorAnswer(r.Msg, wire.ErrorSpec{OriginHost: s.id.OriginHost, OriginRealm: s.id.OriginRealm,
			ResultCode: wire.ResultCommandUnsupported, Message: "command not supported by the OCS"}), nil
	}
	if ans := apps.CheckRequest(r.Msg, dictionary, s.id); ans != nil {
		return ans, nil
	}
	m, err := decode(r.Msg)
	if err != nil {
		s.log.Debug("ocs: undecodable request", "err", err)
		return wire.ErrorAnswer(r.Msg, wire.ErrorSpec{OriginHost: s.id.OriginHost, OriginRealm: s.id.OriginRealm,
			ResultCode: wire.ResultUnableToComply, Message: "malformed request"}), nil
	}
	req, f := parseCCR(m)
	if f != nil {
		return s.failAnswer(m, f)
	}
	var ans []byte
	switch req.reqType {
	case requestInitial:
		ans, err = s.store.initial(req)
	case requestUpdate, requestTermination:
		ans, err = s.store.update(req)
	default:
		ans, err = s.store.event(req)
	}
	if err != nil {
		// Nothing is answered 2001 unless its change was committed: a
		// failed or unconfirmed commit is 5012 (the client's failure
		// handling applies; a retransmission is answered from what was
		// committed, if anything was).
		msg := "internal error"
		if errors.Is(err, state.ErrUnavailable) || errors.Is(err, errSharedContention) {
			msg = "credit store unavailable"
			s.log.Warn("ocs: request failed", "session", req.sid, "err", err)
		} else {
			s.log.Error("ocs: request failed", "session", req.sid, "err", err)
		}
		return s.failAnswer(m, &failure{code: wire.ResultUnableToComply, msg: msg})
	}
	// ans is also kept for retransmissions (a session's last answer, a
	// completed EVENT's or CCR-T's), and the connection's writer recycles
	// what it sends into the frame pool: it gets a copy.
	return slices.Clone(ans), nil
}

// decode parses a request with go-diameter, turning its panics into errors.
func decode(b []byte) (m *diam.Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			m, err = nil, fmt.Errorf("ocs: decode: %v", v)
		}
	}()
	m, err = diam.ReadMessage(bytes.NewReader(b), dict.Default)
	if err != nil {
		return nil, fmt.Errorf("ocs: decode: %w", err)
	}
	return m, nil
}

// errUnknownSession is answered 5002.
var errUnknownSession = errors.New("ocs: unknown session")

// creditStore is where the OCS keeps accounts, sessions and the answers
// kept for retransmissions, and serves the requests that use them: the
// embedded store (in memory, WAL and snapshots) or the shared one
// (Redis). Both give the same answers to the same requests.
type creditStore interface {
	initial(req *ccr) ([]byte, error)
	update(req *ccr) ([]byte, error)
	event(req *ccr) ([]byte, error)
}

// embeddedCredit is the embedded store: the Server's own maps and WAL.
type embeddedCredit struct{ s *Server }

func (e embeddedCredit) initial(req *ccr) ([]byte, error) { return e.s.initial(req) }
func (e embeddedCredit) update(req *ccr) ([]byte, error)  { return e.s.update(req) }
func (e embeddedCredit) event(req *ccr) ([]byte, error)   { return e.s.event(req) }
