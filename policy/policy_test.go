package policy

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/wire"
)

func TestPatterns(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"mme.example.net", "MME.example.net", true},
		{"mme.example.net", "mme.example.org", false},
		{"*.example.net", "a.b.example.net", true},
		{"*.example.net", "example.net", false},
		{"*.example.net", "xexample.net", false},
		{"*", "anything", true},
	}
	for _, tc := range tests {
		p := compilePattern(tc.pat)
		if got := p.match([]byte(tc.name)); got != tc.want {
			t.Errorf("%q ~ %q: %v", tc.pat, tc.name, got)
		}
		if got := p.matchString(tc.name); got != tc.want {
			t.Errorf("%q ~ %q (string): %v", tc.pat, tc.name, got)
		}
	}
}

func TestPeerACL(t *testing.T) {
	acl, err := compilePeerACL(configs.PeerACL{
		AllowAddresses: []string{"10.0.0.0/8", "2001:db8::/32"}, DenyAddresses: []string{"10.0.0.66"},
		DenyHosts: []string{"*.evil.net"}, AllowRealms: []string{"good.net", "*.good.net"},
	})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []struct {
		a    string
		want bool
	}{{"10.1.2.3", true}, {"10.0.0.66", false}, {"192.0.2.1", false}, {"2001:db8::1", true}, {"::ffff:10.1.1.1", true}}
	for _, tc := range addrs {
		if got := acl.addrAllowed(netip.MustParseAddr(tc.a)); got != tc.want {
			t.Errorf("address %s: %v", tc.a, got)
		}
	}
	ids := []struct {
		host, realm string
		want        uint32
	}{{"mme.good.net", "good.net", 0}, {"x.evil.net", "good.net", wire.ResultUnknownPeer}, {"mme.bad.net", "bad.net", wire.ResultUnknownPeer}, {"a.b", "x.good.net", 0}}
	for _, tc := range ids {
		if got, _ := acl.peer(tc.host, tc.realm); got != tc.want {
			t.Errorf("%s/%s: %d, want %d", tc.host, tc.realm, got, tc.want)
		}
	}
}

func TestBucket(t *testing.T) {
	tests := []struct {
		rate  float64
		burst int
		at    []time.Duration // request times
		want  int             // admitted
	}{
		{rate: 1, burst: 10, at: repeat(0, 50), want: 10},
		{rate: 10, burst: 1, at: []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond}, want: 3},
		{rate: 1000, burst: 5, at: repeat(time.Second, 5), want: 5},
	}
	for i, tc := range tests {
		st := NewLimits()
		l := st.get(configs.RateLimit{Per: "peer", Rate: tc.rate, Burst: tc.burst})
		b := l.bucket(bucketKey{peer: "p"})
		got := 0
		base := time.Now().UnixNano()
		for _, d := range tc.at {
			if b.take(base+int64(d), l.interval, l.limit) {
				got++
			}
		}
		if got != tc.want {
			t.Errorf("case %d: admitted %d, want %d", i, got, tc.want)
		}
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestLimitsSurviveReload(t *testing.T) {
	st := NewState(nil)
	cfg := configs.Policy{RateLimits: []configs.RateLimit{{Name: "r", Per: "peer", Rate: 1, Burst: 1}}}
	p1, err := Build(cfg, Identity{"dra.test", "test"}, st)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	if allowRate(context.Background(), p1.rates, "peer.test", 4, now) != "" {
		t.Fatal("first request refused")
	}
	p2, _ := Build(cfg, Identity{"dra.test", "test"}, st)
	if allowRate(context.Background(), p2.rates, "peer.test", 4, now) == "" {
		t.Error("bucket state lost across a reload with the same rule")
	}
	cfg.RateLimits[0].Burst = 2
	p3, _ := Build(cfg, Identity{"dra.test", "test"}, st)
	if allowRate(context.Background(), p3.rates, "peer.test", 4, now) != "" {
		t.Error("changed rule kept the old bucket")
	}
}

func TestOverloadReports(t *testing.T) {
	now := time.Now()
	host, realm := []byte("hss.a.test"), []byte("a.test")
	steps := []struct {
		olr  OLR
		at   time.Duration
		want uint32 // host reduction after the step, app 4
	}{
		{OLR{Sequence: 5, ReportType: HostReport, Reduction: 40, Validity: 10 * time.Second}, 0, 40},
		{OLR{Sequence: 4, ReportType: HostReport, Reduction: 90, Validity: 10 * time.Second}, 0, 40}, // older: ignored
		{OLR{Sequence: 5, ReportType: HostReport, Reduction: 90, Validity: 10 * time.Second}, 0, 40}, // same: ignored
		{OLR{Sequence: 6, ReportType: HostReport, Reduction: 70, Validity: 10 * time.Second}, 0, 70},
		{OLR{Sequence: 7, ReportType: HostReport, Validity: 0}, 0, 0},                                         // ends
		{OLR{Sequence: 8, ReportType: HostReport, Reduction: 20, Validity: time.Second}, 0, 20},               //
		{OLR{Sequence: 1, ReportType: RealmReport, Reduction: 30, Validity: time.Second}, 2 * time.Second, 0}, // host report expired
	}
	o := NewOverload()
	for i, s := range steps {
		at := now.Add(s.at)
		o.Record(4, host, realm, s.olr, at)
		if got := o.Reduction(HostReport, 4, []byte("HSS.a.test"), at.UnixNano()); got != s.want {
			t.Errorf("step %d: host reduction %d, want %d", i, got, s.want)
		}
	}
	if got := o.Reduction(RealmReport, 4, realm, now.Add(2*time.Second).UnixNano()); got != 30 {
		t.Errorf("realm reduction %d", got)
	}
	if got := o.Reduction(RealmReport, 5, realm, now.Add(2*time.Second).UnixNano()); got != 0 {
		t.Errorf("other application reduced %d", got)
	}
}

func encOLR(seq uint64, typ, pct, validity uint32) []byte {
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	g := wire.AppendAVP(nil, AVPOCSequenceNumber, 0, 0, s[:])
	g = wire.AppendUint32AVP(g, AVPOCReportType, 0, 0, typ)
	g = wire.AppendUint32AVP(g, AVPOCReductionPercentage, 0, 0, pct)
	return wire.AppendUint32AVP(g, AVPOCValidityDuration, 0, 0, validity)
}

func TestParseOLR(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
		want OLR
	}{
		{"host", encOLR(3, 0, 50, 60), true, OLR{3, 0, 50, time.Minute}},
		{"realm", encOLR(9, 1, 100, 0), true, OLR{9, 1, 100, 0}},
		{"default validity", wire.AppendUint32AVP(wire.AppendAVP(nil, AVPOCSequenceNumber, 0, 0, make([]byte, 8)), AVPOCReportType, 0, 0, 0), true, OLR{0, 0, 0, 30 * time.Second}},
		{"percentage over 100", encOLR(1, 0, 101, 1), false, OLR{}},
		{"unknown report type", encOLR(1, 2, 10, 1), false, OLR{}},
		{"validity over a day", encOLR(1, 0, 10, 86401), false, OLR{}},
		{"no sequence", wire.AppendUint32AVP(nil, AVPOCReportType, 0, 0, 0), false, OLR{}},
		{"truncated", encOLR(1, 0, 10, 1)[:10], false, OLR{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOLR(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if tc.ok && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseOLR(f *testing.F) {
	f.Add(encOLR(3, 0, 50, 60))
	f.Add(encOLR(1, 1, 100, 0))
	f.Add([]byte{0, 0, 2, 0x70, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOLR(b)
		if err != nil {
			return
		}
		if o.Reduction > 100 || o.ReportType > RealmReport || o.Validity > maxValidity {
			t.Fatalf("accepted out of range report %+v", o)
		}
		NewOverload().Record(4, []byte("h"), []byte("r"), o, time.Now())
	})
}

func TestAVPRulesRewrite(t *testing.T) {
	mand := true
	rules, err := compileAVPRules([]configs.AVPRule{{
		Name: "r", When: configs.AVPCondition{Commands: []uint32{272}},
		Actions: []configs.AVPAction{
			{Action: "remove", Code: 263},
			{Action: "add", Code: 1, Value: "abc"}, // 3 bytes: padded
			{Action: "replace", Code: 264, Value: "a-much-longer-origin-host.example.net", Mandatory: &mand},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		code  uint32
		apply bool
	}{{"matching command", 272, true}, {"other command", 271, false}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, tc.code, 4, 1, 1)
			m = m.AppendStringAVP(263, wire.AVPFlagMandatory, 0, "sid;1")
			m = m.AppendStringAVP(264, wire.AVPFlagMandatory, 0, "h")
			var trace []RuleResult
			m = applyAVPRules(rules, m, &msgView{request: true}, &trace)
			var matched []string
			for _, r := range trace {
				if r.Matched {
					matched = append(matched, r.Name)
				}
			}
			if _, err := m.Validate(); err != nil || m.Len() != len(m) || len(m)%4 != 0 {
				t.Fatalf("malformed result: %v (len %d, header %d)", err, len(m), m.Len())
			}
			_, hasSID := m.Find(263, 0)
			if tc.apply != (len(matched) == 1) || hasSID == tc.apply {
				t.Fatalf("matched %v, Session-Id present %v", matched, hasSID)
			}
			if tc.apply {
				if a, _ := m.Find(1, 0); string(a.Data) != "abc" {
					t.Errorf("added %q", a.Data)
				}
				if a, _ := m.Find(264, 0); string(a.Data) != "a-much-longer-origin-host.example.net" {
					t.Errorf("replaced %q", a.Data)
				}
			}
		})
	}
}

func TestValidateNamesFields(t *testing.T) {
	tests := []struct {
		p     configs.Policy
		field string
	}{
		{configs.Policy{PeerACL: configs.PeerACL{DenyAddresses: []string{"10.0.0.0/33"}}}, "policy.peer_acl.deny_addresses[0]"},
		{configs.Policy{RateLimits: []configs.RateLimit{{Per: "user", Rate: 1, Burst: 1}}}, "policy.rate_limits[0].per"},
		{configs.Policy{RateLimits: []configs.RateLimit{{Per: "peer", Rate: 0, Burst: 1}}}, "policy.rate_limits[0].rate"},
		{configs.Policy{RateLimits: []configs.RateLimit{{Per: "peer", Rate: 1, Burst: 1, OnUnavailable: "open"}}}, "policy.rate_limits[0].on_unavailable"},
		{configs.Policy{AVPRules: []configs.AVPRule{{Actions: []configs.AVPAction{{Action: "add", Code: 1, Type: "unsigned32", Value: "x"}}}}}, "policy.avp_rules[0].actions[0].value"},
		{configs.Policy{TopologyHiding: []configs.TopologyHiding{{Peers: []string{"a.b"}, InternalHosts: []string{"*.in"}, Pseudonym: ""}}}, "policy.topology_hiding[0].pseudonym"},
		{configs.Policy{PeerACL: configs.PeerACL{AllowHosts: []string{"a*.b"}}}, "policy.peer_acl.allow_hosts[0]"},
	}
	for _, tc := range tests {
		_, err := Build(tc.p, Identity{}, NewState(nil))
		if err == nil || !contains(err.Error(), tc.field) {
			t.Errorf("error %v does not name %s", err, tc.field)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
