package wire

import (
	"bytes"
	"testing"
)

func TestRouteRecord(t *testing.T) {
	base := buildCCR("")
	m := clone(base)
	m = m.AppendRouteRecord("relay1.example.com")
	m = m.AppendRouteRecord("Relay2.Example.COM")
	m = m.AppendAVP(AVPRouteRecord, AVPFlagMandatory|AVPFlagVendor, vendor3GPP, []byte("vendor.example.com"))

	if n, err := CheckHeader(m, 0); err != nil || n != len(m) {
		t.Fatalf("CheckHeader = %d, %v", n, err)
	}
	rr := summarize(t, m[len(base):])
	want := []avpSummary{
		{AVPRouteRecord, AVPFlagMandatory, 0, "relay1.example.com"},
		{AVPRouteRecord, AVPFlagMandatory, 0, "Relay2.Example.COM"},
		{AVPRouteRecord, AVPFlagMandatory | AVPFlagVendor, vendor3GPP, "vendor.example.com"},
	}
	for i := range want {
		if rr[i] != want[i] {
			t.Errorf("Route-Record %d = %+v, want %+v", i, rr[i], want[i])
		}
	}

	tests := []struct {
		name     string
		m        Msg
		identity string
		want     bool
	}{
		{"exact", m, "relay1.example.com", true},
		{"upper-case query", m, "RELAY1.EXAMPLE.COM", true},
		{"mixed-case record", m, "relay2.example.com", true},
		{"prefix only", m, "relay1.example.co", false},
		{"longer", m, "relay1.example.com.", false},
		{"vendor-specific code 282 does not count", m, "vendor.example.com", false},
		{"Origin-Host is not a Route-Record", m, testClientHost, false},
		{"no Route-Record at all", base, "relay1.example.com", false},
		{"empty identity", m, "", false},
		{"non-ASCII bytes compared exactly", clone(base).AppendRouteRecord("h\xc3\xa9.example"), "H\xc3\xa9.EXAMPLE", true},
		{"non-ASCII case is not folded", clone(base).AppendRouteRecord("h\xc3\xa9.example"), "h\xc3\x89.example", false},
		{"@ and ` are not letters", clone(base).AppendRouteRecord("a@b"), "a`b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.HasRouteRecord([]byte(tt.identity)); got != tt.want {
				t.Errorf("HasRouteRecord(%q) = %v, want %v", tt.identity, got, tt.want)
			}
		})
	}
}

func TestRouteRecordOnMalformedMessage(t *testing.T) {
	m := NewMsg(FlagRequest, CmdCreditControl, 4, 1, 1).AppendRouteRecord("a.example")
	m = Msg(append(m, rawAVP(1, 0, 0, 2, make([]byte, 8))...))
	m.SetLen(len(m))
	m = Msg(append(m, AppendStringAVP(nil, AVPRouteRecord, AVPFlagMandatory, 0, "b.example")...))
	m.SetLen(len(m))
	if !m.HasRouteRecord([]byte("a.example")) {
		t.Error("Route-Record before the malformed AVP not found")
	}
	if m.HasRouteRecord([]byte("b.example")) {
		t.Error("Route-Record after the malformed AVP found")
	}
}

func TestHasRouteRecordAllocs(t *testing.T) {
	m := buildCCR("relay.example.com")
	id := []byte("RELAY.example.com")
	if n := testing.AllocsPerRun(100, func() {
		if !m.HasRouteRecord(id) {
			t.Fatal("not found")
		}
	}); n != 0 {
		t.Errorf("HasRouteRecord allocates %v times", n)
	}
	if !bytes.Equal(id, []byte("RELAY.example.com")) {
		t.Error("identity modified")
	}
}
