package routing

import (
	"testing"

	"github.com/dra-project/dra/wire"
)

// benchCCR is a ~400-byte Credit-Control-Request with Grouped AVPs.
func benchCCR() wire.Msg {
	m := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, 272, 4, 0, 7)
	m = m.AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "cli.bench.test;1700000000;1234567")
	m = m.AppendUint32AVP(wire.AVPAuthApplicationID, wire.AVPFlagMandatory, 0, 4)
	m = m.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "cli.bench.test")
	m = m.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "cli.test")
	m = m.AppendStringAVP(wire.AVPDestinationRealm, wire.AVPFlagMandatory, 0, "srv.test")
	m = m.AppendStringAVP(461, wire.AVPFlagMandatory, 0, "32251@3gpp.org")
	m = m.AppendUint32AVP(416, wire.AVPFlagMandatory, 0, 2)
	m = m.AppendUint32AVP(415, wire.AVPFlagMandatory, 0, 1)
	sub := wire.AppendUint32AVP(nil, 450, wire.AVPFlagMandatory, 0, 0)
	sub = wire.AppendStringAVP(sub, 444, wire.AVPFlagMandatory, 0, "15551234567")
	m = m.AppendAVP(443, wire.AVPFlagMandatory, 0, sub)
	mscc := wire.AppendUint32AVP(nil, 432, wire.AVPFlagMandatory, 0, 100)
	mscc = wire.AppendAVP(mscc, 437, wire.AVPFlagMandatory, 0, wire.AppendUint32AVP(nil, 421, wire.AVPFlagMandatory, 0, 1<<20))
	mscc = wire.AppendAVP(mscc, 446, wire.AVPFlagMandatory, 0, wire.AppendUint32AVP(nil, 421, wire.AVPFlagMandatory, 0, 524288))
	m = m.AppendAVP(456, wire.AVPFlagMandatory, 0, mscc)
	m = m.AppendAVP(873, wire.AVPFlagMandatory|wire.AVPFlagVendor, 10415, make([]byte, 120))
	return m
}

// BenchmarkValidateScan compares the validation pass of a received request
// (routing AVPs cached, duplicates, flags, identities, AVP count and
// Grouped depth checked) with the bare caching pass it replaces.
func BenchmarkValidateScan(b *testing.B) {
	m := benchCCR()
	rt := &Router{}
	b.Run("parse-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := Request{Msg: m}
			if _, err := r.parse(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate-scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := Request{Msg: m}
			if bad := rt.scan(&r); bad.code != 0 {
				b.Fatal(bad.msg)
			}
		}
	})
}

func TestGroupedAVPsFromDictionary(t *testing.T) {
	for _, a := range [][2]uint32{{wire.AVPProxyInfo, 0}, {wire.AVPFailedAVP, 0}, {456, 0}, {443, 0}, {873, 10415}} {
		if !groupedAVPs.Has(a[0], a[1]) {
			t.Errorf("AVP %d vendor %d not known as Grouped", a[0], a[1])
		}
	}
	for _, a := range [][2]uint32{{wire.AVPSessionID, 0}, {wire.AVPRouteRecord, 0}, {421, 0}} {
		if groupedAVPs.Has(a[0], a[1]) {
			t.Errorf("AVP %d vendor %d taken for Grouped", a[0], a[1])
		}
	}
	if n := groupedAVPs.Len(); n < 50 {
		t.Errorf("only %d Grouped AVPs in the dictionary", n)
	}
}
