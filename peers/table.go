package peers

import (
	"slices"
	"strings"
	"sync"
	"time"
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
	// StateName is State as text.
	StateName string
	// Removed: the peer left the configuration and is draining before
	// its DPR; such rows come from Manager.Retiring, not from the table.
	Removed bool

	peer *Peer
}

// Peer returns the live peer this row describes.
func (i *PeerInfo) Peer() *Peer { return i.peer }

// Table is the live peer table: one row per peer, replaced on every state
// change. A map under a read-write lock: a row is written once per
// transition (a peer opening costs one map insert, not a copy-on-write
// tree update per index), and the listings, which only the admin API and
// the metrics read, filter and sort the rows at one instant.
type Table struct {
	mu   sync.RWMutex
	rows map[string]*PeerInfo // by Key
}

func newTable() *Table { return &Table{rows: map[string]*PeerInfo{}} }

func (t *Table) put(i *PeerInfo) {
	t.mu.Lock()
	t.rows[i.Key] = i
	t.mu.Unlock()
}

func (t *Table) remove(key string) {
	t.mu.Lock()
	delete(t.rows, key)
	t.mu.Unlock()
}

// Get returns the row of one peer by identity (case-insensitive).
func (t *Table) Get(identity string) (*PeerInfo, bool) {
	t.mu.RLock()
	in, ok := t.rows[foldKey(identity)]
	t.mu.RUnlock()
	return in, ok
}

// All returns every row, ordered by identity.
func (t *Table) All() []*PeerInfo { return t.list(func(*PeerInfo) bool { return true }) }

// ByRealm returns the rows of one realm (case-insensitive), ordered by
// identity; none for "".
func (t *Table) ByRealm(realm string) []*PeerInfo {
	if realm == "" {
		return nil
	}
	return t.list(func(i *PeerInfo) bool { return strings.EqualFold(i.Realm, realm) })
}

// ByState returns the rows in one state, ordered by identity.
func (t *Table) ByState(s State) []*PeerInfo {
	return t.list(func(i *PeerInfo) bool { return i.State == s })
}

func (t *Table) list(keep func(*PeerInfo) bool) []*PeerInfo {
	var out []*PeerInfo
	t.mu.RLock()
	for _, i := range t.rows {
		if keep(i) {
			out = append(out, i)
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b *PeerInfo) int { return strings.Compare(a.Key, b.Key) })
	return out
}
