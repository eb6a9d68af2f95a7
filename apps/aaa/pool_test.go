package aaa

import (
	"fmt"
	"net/netip"
	"testing"

	memdb "github.com/hashicorp/go-memdb"
)

func newTestDB(t testing.TB) *memdb.MemDB {
	db, err := memdb.NewMemDB(schema)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// hold inserts a session holding addr, as the server does after allocate.
func hold(t testing.TB, db *memdb.MemDB, id, addr string) {
	txn := db.Txn(true)
	if err := txn.Insert(tableSessions, &Session{ID: id, User: "u", Addr: addr}); err != nil {
		t.Fatal(err)
	}
	txn.Commit()
}

func drop(t testing.TB, db *memdb.MemDB, id string) {
	txn := db.Txn(true)
	if s := getSession(txn, id); s != nil {
		if err := txn.Delete(tableSessions, s); err != nil {
			t.Fatal(err)
		}
	}
	txn.Commit()
}

func TestPoolAllocatesEveryAddressOnce(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		size   int
	}{{"10.0.0.0/30", 2}, {"10.0.0.0/29", 6}, {"10.1.0.0/24", 254}, {"10.2.0.0/22", 1022}, {"192.0.2.7/32", 1}, {"192.0.2.6/31", 2}} {
		t.Run(tc.prefix, func(t *testing.T) {
			db := newTestDB(t)
			p := newPool(netip.MustParsePrefix(tc.prefix))
			seen := map[netip.Addr]bool{}
			for i := range tc.size {
				a, err := p.allocate(db.Txn(false))
				if err != nil {
					t.Fatalf("allocation %d: %v", i, err)
				}
				if seen[a] || !netip.MustParsePrefix(tc.prefix).Contains(a) {
					t.Fatalf("allocation %d: %v again or outside the prefix", i, a)
				}
				seen[a] = true
				hold(t, db, fmt.Sprint(i), a.String())
			}
			if _, err := p.allocate(db.Txn(false)); err != errPoolExhausted {
				t.Fatalf("full pool: %v", err)
			}
			// Releasing one address (the first allocated) makes exactly
			// that one available.
			first := p.addr(0)
			drop(t, db, "0")
			p.free(first.String())
			a, err := p.allocate(db.Txn(false))
			if err != nil || a != first {
				t.Fatalf("after a release: %v, %v; want %v", a, err, first)
			}
		})
	}
}

// The bitmap is only a hint: an address held by a session it does not know
// (a stale bit) is never handed out, and a bit left set for an address no
// session holds is recovered when the bitmap says the pool is full.
func TestPoolBitmapIsOnlyAHint(t *testing.T) {
	db := newTestDB(t)
	p := newPool(netip.MustParsePrefix("10.3.0.0/29")) // 6 addresses
	hold(t, db, "foreign", p.addr(0).String())         // not marked in the bitmap
	a, err := p.allocate(db.Txn(false))
	if err != nil || a == p.addr(0) {
		t.Fatalf("allocate: %v, %v (the held address must be skipped)", a, err)
	}
	hold(t, db, "s1", a.String())
	// Mark every bit although only two addresses are held.
	for off := uint32(0); off < p.size; off++ {
		p.set(off)
	}
	b, err := p.allocate(db.Txn(false))
	if err != nil || b == p.addr(0) || b == a {
		t.Fatalf("allocate with stale bits: %v, %v", b, err)
	}
}

// BenchmarkAllocateNearlyFull allocates from a /16 with all but a few
// addresses held: the bitmap walks 64 addresses per word.
func BenchmarkAllocateNearlyFull(b *testing.B) {
	db := newTestDB(b)
	p := newPool(netip.MustParsePrefix("10.8.0.0/16"))
	n := int(p.size) - 8
	for i := range n {
		a, err := p.allocate(db.Txn(false))
		if err != nil {
			b.Fatal(err)
		}
		hold(b, db, fmt.Sprint(i), a.String())
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a, err := p.allocate(db.Txn(false))
		if err != nil {
			b.Fatal(err)
		}
		// Release it again so that the pool stays nearly full.
		p.free(a.String())
		i++
	}
}
