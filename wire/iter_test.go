package wire

import (
	"bytes"
	"errors"
	"testing"
)

// rawAVP encodes an AVP header with an arbitrary length field followed by
// data, without padding, for building malformed input.
func rawAVP(code uint32, flags uint8, vendor uint32, length int, data []byte) []byte {
	b := []byte{byte(code >> 24), byte(code >> 16), byte(code >> 8), byte(code), flags, byte(length >> 16), byte(length >> 8), byte(length)}
	if flags&AVPFlagVendor != 0 {
		b = append(b, byte(vendor>>24), byte(vendor>>16), byte(vendor>>8), byte(vendor))
	}
	return append(b, data...)
}

func TestIter(t *testing.T) {
	type want struct {
		code   uint32
		flags  uint8
		vendor uint32
		data   string
		off    int
		size   int
	}
	tests := []struct {
		name    string
		b       []byte
		want    []want
		errOff  int // offset of the malformed AVP, -1 for a clean end
		errPart string
	}{
		{"empty", nil, nil, -1, ""},
		{"one AVP, no padding", AppendStringAVP(nil, 263, AVPFlagMandatory, 0, "abcd"),
			[]want{{263, AVPFlagMandatory, 0, "abcd", 0, 12}}, -1, ""},
		{"padding 3", AppendStringAVP(nil, 1, 0, 0, "a"),
			[]want{{1, 0, 0, "a", 0, 12}}, -1, ""},
		{"padding 1 then next", concat(AppendStringAVP(nil, 1, 0, 0, "abc"), AppendUint32AVP(nil, 268, AVPFlagMandatory, 0, 2001)),
			[]want{{1, 0, 0, "abc", 0, 12}, {268, AVPFlagMandatory, 0, "\x00\x00\x07\xd1", 12, 12}}, -1, ""},
		{"zero-length data", concat(AppendAVP(nil, 7, 0, 0, nil), AppendAVP(nil, 8, AVPFlagVendor, 9, nil)),
			[]want{{7, 0, 0, "", 0, 8}, {8, AVPFlagVendor, 9, "", 8, 12}}, -1, ""},
		{"vendor AVP", AppendStringAVP(nil, 8, AVPFlagVendor|AVPFlagMandatory, vendor3GPP, "00101"),
			[]want{{8, AVPFlagVendor | AVPFlagMandatory, vendor3GPP, "00101", 0, 20}}, -1, ""},
		{"vendor bit with vendor 0", rawAVP(5, AVPFlagVendor, 0, 12, nil),
			[]want{{5, AVPFlagVendor, 0, "", 0, 12}}, -1, ""},
		{"last AVP without padding accepted", rawAVP(1, 0, 0, 9, []byte("x")),
			[]want{{1, 0, 0, "x", 0, 9}}, -1, ""},
		{"truncated header", concat(AppendStringAVP(nil, 1, 0, 0, "ok"), []byte{0, 0, 1, 7, 0, 0, 0}),
			[]want{{1, 0, 0, "ok", 0, 12}}, 12, "truncated header"},
		{"truncated vendor header", rawAVP(1, AVPFlagVendor, 0, 16, nil)[:10], nil, 0, "truncated vendor header"},
		{"length 0", rawAVP(1, 0, 0, 0, make([]byte, 8)), nil, 0, "below header size"},
		{"length 7", rawAVP(1, 0, 0, 7, make([]byte, 8)), nil, 0, "below header size"},
		{"vendor length 11", rawAVP(1, AVPFlagVendor, 1, 11, make([]byte, 4)), nil, 0, "below header size"},
		{"length runs past end", concat(AppendUint32AVP(nil, 2, 0, 0, 1), rawAVP(3, 0, 0, 20, make([]byte, 8))),
			[]want{{2, 0, 0, "\x00\x00\x00\x01", 0, 12}}, 12, "runs past end"},
		{"huge length", rawAVP(3, 0, 0, 0xffffff, make([]byte, 8)), nil, 0, "runs past end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := NewIter(tt.b)
			var got []want
			for it.Next() {
				a := it.AVP()
				got = append(got, want{a.Code, a.Flags, a.VendorID, string(a.Data), a.Offset, a.Size})
				if raw := a.Raw(tt.b); len(raw) != a.Size || &raw[0] != &tt.b[a.Offset] {
					t.Errorf("Raw() does not cover the AVP")
				}
				if cap(a.Data) != len(a.Data) {
					t.Errorf("Data has spare capacity %d", cap(a.Data)-len(a.Data))
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d AVPs %+v, want %+v", len(got), got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("AVP %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			err := it.Err()
			if tt.errOff < 0 {
				if err != nil {
					t.Fatalf("Err() = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrAVPLength) || !bytes.Contains([]byte(err.Error()), []byte(tt.errPart)) {
				t.Fatalf("Err() = %v, want ErrAVPLength with %q", err, tt.errPart)
			}
			if it.Offset() != tt.errOff {
				t.Errorf("Offset() = %d, want %d", it.Offset(), tt.errOff)
			}
			if it.Next() {
				t.Error("Next() true after an error")
			}
		})
	}
}

func TestAVPHelpers(t *testing.T) {
	tests := []struct {
		name      string
		a         AVP
		mandatory bool
		vendor    bool
		u32       uint32
		u32ok     bool
	}{
		{"unsigned32", AVP{Flags: AVPFlagMandatory, Data: []byte{0, 0, 7, 0xd1}}, true, false, 2001, true},
		{"vendor, 3 bytes", AVP{Flags: AVPFlagVendor, Data: []byte{1, 2, 3}}, false, true, 0, false},
		{"empty", AVP{}, false, false, 0, false},
		{"8 bytes", AVP{Data: make([]byte, 8)}, false, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := tt.a.Uint32()
			if tt.a.Mandatory() != tt.mandatory || tt.a.Vendor() != tt.vendor || v != tt.u32 || ok != tt.u32ok {
				t.Errorf("Mandatory %v Vendor %v Uint32 %d,%v", tt.a.Mandatory(), tt.a.Vendor(), v, ok)
			}
		})
	}
}

func TestFind(t *testing.T) {
	m := buildCCR("relay.example.com")
	tests := []struct {
		name   string
		code   uint32
		vendor uint32
		want   string
		found  bool
	}{
		{"Session-Id", AVPSessionID, 0, testSessionID, true},
		{"Destination-Realm", AVPDestinationRealm, 0, testDestRealm, true},
		{"Destination-Host", AVPDestinationHost, 0, testDestHost, true},
		{"vendor AVP", avp3GPPIMSIMCCMNC, vendor3GPP, "00101", true},
		{"vendor AVP with wrong vendor", avp3GPPIMSIMCCMNC, 0, "", false},
		{"grouped-only AVP not at top level", avpRatingGroup, 0, "", false},
		{"absent", AVPProxyInfo, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := m.Find(tt.code, tt.vendor)
			if ok != tt.found || string(a.Data) != tt.want {
				t.Fatalf("Find = %q,%v want %q,%v", a.Data, ok, tt.want, tt.found)
			}
			if ok && a.Code != tt.code {
				t.Errorf("Code %d", a.Code)
			}
		})
	}

	t.Run("FindIn grouped data", func(t *testing.T) {
		mscc, ok := m.Find(avpMultipleServicesCC, 0)
		if !ok {
			t.Fatal("no MSCC")
		}
		rg, ok := FindIn(mscc.Data, avpRatingGroup, 0)
		if v, _ := rg.Uint32(); !ok || v != 100 {
			t.Errorf("Rating-Group = %d,%v", v, ok)
		}
		it := mscc.Group()
		n := 0
		for it.Next() {
			n++
		}
		if n != 3 || it.Err() != nil {
			t.Errorf("Group() saw %d AVPs, err %v", n, it.Err())
		}
	})

	t.Run("stops at malformed AVP", func(t *testing.T) {
		b := concat(AppendUint32AVP(nil, 1, 0, 0, 1), rawAVP(2, 0, 0, 4, nil), AppendUint32AVP(nil, 3, 0, 0, 3))
		if _, ok := FindIn(b, 3, 0); ok {
			t.Error("found an AVP after a malformed one")
		}
		if a, ok := FindIn(b, 1, 0); !ok || a.Offset != 0 {
			t.Error("did not find the AVP before the malformed one")
		}
	})
}

func TestValidate(t *testing.T) {
	good := buildCCR("relay.example.com")
	tests := []struct {
		name    string
		m       Msg
		wantOff int
		wantErr bool
	}{
		{"CCR", good, 0, false},
		{"no AVPs", NewMsg(0, CmdDeviceWatchdog, 0, 0, 0), 0, false},
		{"bad AVP after two good", func() Msg {
			m := NewMsg(FlagRequest, CmdCreditControl, 4, 1, 1)
			m = m.AppendStringAVP(AVPSessionID, AVPFlagMandatory, 0, "s;1")
			m = m.AppendUint32AVP(AVPAuthApplicationID, AVPFlagMandatory, 0, 4)
			m = Msg(append(m, rawAVP(AVPOriginHost, AVPFlagMandatory, 0, 400, make([]byte, 8))...))
			m.SetLen(len(m))
			return m
		}(), 24, true},
		{"trailing 4 zero bytes", func() Msg {
			m := concat(good, make([]byte, 4))
			Msg(m).SetLen(len(m))
			return m
		}(), len(good) - HeaderLen, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, err := tt.m.Validate()
			if (err != nil) != tt.wantErr || off != tt.wantOff {
				t.Fatalf("Validate() = %d, %v; want %d, err=%v", off, err, tt.wantOff, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrAVPLength) {
				t.Errorf("error %v is not ErrAVPLength", err)
			}
		})
	}
}

func TestIterAllocs(t *testing.T) {
	m := buildCCR("relay.example.com")
	n := testing.AllocsPerRun(100, func() {
		it := m.AVPs()
		for it.Next() {
		}
		_, _ = m.Find(AVPDestinationRealm, 0)
		_, _ = m.Validate()
	})
	if n != 0 {
		t.Errorf("iteration allocates %v times", n)
	}
}
