package aaa

import (
	"encoding/binary"
	"errors"
	"net/netip"

	memdb "github.com/hashicorp/go-memdb"
)

// errPoolExhausted is returned when every pool address is in use.
var errPoolExhausted = errors.New("aaa: address pool exhausted")

// pool allocates IPv4 addresses from a prefix, skipping those a session
// holds. It is used under the server's write lock.
type pool struct {
	first, size uint32 // usable range [first, first+size)
	next        uint32 // offset where the next search starts
}

func newPool(p netip.Prefix) *pool {
	base := binary.BigEndian.Uint32(p.Addr().AsSlice())
	hostBits := 32 - p.Bits()
	size := uint64(1) << hostBits
	if hostBits >= 2 {
		// Leave out the network and broadcast addresses.
		return &pool{first: base + 1, size: uint32(size - 2)}
	}
	return &pool{first: base, size: uint32(size)}
}

// allocate returns a free address.
func (p *pool) allocate(txn *memdb.Txn) (netip.Addr, error) {
	for i := uint32(0); i < p.size; i++ {
		off := (p.next + i) % p.size
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], p.first+off)
		a := netip.AddrFrom4(b)
		if !addrInUse(txn, a.String()) {
			p.next = (off + 1) % p.size
			return a, nil
		}
	}
	return netip.Addr{}, errPoolExhausted
}
