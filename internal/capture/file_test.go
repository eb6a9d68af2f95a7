package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// readAll reads every packet of file.
func readAll(file []byte) ([]Packet, error) {
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		return nil, err
	}
	var ps []Packet
	for {
		p, err := r.Next()
		if err == io.EOF {
			return ps, nil
		}
		if err != nil {
			return ps, err
		}
		ps = append(ps, p)
	}
}

func TestReader(t *testing.T) {
	f1, f2, f3 := []byte("first frame"), []byte("second frame!"), []byte("third")
	le, be := binary.LittleEndian, binary.BigEndian
	type want struct {
		link LinkType
		data []byte
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name string
		file []byte
		want []want
		err  error
	}{
		{"pcap little-endian", pcapFile(le, pcapMagicMicro, LinkEthernet, f1, f2), []want{{LinkEthernet, f1}, {LinkEthernet, f2}}, nil},
		{"pcap big-endian nanoseconds", pcapFile(be, pcapMagicNano, LinkLinuxSLL, f1), []want{{LinkLinuxSLL, f1}}, nil},
		{"pcap FCS length in the link type's upper bits", func() []byte {
			b := pcapFile(le, pcapMagicMicro, LinkEthernet, f1)
			b[23] = 0x18 // F bit, 4-byte FCS
			return b
		}(), []want{{LinkEthernet, f1}}, nil},
		{"pcap no packets", pcapFile(le, pcapMagicMicro, LinkRaw), nil, nil},
		{"pcap truncated record", pcapFile(le, pcapMagicMicro, LinkRaw, f1)[:24+16+3], nil, ErrCorrupt},
		{"pcap huge record", func() []byte {
			b := pcapFile(le, pcapMagicMicro, LinkRaw, f1)
			le.PutUint32(b[24+8:], 1<<30)
			return b
		}(), nil, ErrCorrupt},
		{"pcapng two interfaces", cat(ngSection(le), ngIface(le, LinkEthernet, 0), ngIface(le, LinkLinuxSLL2, 0),
			ngEnhanced(le, 1, f1), ngBlock(le, 5, []byte("statistics")), ngEnhanced(le, 0, f2)),
			[]want{{LinkLinuxSLL2, f1}, {LinkEthernet, f2}}, nil},
		{"pcapng big-endian, simple packet block cut to snaplen", cat(ngSection(be), ngIface(be, LinkRaw, 5), ngSimple(be, f2)),
			[]want{{LinkRaw, f2[:5]}}, nil},
		{"pcapng second section of the other byte order", cat(ngSection(le), ngIface(le, LinkEthernet, 0), ngEnhanced(le, 0, f1),
			ngSection(be), ngIface(be, LinkNull, 0), ngEnhanced(be, 0, f3)),
			[]want{{LinkEthernet, f1}, {LinkNull, f3}}, nil},
		{"pcapng packet on an undescribed interface", cat(ngSection(le), ngIface(le, LinkEthernet, 0), ngEnhanced(le, 1, f1)), nil, ErrCorrupt},
		{"pcapng trailing length differs", func() []byte {
			b := cat(ngSection(le), ngIface(le, LinkEthernet, 0), ngEnhanced(le, 0, f1))
			b[len(b)-1] = 1
			return b
		}(), nil, ErrCorrupt},
		{"pcapng captured length past the block", func() []byte {
			b := cat(ngSection(le), ngIface(le, LinkEthernet, 0))
			epb := ngEnhanced(le, 0, f1)
			le.PutUint32(epb[8+12:], 1000)
			return append(b, epb...)
		}(), nil, ErrCorrupt},
		{"pcapng block length not a multiple of 4", func() []byte {
			b := cat(ngSection(le), ngIface(le, LinkEthernet, 0))
			return append(b, 6, 0, 0, 0, 13, 0, 0, 0)
		}(), nil, ErrCorrupt},
		{"pcapng bad byte-order magic", func() []byte { b := ngSection(le); b[8] = 0; return b }(), nil, ErrCorrupt},
		{"not a capture", []byte("hello, world"), nil, ErrFormat},
		{"empty", nil, nil, ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := readAll(tc.file)
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				return
			}
			if len(ps) != len(tc.want) {
				t.Fatalf("%d packets, want %d", len(ps), len(tc.want))
			}
			for i, p := range ps {
				if p.Number != i+1 || p.Link != tc.want[i].link || !bytes.Equal(p.Data, tc.want[i].data) {
					t.Errorf("packet %d: number %d, %s, %q; want %s, %q", i+1, p.Number, p.Link, p.Data, tc.want[i].link, tc.want[i].data)
				}
			}
		})
	}
}

// FuzzReader: no file makes the reader panic or loop, and every packet it
// returns is numbered in order.
func FuzzReader(f *testing.F) {
	le, be := binary.LittleEndian, binary.BigEndian
	f.Add(pcapFile(le, pcapMagicMicro, LinkEthernet, []byte("frame")))
	f.Add(pcapFile(be, pcapMagicNano, LinkRaw, []byte("frame"), nil))
	f.Add(bytes.Join([][]byte{ngSection(le), ngIface(le, LinkEthernet, 0), ngEnhanced(le, 0, []byte("frame")), ngSimple(le, []byte("x"))}, nil))
	f.Add(bytes.Join([][]byte{ngSection(be), ngIface(be, LinkLinuxSLL2, 4), ngBlock(be, ngPB, make([]byte, 24))}, nil))
	f.Fuzz(func(t *testing.T, file []byte) {
		ps, _ := readAll(file)
		for i, p := range ps {
			if p.Number != i+1 {
				t.Fatalf("packet %d numbered %d", i+1, p.Number)
			}
			if len(p.Data) > len(file) {
				t.Fatalf("packet of %d bytes from a file of %d", len(p.Data), len(file))
			}
		}
	})
}
