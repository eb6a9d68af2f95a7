package wire

import "encoding/binary"

// AVP flags.
const (
	AVPFlagVendor    uint8 = 0x80
	AVPFlagMandatory uint8 = 0x40
	AVPFlagProtected uint8 = 0x20
)

// AVP header sizes without and with the Vendor-ID field.
const (
	avpHeaderLen       = 8
	avpVendorHeaderLen = 12
)

// AVP is a view of one AVP inside a byte slice; Data aliases that slice.
type AVP struct {
	Code     uint32
	Flags    uint8
	VendorID uint32 // 0 when the V bit is clear
	Data     []byte // payload without padding
	Offset   int    // offset of the AVP header within the slice iterated
	Size     int    // header + data + padding: the bytes the AVP occupies
}

// Mandatory reports whether the M bit is set.
func (a AVP) Mandatory() bool { return a.Flags&AVPFlagMandatory != 0 }

// Vendor reports whether the V bit is set.
func (a AVP) Vendor() bool { return a.Flags&AVPFlagVendor != 0 }

// Uint32 returns Data as a big-endian 32-bit value (Unsigned32, Enumerated or
// the bits of an Integer32); ok is false if Data is not 4 bytes long.
func (a AVP) Uint32() (v uint32, ok bool) {
	if len(a.Data) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(a.Data), true
}

// DataOffset is the offset of the AVP's Data within the slice iterated:
// Offset plus the header length.
func (a AVP) DataOffset() int {
	if a.Flags&AVPFlagVendor != 0 {
		return a.Offset + avpVendorHeaderLen
	}
	return a.Offset + avpHeaderLen
}

// Raw returns the whole encoded AVP (header, data and padding) within buf,
// the slice the AVP was iterated from.
func (a AVP) Raw(buf []byte) []byte { return buf[a.Offset : a.Offset+a.Size] }

// Group returns an iterator over the AVPs inside Data, for a Grouped AVP.
func (a AVP) Group() Iter { return NewIter(a.Data) }

// IsDiameterIdentity reports whether b can be a DiameterIdentity (RFC 6733
// §4.3.1): 1 to 255 octets of printable ASCII without spaces, as an FQDN
// or a realm is (internationalised names travel as A-labels). It does not
// allocate.
func IsDiameterIdentity(b []byte) bool {
	if len(b) == 0 || len(b) > 255 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
