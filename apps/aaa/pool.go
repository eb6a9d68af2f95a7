package aaa

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"net/netip"

	memdb "github.com/hashicorp/go-memdb"
)

// errPoolExhausted is returned when every pool address is in use.
var errPoolExhausted = errors.New("aaa: address pool exhausted")

// pool allocates IPv4 addresses from a prefix, skipping those a session
// holds. It is used under the server's write lock.
//
// The session table is the truth about which addresses are held; used is a
// bitmap kept beside it (set on allocation and on recovery, cleared on
// release) so that a nearly full pool is searched 64 addresses per word
// instead of one table lookup per address. Every candidate is still
// checked against the table, and if the bitmap finds nothing the pool is
// scanned against the table and the bitmap rebuilt: a stale bit costs a
// slower allocation, never a duplicate address.
type pool struct {
	first, size uint32 // usable range [first, first+size)
	next        uint32 // offset where the next search starts
	used        []uint64
}

func newPool(p netip.Prefix) *pool {
	base := binary.BigEndian.Uint32(p.Addr().AsSlice())
	hostBits := 32 - p.Bits()
	size := uint64(1) << hostBits
	pl := &pool{first: base, size: uint32(size)}
	if hostBits >= 2 {
		// Leave out the network and broadcast addresses.
		pl.first, pl.size = base+1, uint32(size-2)
	}
	pl.used = make([]uint64, (uint64(pl.size)+63)/64)
	return pl
}

func (p *pool) addr(off uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], p.first+off)
	return netip.AddrFrom4(b)
}

// offset is addr's place in the pool, false when it is not in the pool.
func (p *pool) offset(addr string) (uint32, bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return 0, false
	}
	v := binary.BigEndian.Uint32(a.AsSlice())
	if v < p.first || v-p.first >= p.size {
		return 0, false
	}
	return v - p.first, true
}

func (p *pool) set(off uint32)        { p.used[off/64] |= 1 << (off % 64) }
func (p *pool) clear(off uint32)      { p.used[off/64] &^= 1 << (off % 64) }
func (p *pool) isSet(off uint32) bool { return p.used[off/64]&(1<<(off%64)) != 0 }

// mark records that a session holds addr (a recovered session).
func (p *pool) mark(addr string) {
	if off, ok := p.offset(addr); ok {
		p.set(off)
	}
}

// free records that addr was released.
func (p *pool) free(addr string) {
	if off, ok := p.offset(addr); ok {
		p.clear(off)
	}
}

// allocate returns a free address and marks it used.
func (p *pool) allocate(txn *memdb.Txn) (netip.Addr, error) {
	if a, ok := p.search(txn); ok {
		return a, nil
	}
	// The bitmap says full: check it against the table, rebuilding it.
	for off := uint32(0); off < p.size; off++ {
		if addrInUse(txn, p.addr(off).String()) {
			p.set(off)
		} else {
			p.clear(off)
		}
	}
	if a, ok := p.search(txn); ok {
		return a, nil
	}
	return netip.Addr{}, errPoolExhausted
}

// search walks the bitmap from next, a word at a time past full words,
// and returns the first clear offset the table confirms is free.
func (p *pool) search(txn *memdb.Txn) (netip.Addr, bool) {
	for i := uint32(0); i < p.size; {
		off := (p.next + i) % p.size
		w := p.used[off/64] | (1<<(off%64) - 1) // bits below off: not this round
		if w == ^uint64(0) {
			i += 64 - off%64
			continue
		}
		z := uint32(bits.TrailingZeros64(^w))
		cand := off/64*64 + z
		if cand >= p.size { // past the end of the last, partial word
			i += 64 - off%64
			continue
		}
		i += cand - off
		a := p.addr(cand)
		p.set(cand)
		if !addrInUse(txn, a.String()) {
			p.next = (cand + 1) % p.size
			return a, true
		}
		i++ // held by a session the bitmap missed: now marked
	}
	return netip.Addr{}, false
}

// newPoolWith is newPool with the addresses of recovered sessions marked.
func newPoolWith(p netip.Prefix, live map[string]*Session) *pool {
	pl := newPool(p)
	for _, s := range live {
		pl.mark(s.Addr)
	}
	return pl
}
