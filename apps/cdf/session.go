package cdf

import (
	"fmt"
	"maps"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// sessionState is the accounting state of one Session-Id (RFC 6733 §8.2,
// server side of the accounting state machine).
type sessionState uint8

const (
	// stateOpen: START received, records accepted until STOP.
	stateOpen sessionState = iota + 1
	// stateStopped: STOP received; only retransmissions are accepted.
	stateStopped
	// stateEvent: only EVENT records seen.
	stateEvent
)

func (s sessionState) String() string {
	switch s {
	case stateOpen:
		return "open"
	case stateStopped:
		return "stopped"
	case stateEvent:
		return "event"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// session is one row of the session table. Rows are immutable once
// inserted: updates insert a modified copy.
type session struct {
	ID    string
	State sessionState
	// Seen holds the Accounting-Record-Numbers written for the session.
	Seen map[uint32]struct{}
	// Last is when the session's last record was received.
	Last time.Time
}

// verdict is what the state machine makes of one record.
type verdict uint8

const (
	// accept: write a CDR and answer 2001.
	accept verdict = iota
	// duplicate: already written; answer 2001 without a new CDR.
	duplicate
	// unknown: answer 5002 DIAMETER_UNKNOWN_SESSION_ID.
	unknown
)

func (v verdict) String() string {
	return [...]string{"accept", "duplicate", "unknown"}[v]
}

// decide applies the accounting state machine to a record of type typ and
// number num for session s (nil when there is none).
func decide(s *session, typ, num uint32) verdict {
	if s != nil {
		if _, ok := s.Seen[num]; ok {
			return duplicate
		}
	}
	switch typ {
	case StartRecord, EventRecord:
		if s != nil && s.State == stateStopped {
			return unknown
		}
		return accept
	default: // INTERIM, STOP
		if s == nil || s.State != stateOpen {
			return unknown
		}
		return accept
	}
}

// next returns the session after record (typ, num) was accepted at t. It
// does not modify s.
func (s *session) next(id string, typ, num uint32, t time.Time) *session {
	n := &session{ID: id, State: stateEvent, Seen: map[uint32]struct{}{}}
	if s != nil {
		n.State = s.State
		n.Seen = maps.Clone(s.Seen)
	}
	n.Seen[num] = struct{}{}
	switch typ {
	case StartRecord, InterimRecord:
		n.State = stateOpen
	case StopRecord:
		n.State = stateStopped
	}
	n.Last = t
	if s != nil && s.Last.After(t) {
		n.Last = s.Last
	}
	return n
}

const sessionTable = "sessions"

var sessionSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	sessionTable: {
		Name: sessionTable,
		Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		},
	},
}}

// sessions is the stateful session table.
type sessions struct {
	db      *memdb.MemDB
	timeout time.Duration
}

func newSessions(timeout time.Duration) (*sessions, error) {
	db, err := memdb.NewMemDB(sessionSchema)
	if err != nil {
		return nil, fmt.Errorf("cdf: session table: %w", err)
	}
	return &sessions{db: db, timeout: timeout}, nil
}

// get returns the live session id at now, or nil.
func (t *sessions) get(txn *memdb.Txn, id string, now time.Time) *session {
	raw, err := txn.First(sessionTable, "id", id)
	if err != nil || raw == nil {
		return nil
	}
	s := raw.(*session)
	if t.expired(s, now) {
		return nil
	}
	return s
}

func (t *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.Last) >= t.timeout
}

// put inserts or replaces s.
func (t *sessions) put(txn *memdb.Txn, s *session) error {
	if err := txn.Insert(sessionTable, s); err != nil {
		return fmt.Errorf("cdf: session table: %w", err)
	}
	return nil
}

// remove deletes the session id, if present.
func (t *sessions) remove(txn *memdb.Txn, id string) {
	if raw, err := txn.First(sessionTable, "id", id); err == nil && raw != nil {
		txn.Delete(sessionTable, raw)
	}
}

// sweep deletes the sessions that timed out at now and returns how many.
func (t *sessions) sweep(now time.Time) int {
	txn := t.db.Txn(true)
	defer txn.Abort()
	it, err := txn.Get(sessionTable, "id")
	if err != nil {
		return 0
	}
	var dead []any
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if t.expired(raw.(*session), now) {
			dead = append(dead, raw)
		}
	}
	for _, d := range dead {
		txn.Delete(sessionTable, d)
	}
	txn.Commit()
	return len(dead)
}

// count returns the number of rows (live or not yet swept).
func (t *sessions) count() int {
	txn := t.db.Txn(false)
	it, err := txn.Get(sessionTable, "id")
	if err != nil {
		return 0
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}

// replay applies a journal record to the table. Records in the journal
// were accepted when written, so replay follows them even where the state
// machine would have refused (a journal written in stateless mode).
func (t *sessions) replay(r Record) {
	txn := t.db.Txn(true)
	defer txn.Abort()
	var s *session
	if raw, err := txn.First(sessionTable, "id", r.SessionID); err == nil && raw != nil {
		s = raw.(*session)
	}
	if s != nil && t.expired(s, r.Time) {
		s = nil
	}
	if s != nil {
		if _, dup := s.Seen[r.RecordNumber]; dup {
			return
		}
	}
	if err := t.put(txn, s.next(r.SessionID, r.RecordType, r.RecordNumber, r.Time)); err != nil {
		return
	}
	txn.Commit()
}
