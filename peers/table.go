package peers

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"
)

// PeerInfo is one row of the peer table: a snapshot, never modified.
type PeerInfo struct {
	Key           string // lower-case identity
	Identity      string
	Realm         string
	Addr          string
	Role          string // initiator or responder while open
	Configured    bool
	TLS           bool
	State         State
	Watchdog      WatchdogState
	Apps          []uint32
	ProductName   string
	OriginStateID uint32
	Since         time.Time
	LastError     string
	// StateName is State as text (the table's state index).
	StateName string
	// Removed: the peer left the configuration and is draining before
	// its DPR; such rows come from Manager.Retiring, not from the table.
	Removed bool

	peer *Peer
}

// Peer returns the live peer this row describes.
func (i *PeerInfo) Peer() *Peer { return i.peer }

// Table is the live peer table, kept in go-memdb: one row per peer, replaced
// on every state change; readers see consistent snapshots.
type Table struct{ db *memdb.MemDB }

const peerTable = "peers"

func newTable() *Table {
	schema := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		peerTable: {
			Name: peerTable,
			Indexes: map[string]*memdb.IndexSchema{
				"id":    {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
				"realm": {Name: "realm", Indexer: &memdb.StringFieldIndex{Field: "Realm", Lowercase: true}, AllowMissing: true},
				"state": {Name: "state", Indexer: &memdb.StringFieldIndex{Field: "StateName"}},
			},
		},
	}}
	db, err := memdb.NewMemDB(schema)
	if err != nil {
		panic(fmt.Sprintf("peers: table schema: %v", err)) // the schema is static
	}
	return &Table{db: db}
}

func (t *Table) put(i *PeerInfo) {
	txn := t.db.Txn(true)
	if err := txn.Insert(peerTable, i); err != nil {
		txn.Abort()
		panic(fmt.Sprintf("peers: table insert: %v", err))
	}
	txn.Commit()
}

func (t *Table) remove(key string) {
	txn := t.db.Txn(true)
	if _, err := txn.DeleteAll(peerTable, "id", key); err != nil {
		txn.Abort()
		return
	}
	txn.Commit()
}

// Get returns the row of one peer by identity (case-insensitive).
func (t *Table) Get(identity string) (*PeerInfo, bool) {
	raw, err := t.db.Txn(false).First(peerTable, "id", foldKey(identity))
	if err != nil || raw == nil {
		return nil, false
	}
	return raw.(*PeerInfo), true
}

// All returns every row, ordered by identity.
func (t *Table) All() []*PeerInfo { return t.list("id") }

// ByRealm returns the rows of one realm.
func (t *Table) ByRealm(realm string) []*PeerInfo { return t.list("realm", realm) }

// ByState returns the rows in one state.
func (t *Table) ByState(s State) []*PeerInfo { return t.list("state", s.String()) }

func (t *Table) list(index string, args ...any) []*PeerInfo {
	it, err := t.db.Txn(false).Get(peerTable, index, args...)
	if err != nil {
		return nil
	}
	var out []*PeerInfo
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*PeerInfo))
	}
	return out
}
