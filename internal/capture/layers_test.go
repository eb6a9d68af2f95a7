package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

func TestDecode(t *testing.T) {
	payload := []byte("\x01\x00\x00\x14diameter-ish bytes!")
	seg := tcpSeg(1000, 0x18, payload)
	v4 := ipv4(TCP, seg)
	v6 := ipv6(TCP, seg)
	padded := append(ether(0x0800, 0, v4), make([]byte, 6)...) // Ethernet padding
	tests := []struct {
		name    string
		link    LinkType
		frame   []byte
		v6      bool
		payload []byte
		err     error
	}{
		{"Ethernet IPv4", LinkEthernet, ether(0x0800, 0, v4), false, payload, nil},
		{"Ethernet IPv6", LinkEthernet, ether(0x86dd, 0, v6), true, payload, nil},
		{"Ethernet two VLAN tags", LinkEthernet, ether(0x0800, 2, v4), false, payload, nil},
		{"Ethernet padding cut off", LinkEthernet, padded, false, payload, nil},
		{"Linux cooked", LinkLinuxSLL, sll(0x0800, v4), false, payload, nil},
		{"Linux cooked v2 IPv6", LinkLinuxSLL2, sll2(0x86dd, v6), true, payload, nil},
		{"BSD loopback little-endian", LinkNull, null(binary.LittleEndian, 2, v4), false, payload, nil},
		{"BSD loopback Darwin IPv6", LinkNull, null(binary.BigEndian, 30, v6), true, payload, nil},
		{"OpenBSD loopback", LinkLoop, null(binary.BigEndian, 24, v6), true, payload, nil},
		{"raw IPv4", LinkRaw, v4, false, payload, nil},
		{"raw IPv6", LinkIPv6, v6, true, payload, nil},
		{"IPv6 extension headers", LinkRaw, ipv6(0, ext(60, ext(TCP, nil))), true, nil, ErrTruncated},
		{"IPv6 hop-by-hop and destination options", LinkRaw, ipv6(0, append(ext(60, nil), append(ext(TCP, nil), seg...)...)), true, payload, nil},
		{"IPv6 whole fragment", LinkRaw, ipv6(44, append(ext(TCP, nil), seg...)), true, payload, nil},
		{"IPv6 fragment", LinkRaw, ipv6(44, append([]byte{TCP, 0, 0, 1, 0, 0, 0, 9}, seg...)), true, nil, ErrUnsupported},
		{"IPv4 fragment", LinkRaw, func() []byte { b := bytes.Clone(v4); b[6] = 0x20; return b }(), false, nil, ErrUnsupported},
		{"IPv4 options", LinkRaw, func() []byte {
			b := append([]byte{0x46}, v4[1:20]...)
			binary.BigEndian.PutUint16(b[2:], uint16(24+len(seg)))
			return append(append(b, 1, 1, 1, 0), seg...)
		}(), false, payload, nil},
		{"IPv4 total length 0 (offload)", LinkRaw, func() []byte { b := bytes.Clone(v4); b[2], b[3] = 0, 0; return b }(), false, payload, nil},
		{"UDP", LinkRaw, ipv4(17, seg), false, nil, ErrUnsupported},
		{"ARP", LinkEthernet, ether(0x0806, 0, v4), false, nil, ErrUnsupported},
		{"unknown link type", 147, v4, false, nil, ErrUnsupported},
		{"short Ethernet", LinkEthernet, v4[:10], false, nil, ErrTruncated},
		{"short TCP header", LinkRaw, ipv4(TCP, seg[:19]), false, nil, ErrTruncated},
		{"TCP data offset past the end", LinkRaw, ipv4(TCP, seg[:24]), false, nil, ErrTruncated},
		{"loopback family unknown", LinkNull, null(binary.LittleEndian, 7, v4), false, nil, ErrUnsupported},
		{"SCTP", LinkRaw, ipv4(SCTP, sctpData([]byte{3, 0, 0, 8, 0, 0, 0, 0}, dataChunk(3, payload), dataChunk(3, []byte("second")))), false, payload, nil},
		{"SCTP fragment only", LinkRaw, ipv4(SCTP, sctpData(dataChunk(1, payload))), false, nil, ErrUnsupported},
		{"SCTP bad chunk length", LinkRaw, ipv4(SCTP, sctpData([]byte{0, 3, 0, 200})), false, nil, ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Decode(tc.link, tc.frame)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s.Payload, tc.payload) {
				t.Errorf("payload %q, want %q", s.Payload, tc.payload)
			}
			src, dst := "127.0.0.1:40000", "127.0.0.2:3868"
			if tc.v6 {
				src, dst = "[::1]:40000", "[::2]:3868"
			}
			if s.Src != netip.MustParseAddrPort(src) || s.Dst != netip.MustParseAddrPort(dst) {
				t.Errorf("flow %s -> %s, want %s -> %s", s.Src, s.Dst, src, dst)
			}
			if s.Proto == TCP && (s.Seq != 1000 || s.SYN || s.FIN) {
				t.Errorf("seq %d syn %v fin %v", s.Seq, s.SYN, s.FIN)
			}
			if s.Proto == SCTP && (len(s.Chunks) != 2 || string(s.Chunks[1]) != "second") {
				t.Errorf("chunks %q", s.Chunks)
			}
		})
	}
}

// FuzzDecode: no frame of any link type makes Decode panic, and a
// payload it returns lies within the frame.
func FuzzDecode(f *testing.F) {
	seg := tcpSeg(1, 0x18, []byte("\x01\x00\x00\x14"))
	for _, s := range []struct {
		link  LinkType
		frame []byte
	}{
		{LinkEthernet, ether(0x0800, 1, ipv4(TCP, seg))},
		{LinkLinuxSLL2, sll2(0x86dd, ipv6(0, ext(TCP, seg)))},
		{LinkLinuxSLL, sll(0x0800, ipv4(SCTP, sctpData(dataChunk(3, []byte("abcd")))))},
		{LinkNull, null(binary.LittleEndian, 2, ipv4(TCP, seg))},
		{LinkRaw, ipv6(44, append(ext(51, []byte{TCP, 0}), seg...))},
	} {
		f.Add(uint16(s.link), s.frame)
	}
	f.Fuzz(func(t *testing.T, link uint16, frame []byte) {
		s, err := Decode(LinkType(link), frame)
		if err != nil {
			return
		}
		for _, p := range append([][]byte{s.Payload}, s.Chunks...) {
			if len(p) > 0 && !within(frame, p) {
				t.Fatalf("payload of %d bytes outside the frame", len(p))
			}
		}
	})
}

// within reports whether p is a sub-slice of b.
func within(b, p []byte) bool {
	for i := range b {
		if &b[i] == &p[0] {
			return len(b)-i >= len(p)
		}
	}
	return false
}
