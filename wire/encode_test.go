package wire

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestAppendAVPRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		code      uint32
		flags     uint8
		vendor    uint32
		wantFlags uint8
		wantHdr   int
	}{
		{"plain", AVPUserName, AVPFlagMandatory, 0, AVPFlagMandatory, 8},
		{"vendor sets V bit", 8, AVPFlagMandatory, vendor3GPP, AVPFlagMandatory | AVPFlagVendor, 12},
		{"V bit with vendor 0 keeps the field", 8, AVPFlagVendor, 0, AVPFlagVendor, 12},
		{"protected", 1, AVPFlagProtected, 0, AVPFlagProtected, 8},
	}
	for _, tt := range tests {
		for n := range 10 {
			data := []byte(strings.Repeat("x", n))
			t.Run(fmt.Sprintf("%s/%d bytes", tt.name, n), func(t *testing.T) {
				prefix := []byte{0xaa, 0xbb, 0xcc, 0xdd}
				b := AppendAVP(prefix, tt.code, tt.flags, tt.vendor, data)
				enc := b[len(prefix):]
				if !bytes.Equal(b[:4], prefix) {
					t.Fatal("prefix clobbered")
				}
				if len(enc)%4 != 0 || len(enc) != AVPSize(tt.vendor, tt.flags, n) || len(enc) != (tt.wantHdr+n+3)&^3 {
					t.Fatalf("encoded %d bytes for %d bytes of data", len(enc), n)
				}
				if uint24(enc[5:8]) != tt.wantHdr+n {
					t.Errorf("length field %d, want %d", uint24(enc[5:8]), tt.wantHdr+n)
				}
				if pad := enc[tt.wantHdr+n:]; !bytes.Equal(pad, make([]byte, len(pad))) {
					t.Errorf("padding %x not zero", pad)
				}
				it := NewIter(enc)
				if !it.Next() {
					t.Fatalf("no AVP: %v", it.Err())
				}
				a := it.AVP()
				if a.Code != tt.code || a.Flags != tt.wantFlags || a.VendorID != tt.vendor ||
					!bytes.Equal(a.Data, data) || a.Size != len(enc) || a.Offset != 0 {
					t.Errorf("decoded %+v", a)
				}
				if it.Next() || it.Err() != nil {
					t.Errorf("trailing AVP or error %v", it.Err())
				}
				if s := AppendStringAVP(nil, tt.code, tt.flags, tt.vendor, string(data)); !bytes.Equal(s, enc) {
					t.Errorf("AppendStringAVP differs from AppendAVP")
				}
			})
		}
	}
}

func TestAppendUint32AVP(t *testing.T) {
	b := AppendUint32AVP(nil, AVPResultCode, AVPFlagMandatory, 0, 5012)
	want := []byte{0, 0, 1, 12, 0x40, 0, 0, 12, 0, 0, 0x13, 0x94}
	if !bytes.Equal(b, want) {
		t.Errorf("got %x, want %x", b, want)
	}
}

func TestMsgAppendAVP(t *testing.T) {
	tests := []struct {
		name      string
		m         func() Msg
		data      []byte
		sameArray bool
	}{
		{"pool buffer with slack", func() Msg { return NewMsg(FlagRequest, CmdCreditControl, 4, 1, 2) }, []byte("hello"), true},
		{"exact capacity reallocates", func() Msg { return clone(NewMsg(FlagRequest, CmdCreditControl, 4, 1, 2)) }, []byte("hello"), false},
		{"crossing a size class reallocates", func() Msg {
			m := NewMsg(FlagRequest, CmdCreditControl, 4, 1, 2)
			return m.AppendAVP(1, 0, 0, make([]byte, 256-HeaderLen-8))
		}, []byte("x"), false},
		{"large data beyond the pool", func() Msg { return NewMsg(0, 1, 2, 3, 4) }, make([]byte, 70000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m()
			before := clone(m)
			first := &m[0]
			m2 := m.AppendAVP(AVPUserName, AVPFlagMandatory, 0, tt.data)
			if (&m2[0] == first) != tt.sameArray {
				t.Errorf("same backing array = %v, want %v", &m2[0] == first, tt.sameArray)
			}
			if _, err := CheckHeader(m2, MaxLen); err != nil || m2.Len() != len(m2) {
				t.Fatalf("CheckHeader = %v, Len %d, len %d", err, m2.Len(), len(m2))
			}
			if !bytes.Equal(m2[4:len(before)], before[4:]) {
				t.Error("existing content changed")
			}
			if off, err := m2.Validate(); err != nil {
				t.Fatalf("Validate = %d, %v", off, err)
			}
			it := NewIter(m2[len(before):])
			if !it.Next() || !bytes.Equal(it.AVP().Data, tt.data) || it.AVP().Code != AVPUserName {
				t.Errorf("appended AVP not found")
			}
		})
	}

	t.Run("data aliasing the message survives reallocation", func(t *testing.T) {
		m := clone(buildCCR(""))
		sid, _ := m.Find(AVPSessionID, 0)
		m = m.AppendAVP(AVPUserName, 0, 0, sid.Data)
		a, ok := m.Find(AVPUserName, 0)
		if !ok || string(a.Data) != testSessionID {
			t.Errorf("appended %q", a.Data)
		}
	})

	t.Run("string and uint32 variants", func(t *testing.T) {
		m := NewMsg(0, 1, 2, 3, 4).AppendStringAVP(AVPOriginHost, AVPFlagMandatory, 0, "h").
			AppendUint32AVP(AVPResultCode, AVPFlagMandatory, 0, 2001)
		want := []avpSummary{{AVPOriginHost, AVPFlagMandatory, 0, "h"}, {AVPResultCode, AVPFlagMandatory, 0, "\x00\x00\x07\xd1"}}
		got := summarize(t, m.Body())
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("got %+v", got)
		}
	})
}

func TestMsgAppendAVPAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	base := buildCCR("")
	m := Msg(GetBuf(len(base)))
	copy(m, base)
	data := []byte("some.host.example")
	n := testing.AllocsPerRun(100, func() {
		m = m[:len(base)]
		m = m.AppendAVP(AVPRouteRecord, AVPFlagMandatory, 0, data)
		m = m.AppendRouteRecord("another.host.example")
	})
	if n != 0 {
		t.Errorf("AppendAVP with enough capacity allocates %v times", n)
	}
}

func TestAppendPanicsOnOverflow(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"AVP too long", func() { AppendAVP(nil, 1, 0, 0, make([]byte, 1<<24)) }},
		{"message too long", func() {
			m := NewMsg(0, 1, 2, 3, 4)
			m.AppendAVP(1, 0, 0, make([]byte, MaxLen))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "wire: ") {
					t.Errorf("recovered %v, want a wire: panic", r)
				}
			}()
			tt.f()
		})
	}
}
