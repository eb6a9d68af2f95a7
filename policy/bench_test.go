package policy

import (
	"context"
	"testing"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/wire"
)

// benchPolicy is a realistic rule set: three rate-limit rules (per peer,
// per application, per pair), four AVP rules of which one matches a CCR,
// a pending cap list, one topology-hiding rule and DOIC with one report.
func benchPolicy(b *testing.B) *Policy {
	b.Helper()
	cfg := configs.Policy{
		RateLimits: []configs.RateLimit{
			{Name: "peer", Per: "peer", Peers: []string{"*.client.test"}, Rate: 1e9, Burst: 1e9},
			{Name: "app", Per: "application", Applications: []uint32{4, 16777238}, Rate: 1e9, Burst: 1e9},
			{Name: "pair", Per: "peer_application", Rate: 1e9, Burst: 1e9},
		},
		MaxPending:  1000,
		PendingCaps: []configs.PendingCap{{Peers: []string{"*.slow.test"}, Max: 10}},
		AVPRules: []configs.AVPRule{
			{Name: "gx-only", When: configs.AVPCondition{Applications: []uint32{16777238}}, Actions: []configs.AVPAction{{Action: "remove", Code: 1}}},
			{Name: "roaming", When: configs.AVPCondition{DestinationRealms: []string{"*.roaming.test"}}, Actions: []configs.AVPAction{{Action: "add", Code: 1, Value: "x"}}},
			{Name: "apn", When: configs.AVPCondition{AVP: &configs.AVPValue{Code: 30, Value: "apn.old"}}, Actions: []configs.AVPAction{{Action: "replace", Code: 30, Value: "apn.new"}}},
			{Name: "answers", Direction: "answer", When: configs.AVPCondition{IngressPeers: []string{"*.partner.test"}}, Actions: []configs.AVPAction{{Action: "remove", Code: 281}}},
		},
		TopologyHiding: []configs.TopologyHiding{{Name: "th", Peers: []string{"*.partner.test"}, InternalHosts: []string{"*.client.test"}, Pseudonym: "edge.dra.test"}},
		DOIC:           configs.DOIC{Enabled: true},
	}
	p, err := Build(cfg, Identity{"dra.dra.test", "dra.test"}, NewState(nil))
	if err != nil {
		b.Fatal(err)
	}
	p.ov.Record(4, []byte("ocs2.a.test"), []byte("a.test"), OLR{Sequence: 1, ReportType: HostReport, Reduction: 10, Validity: time.Hour}, time.Now())
	return p
}

func benchCCR() wire.Msg {
	m := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, 272, 4, 1, 1)
	m = m.AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "mme.client.test;1;2;3")
	m = m.AppendUint32AVP(wire.AVPAuthApplicationID, wire.AVPFlagMandatory, 0, 4)
	m = m.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "mme.client.test")
	m = m.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "client.test")
	m = m.AppendStringAVP(wire.AVPDestinationRealm, wire.AVPFlagMandatory, 0, "a.test")
	m = m.AppendStringAVP(30, wire.AVPFlagMandatory, 0, "apn.old")
	for i := range 12 {
		m = m.AppendUint32AVP(uint32(400+i), wire.AVPFlagMandatory, 0, uint32(i))
	}
	return m
}

// BenchmarkPolicyRequest is the request-side work the policy adds to one
// forwarded CCR: rate limits (3 rules), the DOIC report lookup, the
// pending cap, the AVP rules on the outgoing copy (one replace) and the
// DOIC OC-Supported-Features insertion.
func BenchmarkPolicyRequest(b *testing.B) {
	p := benchPolicy(b)
	req := benchCCR()
	v := msgView{request: true, ingress: "mme.client.test", egress: "ocs1.a.test", destRealm: []byte("a.test")}
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now().UnixNano()
		if allowRate(context.Background(), p.rates, "mme.client.test", 4, now) != "" {
			b.Fatal("limited")
		}
		_ = reduction(p.ov, HostReport, 4, "ocs1.a.test", now)
		_ = p.pendingCap("ocs1.a.test")
		out := wire.Msg(wire.GetBuf(len(req)))
		copy(out, req)
		out = applyAVPRules(p.avp, out, &v, nil)
		out = out.AppendAVP(AVPOCSupportedFeatures, 0, 0, ocSupportedFeatures)
		wire.PutBuf(out)
	}
}

// BenchmarkPolicyRateLimitParallel takes tokens from the same per-peer,
// per-application and per-pair buckets on every core at once.
func BenchmarkPolicyRateLimitParallel(b *testing.B) {
	p := benchPolicy(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if msg := allowRate(context.Background(), p.rates, "mme.client.test", 4, time.Now().UnixNano()); msg != "" {
				b.Error(msg)
				return
			}
		}
	})
}

// BenchmarkPolicyTopologyHiding rewrites a request toward an external
// peer (Origin-Host, Route-Record) with a known session.
func BenchmarkPolicyTopologyHiding(b *testing.B) {
	p := benchPolicy(b)
	req := benchCCR().AppendStringAVP(wire.AVPRouteRecord, wire.AVPFlagMandatory, 0, "mme.client.test")
	sid := []byte("mme.client.test;1;2;3")
	b.ReportAllocs()
	for b.Loop() {
		out := wire.Msg(wire.GetBuf(len(req)))
		copy(out, req)
		out = p.topo[0].hideRequest(out, sid)
		wire.PutBuf(out)
	}
}

// BenchmarkPolicyAnswerOLR reads an answer's OC-OLR (same sequence number:
// no update) and strips the OC AVPs for a client without DOIC.
func BenchmarkPolicyAnswerOLR(b *testing.B) {
	p := benchPolicy(b)
	ans := wire.NewMsg(wire.FlagProxiable, 272, 4, 1, 1)
	ans = ans.AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "mme.client.test;1;2;3")
	ans = ans.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "ocs2.a.test")
	ans = ans.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "a.test")
	ans = ans.AppendUint32AVP(wire.AVPResultCode, wire.AVPFlagMandatory, 0, 2001)
	ans = ans.AppendAVP(AVPOCOLR, 0, 0, encOLR(1, HostReport, 10, 3600))
	b.ReportAllocs()
	for b.Loop() {
		out := wire.Msg(wire.GetBuf(len(ans)))
		copy(out, ans)
		var host, realm, olr []byte
		it := out.AVPs()
		for it.Next() {
			a := it.AVP()
			switch a.Code {
			case wire.AVPOriginHost:
				host = a.Data
			case wire.AVPOriginRealm:
				realm = a.Data
			case AVPOCOLR:
				olr = a.Data
			}
		}
		o, err := ParseOLR(olr)
		if err != nil {
			b.Fatal(err)
		}
		p.ov.Record(4, host, realm, o, time.Now())
		out = editMsg(out, func(a wire.AVP) (bool, []byte, bool) {
			return a.Code != AVPOCOLR && a.Code != AVPOCSupportedFeatures, nil, false
		})
		wire.PutBuf(out)
	}
}
