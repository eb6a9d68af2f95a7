package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// LinkType is a pcap link-layer header type (LINKTYPE_* of the
// tcpdump.org list).
type LinkType uint16

// The link types Decode understands.
const (
	LinkNull      LinkType = 0   // BSD loopback: address family in the capturing host's byte order
	LinkEthernet  LinkType = 1   // Ethernet II, with 802.1Q/802.1ad tags
	LinkRaw       LinkType = 101 // raw IPv4 or IPv6
	LinkLoop      LinkType = 108 // OpenBSD loopback: address family in network byte order
	LinkLinuxSLL  LinkType = 113 // Linux cooked capture (interface "any")
	LinkIPv4      LinkType = 228
	LinkIPv6      LinkType = 229
	LinkLinuxSLL2 LinkType = 276 // Linux cooked capture v2
	linkRawDLT12  LinkType = 12  // DLT_RAW as some platforms wrote it
	linkRawDLT14  LinkType = 14
)

// String names the link type.
func (l LinkType) String() string {
	switch l {
	case LinkNull:
		return "BSD loopback"
	case LinkEthernet:
		return "Ethernet"
	case LinkRaw, linkRawDLT12, linkRawDLT14:
		return "raw IP"
	case LinkLoop:
		return "OpenBSD loopback"
	case LinkLinuxSLL:
		return "Linux cooked capture"
	case LinkIPv4:
		return "raw IPv4"
	case LinkIPv6:
		return "raw IPv6"
	case LinkLinuxSLL2:
		return "Linux cooked capture v2"
	}
	return fmt.Sprintf("link type %d", uint16(l))
}

// Transport protocols.
const (
	TCP  = 6
	SCTP = 132
)

// Segment is the transport layer of a decoded frame.
type Segment struct {
	Src, Dst netip.AddrPort
	Proto    uint8 // TCP or SCTP
	// Seq is the TCP sequence number of Payload's first byte; SYN and FIN
	// are the TCP flags.
	Seq      uint32
	SYN, FIN bool
	// Payload is the TCP payload; for SCTP, the user data of the first
	// DATA chunk.
	Payload []byte
	// Chunks holds the user data of each whole (unfragmented) SCTP DATA
	// chunk.
	Chunks [][]byte
}

// ErrUnsupported is wrapped when a frame holds something Decode does not
// decode (another link type, protocol or an IP fragment).
var ErrUnsupported = errors.New("capture: unsupported")

// ErrTruncated is wrapped when a header is cut short.
var ErrTruncated = errors.New("capture: truncated")

const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
)

// Decode decodes a frame of the given link type down to its TCP or SCTP
// segment.
func Decode(link LinkType, b []byte) (Segment, error) {
	var etherType uint16
	switch link {
	case LinkEthernet:
		if len(b) < 14 {
			return Segment{}, fmt.Errorf("%w: Ethernet header: %d bytes", ErrTruncated, len(b))
		}
		etherType, b = binary.BigEndian.Uint16(b[12:]), b[14:]
		for etherType == 0x8100 || etherType == 0x88a8 || etherType == 0x9100 { // VLAN tags
			if len(b) < 4 {
				return Segment{}, fmt.Errorf("%w: VLAN tag: %d bytes", ErrTruncated, len(b))
			}
			etherType, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
	case LinkLinuxSLL:
		if len(b) < 16 {
			return Segment{}, fmt.Errorf("%w: Linux cooked header: %d bytes", ErrTruncated, len(b))
		}
		etherType, b = binary.BigEndian.Uint16(b[14:]), b[16:]
	case LinkLinuxSLL2:
		if len(b) < 20 {
			return Segment{}, fmt.Errorf("%w: Linux cooked v2 header: %d bytes", ErrTruncated, len(b))
		}
		etherType, b = binary.BigEndian.Uint16(b), b[20:]
	case LinkNull, LinkLoop:
		if len(b) < 4 {
			return Segment{}, fmt.Errorf("%w: loopback header: %d bytes", ErrTruncated, len(b))
		}
		fam := binary.BigEndian.Uint32(b)
		if link == LinkNull && b[0] != 0 {
			fam = binary.LittleEndian.Uint32(b) // written by a little-endian host
		}
		b = b[4:]
		switch fam {
		case 2: // AF_INET everywhere
			etherType = etherIPv4
		case 10, 24, 28, 30: // AF_INET6: Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			etherType = etherIPv6
		default:
			return Segment{}, fmt.Errorf("%w: loopback address family %d", ErrUnsupported, fam)
		}
	case LinkRaw, linkRawDLT12, linkRawDLT14, LinkIPv4, LinkIPv6:
		return decodeIP(b)
	default:
		return Segment{}, fmt.Errorf("%w: %s", ErrUnsupported, link)
	}
	switch etherType {
	case etherIPv4, etherIPv6:
		return decodeIP(b)
	}
	return Segment{}, fmt.Errorf("%w: EtherType 0x%04x is not IP", ErrUnsupported, etherType)
}

// decodeIP decodes an IPv4 or IPv6 packet (the version nibble tells).
func decodeIP(b []byte) (Segment, error) {
	if len(b) == 0 {
		return Segment{}, fmt.Errorf("%w: no IP header", ErrTruncated)
	}
	switch b[0] >> 4 {
	case 4:
		return decodeIPv4(b)
	case 6:
		return decodeIPv6(b)
	}
	return Segment{}, fmt.Errorf("%w: IP version %d", ErrUnsupported, b[0]>>4)
}

func decodeIPv4(b []byte) (Segment, error) {
	if len(b) < 20 {
		return Segment{}, fmt.Errorf("%w: IPv4 header: %d bytes", ErrTruncated, len(b))
	}
	hl := int(b[0]&0x0f) * 4
	if hl < 20 || hl > len(b) {
		return Segment{}, fmt.Errorf("%w: IPv4 header length %d of %d bytes", ErrTruncated, hl, len(b))
	}
	// A total length of 0 is what segmentation offload leaves; the
	// captured bytes then are the packet. Ethernet padding after a short
	// packet is cut off.
	if total := int(binary.BigEndian.Uint16(b[2:])); total >= hl && total < len(b) {
		b = b[:total]
	}
	if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 {
		return Segment{}, fmt.Errorf("%w: IPv4 fragment (offset %d): fragments are not reassembled", ErrUnsupported, (frag&0x1fff)*8)
	}
	src, _ := netip.AddrFromSlice(b[12:16])
	dst, _ := netip.AddrFromSlice(b[16:20])
	return decodeTransport(b[9], src, dst, b[hl:])
}

func decodeIPv6(b []byte) (Segment, error) {
	if len(b) < 40 {
		return Segment{}, fmt.Errorf("%w: IPv6 header: %d bytes", ErrTruncated, len(b))
	}
	if n := int(binary.BigEndian.Uint16(b[4:])); n > 0 && 40+n < len(b) {
		b = b[:40+n] // 0: a jumbogram or offload; keep what was captured
	}
	src, _ := netip.AddrFromSlice(b[8:24])
	dst, _ := netip.AddrFromSlice(b[24:40])
	next, p := b[6], b[40:]
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop options, routing, destination options
			if len(p) < 8 {
				return Segment{}, fmt.Errorf("%w: IPv6 extension header %d", ErrTruncated, next)
			}
			n := (int(p[1]) + 1) * 8
			if n > len(p) {
				return Segment{}, fmt.Errorf("%w: IPv6 extension header %d: %d of %d bytes", ErrTruncated, next, len(p), n)
			}
			next, p = p[0], p[n:]
		case 51: // authentication header
			if len(p) < 8 {
				return Segment{}, fmt.Errorf("%w: IPv6 authentication header", ErrTruncated)
			}
			n := (int(p[1]) + 2) * 4
			if n > len(p) {
				return Segment{}, fmt.Errorf("%w: IPv6 authentication header: %d of %d bytes", ErrTruncated, len(p), n)
			}
			next, p = p[0], p[n:]
		case 44: // fragment
			if len(p) < 8 {
				return Segment{}, fmt.Errorf("%w: IPv6 fragment header", ErrTruncated)
			}
			if frag := binary.BigEndian.Uint16(p[2:]); frag&0xfff9 != 0 {
				return Segment{}, fmt.Errorf("%w: IPv6 fragment (offset %d): fragments are not reassembled", ErrUnsupported, frag&^7)
			}
			next, p = p[0], p[8:]
		default:
			return decodeTransport(next, src, dst, p)
		}
	}
}

func decodeTransport(proto uint8, src, dst netip.Addr, b []byte) (Segment, error) {
	switch proto {
	case TCP:
		if len(b) < 20 {
			return Segment{}, fmt.Errorf("%w: TCP header: %d bytes", ErrTruncated, len(b))
		}
		off := int(b[12]>>4) * 4
		if off < 20 || off > len(b) {
			return Segment{}, fmt.Errorf("%w: TCP data offset %d of %d bytes", ErrTruncated, off, len(b))
		}
		return Segment{
			Src:   netip.AddrPortFrom(src, binary.BigEndian.Uint16(b)),
			Dst:   netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
			Proto: TCP, Seq: binary.BigEndian.Uint32(b[4:]),
			SYN: b[13]&0x02 != 0, FIN: b[13]&0x01 != 0,
			Payload: b[off:],
		}, nil
	case SCTP:
		return decodeSCTP(src, dst, b)
	}
	return Segment{}, fmt.Errorf("%w: IP protocol %d is neither TCP nor SCTP", ErrUnsupported, proto)
}

// decodeSCTP collects the user data of the packet's DATA chunks.
func decodeSCTP(src, dst netip.Addr, b []byte) (Segment, error) {
	if len(b) < 12 {
		return Segment{}, fmt.Errorf("%w: SCTP header: %d bytes", ErrTruncated, len(b))
	}
	s := Segment{
		Src:   netip.AddrPortFrom(src, binary.BigEndian.Uint16(b)),
		Dst:   netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
		Proto: SCTP,
	}
	fragmented := false
	for p := b[12:]; len(p) >= 4; {
		n := int(binary.BigEndian.Uint16(p[2:]))
		if n < 4 || n > len(p) {
			return Segment{}, fmt.Errorf("%w: SCTP chunk length %d of %d bytes", ErrTruncated, n, len(p))
		}
		if p[0] == 0 && n >= 16 { // DATA
			if p[1]&0x03 == 0x03 { // B and E: the whole message
				s.Chunks = append(s.Chunks, p[16:n])
			} else {
				fragmented = true
			}
		}
		p = p[min((n+3)&^3, len(p)):]
	}
	if len(s.Chunks) == 0 && fragmented {
		return Segment{}, fmt.Errorf("%w: SCTP DATA fragment: fragments are not reassembled", ErrUnsupported)
	}
	if len(s.Chunks) > 0 {
		s.Payload = s.Chunks[0]
	}
	return s, nil
}
