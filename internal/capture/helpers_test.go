package capture

import (
	"bytes"
	"encoding/binary"
)

// Builders of the layers a test frame is made of.

func tcpSeg(seq uint32, flags byte, payload []byte) []byte {
	h := make([]byte, 20, 20+12+len(payload))
	binary.BigEndian.PutUint16(h, 40000)
	binary.BigEndian.PutUint16(h[2:], 3868)
	binary.BigEndian.PutUint32(h[4:], seq)
	h[12] = 8 << 4 // 32-byte header: 12 bytes of options
	h[13] = flags
	h = append(h, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2) // NOP NOP timestamps
	return append(h, payload...)
}

func ipv4(proto byte, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	h[6] = 0x40 // DF
	h[8], h[9] = 64, proto
	copy(h[12:], []byte{127, 0, 0, 1})
	copy(h[16:], []byte{127, 0, 0, 2})
	return append(h, payload...)
}

func ipv6(proto byte, payload []byte) []byte {
	h := make([]byte, 40, 40+len(payload))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6], h[7] = proto, 64
	h[23], h[39] = 1, 2 // ::1 -> ::2
	return append(h, payload...)
}

// ext prepends an IPv6 extension header of type-specific length.
func ext(next byte, body []byte) []byte {
	h := make([]byte, 8)
	h[0] = next
	return append(h, body...)
}

func ether(etherType uint16, tags int, payload []byte) []byte {
	h := make([]byte, 12)
	for range tags {
		h = binary.BigEndian.AppendUint16(h, 0x8100)
		h = binary.BigEndian.AppendUint16(h, 7) // VLAN 7
	}
	h = binary.BigEndian.AppendUint16(h, etherType)
	return append(h, payload...)
}

func sll(etherType uint16, payload []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[2:], 772) // ARPHRD_LOOPBACK
	binary.BigEndian.PutUint16(h[14:], etherType)
	return append(h, payload...)
}

func sll2(etherType uint16, payload []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h, etherType)
	binary.BigEndian.PutUint32(h[4:], 1)
	return append(h, payload...)
}

func null(order order, family uint32, payload []byte) []byte {
	return append(order.AppendUint32(nil, family), payload...)
}

func sctpData(chunks ...[]byte) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b, 40000)
	binary.BigEndian.PutUint16(b[2:], 3868)
	for _, c := range chunks {
		b = append(b, c...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

// dataChunk is an SCTP DATA chunk with flags (3: B and E, the whole
// message) and user data d (PPID 46, Diameter).
func dataChunk(flags byte, d []byte) []byte {
	c := []byte{0, flags, 0, 0}
	binary.BigEndian.PutUint16(c[2:], uint16(16+len(d)))
	c = append(c, make([]byte, 12)...)
	binary.BigEndian.PutUint32(c[12:], 46)
	return append(c, d...)
}

// pcapFile writes a classic pcap file.
func pcapFile(order order, magic uint32, link LinkType, frames ...[]byte) []byte {
	var b bytes.Buffer
	h := make([]byte, 24)
	order.PutUint32(h, magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 262144)
	order.PutUint32(h[20:], uint32(link))
	b.Write(h)
	for i, f := range frames {
		r := make([]byte, 16)
		order.PutUint32(r, uint32(1700000000+i))
		order.PutUint32(r[8:], uint32(len(f)))
		order.PutUint32(r[12:], uint32(len(f)))
		b.Write(r)
		b.Write(f)
	}
	return b.Bytes()
}

// ngBlock is one pcapng block.
func ngBlock(order order, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := order.AppendUint32(nil, typ)
	b = order.AppendUint32(b, n)
	b = append(b, body...)
	return order.AppendUint32(b, n)
}

func ngSection(order order) []byte {
	body := order.AppendUint32(nil, ngBOM)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = append(body, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // length unknown
	return ngBlock(order, ngSHB, body)
}

func ngIface(order order, link LinkType, snaplen uint32) []byte {
	body := order.AppendUint16(nil, uint16(link))
	body = order.AppendUint16(body, 0)
	body = order.AppendUint32(body, snaplen)
	return ngBlock(order, ngIDB, body)
}

func ngEnhanced(order order, ifid uint32, data []byte) []byte {
	body := order.AppendUint32(nil, ifid)
	body = order.AppendUint32(body, 0)
	body = order.AppendUint32(body, 1)
	body = order.AppendUint32(body, uint32(len(data)))
	body = order.AppendUint32(body, uint32(len(data)))
	return ngBlock(order, ngEPB, append(body, data...))
}

func ngSimple(order order, data []byte) []byte {
	return ngBlock(order, ngSPB, append(order.AppendUint32(nil, uint32(len(data))), data...))
}

// order is a byte order that can append.
type order interface {
	binary.ByteOrder
	binary.AppendByteOrder
}
