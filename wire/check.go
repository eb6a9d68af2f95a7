package wire

import (
	"encoding/binary"
	"strconv"
)

// AVPKind is what a dictionary knows of an AVP's payload, for CheckAVPs.
type AVPKind uint8

// AVP kinds.
const (
	KindUnknown AVPKind = iota // not in the dictionary
	KindOctets                 // any length: OctetString, UTF8String, DiameterIdentity, URIs, filter rules
	KindGrouped                // a sequence of AVPs
	KindFixed4                 // 4 octets: Unsigned32, Integer32, Float32, Enumerated, Time, IPv4
	KindFixed8                 // 8 octets: Unsigned64, Integer64, Float64
	KindFixed16                // 16 octets: IPv6
	KindAddress                // Address: a 2-octet family and an address of the family's size
)

// Dictionary tells CheckAVPs what it knows of an AVP. Kind must not
// allocate and must be safe for concurrent use.
type Dictionary interface {
	Kind(code, vendor uint32) AVPKind
}

// maxCheckDepth bounds the nesting CheckAVPs descends into; deeper Grouped
// AVPs are not checked (the router refuses them before, by its limits).
const maxCheckDepth = 64

// AVPProblem is why CheckAVPs refuses a message: a Result-Code, the
// content of the Failed-AVP to answer with and a reason for
// Error-Message. A zero ResultCode means none.
type AVPProblem struct {
	ResultCode uint32
	FailedAVP  []byte
	Message    string
}

// CheckAVPs walks the AVPs of body (a message body), descending into those
// d says are Grouped, as a node that processes the message does (RFC 6733
// §4.1, §7.1.5), and returns the first problem it finds:
//
//   - 5014 DIAMETER_INVALID_AVP_LENGTH: an AVP whose length field is below
//     its header or runs past the data that holds it, or whose payload
//     does not have the size of its type. The Failed-AVP holds a stand-in
//     for it, as §7.1.5 allows: its code, flags and Vendor-ID with the
//     payload of AVPKind.ZeroPayload (the AVP as received would make the
//     answer itself undecodable to a strict peer).
//   - 5001 DIAMETER_AVP_UNSUPPORTED: an AVP d does not know that has the
//     M bit. The Failed-AVP holds the AVP. Unknown AVPs without the M
//     bit are accepted.
//   - 5004 DIAMETER_INVALID_AVP_VALUE: an Address of family 0 or 65535
//     (reserved), Failed-AVP the AVP.
//
// A problem inside a Grouped AVP is reported, as §7.5 allows, with the
// Failed-AVP holding the Grouped AVP (its header) around the single
// offending AVP, at every level of nesting. A well-formed body costs one
// dictionary look-up per AVP and allocates nothing.
func CheckAVPs(body []byte, d Dictionary) AVPProblem {
	return checkAVPs(body, d, 1)
}

func checkAVPs(b []byte, d Dictionary, depth int) AVPProblem {
	for off := 0; off < len(b); {
		n, hl, ok := avpAt(b, off)
		if !ok {
			return AVPProblem{ResultInvalidAVPLength, standIn(b, off, d), "malformed AVP" + describe(b, off)}
		}
		raw := b[off : off+n]
		padded := b[off : off+avpSize(b, off, n)] // for Failed-AVP
		code := binary.BigEndian.Uint32(raw)
		var vendor uint32
		if hl == avpVendorHeaderLen {
			vendor = binary.BigEndian.Uint32(raw[8:])
		}
		data := raw[hl:]
		var p AVPProblem
		switch k := d.Kind(code, vendor); k {
		case KindUnknown:
			if raw[4]&AVPFlagMandatory != 0 {
				p = AVPProblem{ResultAVPUnsupported, padded, "unsupported AVP" + describe(b, off) + " with the M bit"}
			}
		case KindGrouped:
			if depth < maxCheckDepth {
				if p = checkAVPs(data, d, depth+1); p.ResultCode != 0 {
					p.FailedAVP = wrapIn(raw, hl, p.FailedAVP)
				}
			}
		case KindAddress:
			switch {
			case len(data) < 3:
				p = AVPProblem{ResultInvalidAVPLength, standIn(b, off, d), "Address" + describe(b, off) + " too short"}
			case binary.BigEndian.Uint16(data) == 1 && len(data) != 2+4,
				binary.BigEndian.Uint16(data) == 2 && len(data) != 2+16:
				p = AVPProblem{ResultInvalidAVPLength, standIn(b, off, d), "Address" + describe(b, off) + " of the wrong length for its family"}
			case binary.BigEndian.Uint16(data) == 0 || binary.BigEndian.Uint16(data) == 0xffff:
				p = AVPProblem{ResultInvalidAVPValue, padded, "Address" + describe(b, off) + " of a reserved family"}
			}
		default:
			if sz := fixedSize(k); sz != 0 && len(data) != sz {
				p = AVPProblem{ResultInvalidAVPLength, standIn(b, off, d), "payload of AVP" + describe(b, off) + " is " + strconv.Itoa(len(data)) + " octets, not " + strconv.Itoa(sz)}
			}
		}
		if p.ResultCode != 0 {
			return p
		}
		off += avpSize(b, off, n)
	}
	return AVPProblem{}
}

// describe names the AVP at b[off:] for an Error-Message: " <code>" or
// " <code> (vendor <id>)", or "" when its header is cut.
func describe(b []byte, off int) string {
	h := b[off:]
	if len(h) < avpHeaderLen {
		return ""
	}
	s := " " + strconv.FormatUint(uint64(binary.BigEndian.Uint32(h)), 10)
	if h[4]&AVPFlagVendor != 0 && len(h) >= avpVendorHeaderLen {
		s += " (vendor " + strconv.FormatUint(uint64(binary.BigEndian.Uint32(h[8:])), 10) + ")"
	}
	return s
}

// fixedSize is the payload size of a fixed-size kind, 0 for others.
func fixedSize(k AVPKind) int {
	switch k {
	case KindFixed4:
		return 4
	case KindFixed8:
		return 8
	case KindFixed16:
		return 16
	}
	return 0
}

// ZeroPayload returns the payload of the AVP standing for a missing or
// malformed AVP of kind k in a Failed-AVP (RFC 6733 §7.5, §7.1.5): zeros
// of the minimum size of the type (4, 8 or 16 octets for the fixed sizes,
// none for the others), and for an Address the IPv4 family with 0.0.0.0,
// since family 0 is reserved and a strict decoder refuses it.
func (k AVPKind) ZeroPayload() []byte {
	if k == KindAddress {
		return []byte{0, 1, 0, 0, 0, 0}
	}
	return make([]byte, fixedSize(k))
}

// standIn is the Failed-AVP content for the malformed AVP at b[off:]
// (FailedAVPWith): nil when fewer than 8 octets remain.
func standIn(b []byte, off int, d Dictionary) []byte { return FailedAVPWith(b, off, d) }

// wrapIn returns inner inside a copy of the header (hl octets) of the
// Grouped AVP raw. With no inner (the offending AVP's header is cut
// short) it is the Grouped AVP's header with an empty payload, which
// RFC 6733 §7.1.5 says is enough.
func wrapIn(raw []byte, hl int, inner []byte) []byte {
	var vendor uint32
	if hl == avpVendorHeaderLen {
		vendor = binary.BigEndian.Uint32(raw[8:])
	}
	return AppendAVP(nil, binary.BigEndian.Uint32(raw), raw[4], vendor, inner)
}
