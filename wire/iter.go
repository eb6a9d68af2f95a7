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
	n, hl, ok := avpAt(it.b, it.off)
	if !ok {
		it.err = avpError(it.b, it.off)
		it.cur = AVP{}
		return false
	}
	it.cur = makeAVP(it.b, it.off, n, hl)
	it.off += it.cur.Size
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

// avpAt checks the AVP header at b[off:], off < len(b), and returns the AVP
// length field n and the header length hl; ok is false if the header is
// truncated, n < hl, or the AVP runs past the end of b.
func avpAt(b []byte, off int) (n, hl int, ok bool) {
	h := b[off:]
	if len(h) < avpHeaderLen {
		return 0, 0, false
	}
	n = uint24(h[5:8])
	hl = avpHeaderLen
	if h[4]&AVPFlagVendor != 0 {
		hl = avpVendorHeaderLen
	}
	return n, hl, n >= hl && n <= len(h)
}

// avpSize returns the bytes occupied by an AVP of length n at b[off:]: n
// padded to a multiple of 4, except that the last AVP of a slice may lack
// its padding (some encoders do this in Grouped data).
func avpSize(b []byte, off, n int) int { return min((n+3)&^3, len(b)-off) }

// makeAVP builds the view of the AVP at b[off:] that avpAt accepted.
func makeAVP(b []byte, off, n, hl int) AVP {
	h := b[off : off+n : off+n]
	a := AVP{
		Code:   binary.BigEndian.Uint32(h[0:4]),
		Flags:  h[4],
		Data:   h[hl:],
		Offset: off,
		Size:   avpSize(b, off, n),
	}
	if hl == avpVendorHeaderLen {
		a.VendorID = binary.BigEndian.Uint32(h[8:12])
	}
	return a
}

// avpError describes why avpAt rejected the AVP at b[off:].
func avpError(b []byte, off int) error {
	h := b[off:]
	var what string
	switch {
	case len(h) < avpHeaderLen:
		what = "truncated header"
	case h[4]&AVPFlagVendor != 0 && len(h) < avpVendorHeaderLen:
		what = "truncated vendor header"
	default:
		n, hl := uint24(h[5:8]), avpHeaderLen
		if h[4]&AVPFlagVendor != 0 {
			hl = avpVendorHeaderLen
		}
		if n < hl {
			what = fmt.Sprintf("length %d below header size %d", n, hl)
		} else {
			what = fmt.Sprintf("length %d runs past end (%d bytes left)", n, len(h))
		}
	}
	return fmt.Errorf("%w at offset %d: %s", ErrAVPLength, off, what)
}

// matchAt reports whether the AVP at b[off:] with header length hl has the
// given code and vendor.
func matchAt(b []byte, off, hl int, code, vendor uint32) bool {
	if binary.BigEndian.Uint32(b[off:off+4]) != code {
		return false
	}
	if hl == avpVendorHeaderLen {
		return binary.BigEndian.Uint32(b[off+8:off+12]) == vendor
	}
	return vendor == 0
}

// FindIn returns the first AVP in b with the given code and vendor. It stops
// at the first malformed AVP.
func FindIn(b []byte, code, vendor uint32) (AVP, bool) {
	for off := 0; off < len(b); {
		n, hl, ok := avpAt(b, off)
		if !ok {
			break
		}
		if matchAt(b, off, hl, code, vendor) {
			return makeAVP(b, off, n, hl), true
		}
		off += avpSize(b, off, n)
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
	b := m.Body()
	for off := 0; off < len(b); {
		n, _, ok := avpAt(b, off)
		if !ok {
			return off, avpError(b, off)
		}
		off += avpSize(b, off, n)
	}
	return 0, nil
}
