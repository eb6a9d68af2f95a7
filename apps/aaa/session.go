package aaa

import (
	"math"
	"net/netip"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// Session is one authorized NASREQ session. Stored sessions are never
// modified: an update inserts a copy.
type Session struct {
	// ID is the Session-Id.
	ID string `json:"id"`
	// User is the authorized User-Name.
	User string `json:"user"`
	// NASHost and NASRealm are the Origin-Host and Origin-Realm of the
	// NAS, where ASR and RAR are sent.
	NASHost  string `json:"nas_host"`
	NASRealm string `json:"nas_realm"`
	// Addr is the allocated Framed-IP-Address.
	Addr string `json:"addr"`
	// Started is when the session was first authorized (Unix ns).
	Started int64 `json:"started"`
	// ExpiresAt is when the session is released unless re-authorized or
	// ended earlier (Unix ns); noExpiry for never.
	ExpiresAt uint64 `json:"expires_at"`
}

// noExpiry is the ExpiresAt of a session without a time limit.
const noExpiry = math.MaxUint64

// Expires returns the expiry time and whether the session has one.
func (s *Session) Expires() (time.Time, bool) {
	if s.ExpiresAt == noExpiry {
		return time.Time{}, false
	}
	return time.Unix(0, int64(s.ExpiresAt)), true
}

// IP returns the allocated address (invalid if none).
func (s *Session) IP() netip.Addr {
	a, _ := netip.ParseAddr(s.Addr)
	return a
}

const (
	tableSessions = "sessions"
	indexID       = "id"
	indexAddr     = "addr"
	indexExpires  = "expires"
)

// schema is the session table: by Session-Id, by address, by expiry.
var schema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	tableSessions: {
		Name: tableSessions,
		Indexes: map[string]*memdb.IndexSchema{
			indexID:      {Name: indexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			indexAddr:    {Name: indexAddr, AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Addr"}},
			indexExpires: {Name: indexExpires, Indexer: &memdb.UintFieldIndex{Field: "ExpiresAt"}},
		},
	},
}}

// getSession returns the session with id, or nil.
func getSession(txn *memdb.Txn, id string) *Session {
	v, err := txn.First(tableSessions, indexID, id)
	if err != nil || v == nil {
		return nil
	}
	return v.(*Session)
}

// addrInUse reports whether a session holds addr.
func addrInUse(txn *memdb.Txn, addr string) bool {
	v, err := txn.First(tableSessions, indexAddr, addr)
	return err == nil && v != nil
}
