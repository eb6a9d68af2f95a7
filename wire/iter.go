package wire

import (
	"encoding/binary"
	"fmt"
)

// Iter iterates the AVPs in a byte slice: a message body or the Data of a
// Grouped AVP. It does not allocate while the data is well formed.
//
//	it := m.AVPs()
//	for it.Next() {
//		a := it.AVP()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
type Iter struct {
	b   []byte
	off int
	cur AVP
	err error
}

// NewIter returns an iterator over the AVPs in b.
func NewIter(b []byte) Iter { return Iter{b: b} }

// AVPs returns an iterator over the message's top-level AVPs; offsets are
// relative to m.Body().
func (m Msg) AVPs() Iter { return NewIter(m.Body()) }

// Next advances to the next AVP and reports whether there is one. It returns
// false at the end of the data or at the first malformed AVP (see Err).
func (it *Iter) Next() bool {
	if it.err != nil || it.off >= len(it.b) {
		return false
	}
	a, err := parseAVP(it.b, it.off)
	if err != nil {
		it.err = err
		it.cur = AVP{}
		return false
	}
	it.cur = a
	it.off += a.Size
	return true
}

// AVP returns the current AVP.
func (it *Iter) AVP() AVP { return it.cur }

// Err returns nil if iteration ended cleanly, or an error wrapping
// ErrAVPLength that names the offset of the malformed AVP.
func (it *Iter) Err() error { return it.err }

// Offset returns the offset at which the next AVP is expected; after a
// failed Next it is the offset of the malformed AVP.
func (it *Iter) Offset() int { return it.off }

// parseAVP decodes the AVP header at b[off:].
func parseAVP(b []byte, off int) (AVP, error) {
	rest := len(b) - off
	if rest < avpHeaderLen {
		return AVP{}, avpError(off, "truncated header")
	}
	h := b[off:]
	a := AVP{
		Code:   binary.BigEndian.Uint32(h[0:4]),
		Flags:  h[4],
		Offset: off,
	}
	n := uint24(h[5:8])
	hl := avpHeaderLen
	if a.Flags&AVPFlagVendor != 0 {
		hl = avpVendorHeaderLen
		if rest < hl {
			return AVP{}, avpError(off, "truncated vendor header")
		}
		a.VendorID = binary.BigEndian.Uint32(h[8:12])
	}
	if n < hl {
		return AVP{}, avpError(off, fmt.Sprintf("length %d below header size %d", n, hl))
	}
	if n > rest {
		return AVP{}, avpError(off, fmt.Sprintf("length %d runs past end (%d bytes left)", n, rest))
	}
	a.Data = h[hl:n:n]
	// The last AVP of a slice may lack its padding (some encoders do this in
	// Grouped data); accept it rather than fail the whole group.
	a.Size = min((n+3)&^3, rest)
	return a, nil
}

func avpError(off int, what string) error {
	return fmt.Errorf("%w at offset %d: %s", ErrAVPLength, off, what)
}

// FindIn returns the first AVP in b with the given code and vendor. It stops
// at the first malformed AVP.
func FindIn(b []byte, code, vendor uint32) (AVP, bool) {
	it := NewIter(b)
	for it.Next() {
		if a := it.cur; a.Code == code && a.VendorID == vendor {
			return a, true
		}
	}
	return AVP{}, false
}

// Find returns the first top-level AVP with the given code and vendor;
// Offset is relative to m.Body().
func (m Msg) Find(code, vendor uint32) (AVP, bool) { return FindIn(m.Body(), code, vendor) }

// Validate walks every top-level AVP. If one is malformed it returns its
// offset relative to m.Body() and an error wrapping ErrAVPLength; otherwise
// it returns 0, nil. Grouped AVPs are not descended into.
func (m Msg) Validate() (badOffset int, err error) {
	it := m.AVPs()
	for it.Next() {
	}
	if it.err != nil {
		return it.off, it.err
	}
	return 0, nil
}
