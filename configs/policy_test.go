package configs

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseAVPPath(t *testing.T) {
	tests := []struct {
		path string
		want []AVPStep // Filter compared by code, vendor and value
		err  string
	}{
		{path: "Subscription-Id/Subscription-Id-Data", want: []AVPStep{{Code: 443, Name: "Subscription-Id", Type: "hex"}, {Code: 444, Name: "Subscription-Id-Data", Type: "string"}}},
		{path: "subscription-id/444", want: []AVPStep{{Code: 443, Name: "Subscription-Id", Type: "hex"}, {Code: 444, Name: "Subscription-Id-Data", Type: "string"}}},
		{path: "874@10415/2@10415", want: []AVPStep{{Code: 874, Vendor: 10415, Name: "PS-Information", Type: "hex"}, {Code: 2, Vendor: 10415, Name: "TGPP-Charging-Id", Type: "string"}}},
		{path: "4000@99/4001@99", want: []AVPStep{{Code: 4000, Vendor: 99}, {Code: 4001, Vendor: 99}}},
		{path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]", want: []AVPStep{{Code: 443, Name: "Subscription-Id", Type: "hex", Filter: &AVPFilter{Code: 450, Value: []byte{0, 0, 0, 1}}}}},
		{path: `4000@99[4001@99="a]/b"]/4002@99`, want: []AVPStep{{Code: 4000, Vendor: 99, Filter: &AVPFilter{Code: 4001, Vendor: 99, Value: []byte("a]/b")}}, {Code: 4002, Vendor: 99}}},
		{path: "456[Rating-Group=200]/Used-Service-Unit/CC-Total-Octets", want: []AVPStep{
			{Code: 456, Name: "Multiple-Services-Credit-Control", Type: "hex", Filter: &AVPFilter{Code: 432, Value: []byte{0, 0, 0, 200}}},
			{Code: 446, Name: "Used-Service-Unit", Type: "hex"}, {Code: 421, Name: "CC-Total-Octets", Type: "unsigned64"}}},
		{path: "", err: "empty AVP path"},
		{path: "443//444", err: "empty step"},
		{path: "Session-Id/1", err: "Session-Id is not Grouped"},
		{path: "Origin-Host[1=x]", err: "Origin-Host is not Grouped"},
		{path: "No-Such-AVP", err: `"No-Such-AVP" is not an AVP name`},
		{path: "0", err: "is not an AVP code"},
		{path: "443@x", err: `vendor "x" is not a number`},
		{path: "443[450=1", err: "missing ]"},
		{path: "443[450]", err: "a filter is [AVP=VALUE]"},
		{path: "443[450=WRONG]", err: "is not an integer32"},
		{path: `443[444="x"`, err: "missing ] after the quoted value"},
		{path: "443[450=1]x", err: `unexpected "x" after a filter`},
		{path: strings.Repeat("4000@99/", MaxAVPPathDepth) + "1", err: "more than 16 steps"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := ParseAVPPath(tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d steps: %+v", len(got), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Code != w.Code || g.Vendor != w.Vendor || g.Name != w.Name || g.Type != w.Type || (g.Filter == nil) != (w.Filter == nil) {
					t.Fatalf("step %d: %+v, want %+v", i, g, w)
				}
				if f := w.Filter; f != nil && (g.Filter.Code != f.Code || g.Filter.Vendor != f.Vendor || !bytes.Equal(g.Filter.Value, f.Value)) {
					t.Errorf("step %d filter %+v, want %+v", i, *g.Filter, *f)
				}
			}
		})
	}
}

func TestParseMessageSpec(t *testing.T) {
	s, err := ParseMessageSpec([]byte(`command: CCR
application: 4
flags: [request]
avps:
  - name: Subscription-Id
    avps: [{name: Subscription-Id-Type, value: END_USER_IMSI}, {code: 444, value: "001"}]
  - {code: 1000, vendor: 10415, type: unsigned32, value: 7, mandatory: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Command != "CCR" || s.Application != 4 || len(s.AVPs) != 2 || len(s.AVPs[0].AVPs) != 2 || s.AVPs[1].Value != "7" || *s.AVPs[1].Mandatory {
		t.Fatalf("%+v", s)
	}
	st, err := s.AVPs[0].AVPs[0].Step()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.AVPs[0].AVPs[0].Encode(st); err != nil || !bytes.Equal(b, []byte{0, 0, 0, 1}) {
		t.Errorf("END_USER_IMSI encoded %x, %v", b, err)
	}
	if _, err := ParseMessageSpec([]byte("command: CCR\navps: [{nmae: Session-Id}]\n")); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("unknown key accepted: %v", err)
	}
	bad := AVPSpec{Name: "Session-Id", Code: 263}
	if _, err := bad.Step(); err == nil {
		t.Error("name and code both accepted")
	}
}
