package routing_test

import (
	"bytes"
	"testing"

	"github.com/dra-project/dra/internal/diamcheck"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/wire"
)

// TestErrorAnswersKeepApplicationAVPs sends requests of the applications
// whose answers require more than the common AVPs (ACR, CCR, AAR) that the
// router refuses, and checks each answer as a strict peer reads it: a
// 5xxx answer must hold its command's required AVPs (RFC 6733 §9.7.2,
// RFC 4006 §3.2, RFC 7155 §3.2), copied from the request, or such a peer
// reads 5005 instead of the Result-Code sent.
func TestErrorAnswersKeepApplicationAVPs(t *testing.T) {
	srv := server(t, "ocs.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(srv))+`routes:
  - realm: a.test
    action: relay
    peers: [{host: ocs.a.test}]
`)
	waitPeers(t, a, "ocs.a.test")
	c := client(t, a, "pgw.client.test")

	const pxy = wire.FlagRequest | wire.FlagProxiable
	u32 := func(code, v uint32) []byte { return wire.AppendUint32AVP(nil, code, mBit, 0, v) }
	sid := avp(wire.AVPSessionID, mBit, "pgw.client.test;1;rfc")
	oh := avp(wire.AVPOriginHost, mBit, "pgw.client.test")
	or := avp(wire.AVPOriginRealm, mBit, "client.test")
	dr := avp(wire.AVPDestinationRealm, mBit, "a.test")
	trunc := []byte{0, 0, 0x01, 0x07, mBit, 0, 0, 12}
	apps := []struct {
		name     string
		app, cmd uint32
		avps     [][]byte // the command's own AVPs
	}{
		{"CCR", 4, wire.CmdCreditControl, [][]byte{u32(wire.AVPAuthApplicationID, 4), avp(461, mBit, "32251@3gpp.org"), u32(416, 1), u32(415, 0)}},
		{"ACR", 3, wire.CmdAccounting, [][]byte{u32(480, 2), u32(485, 0), u32(wire.AVPAcctApplicationID, 3)}},
		{"AAR", 1, 265, [][]byte{u32(wire.AVPAuthApplicationID, 1), u32(274, 3), avp(1, mBit, "alice")}},
	}
	cases := []struct {
		name string
		code uint32
		avps func(own [][]byte) [][]byte
	}{
		{"two Origin-Host", wire.ResultAVPOccursTooManyTimes, func(own [][]byte) [][]byte {
			return append([][]byte{sid, oh, or, dr, avp(wire.AVPOriginHost, mBit, "other.client.test")}, own...)
		}},
		{"malformed AVP", wire.ResultInvalidAVPLength, func(own [][]byte) [][]byte {
			return append(append([][]byte{sid, oh, or, dr}, own...), trunc)
		}},
		// An Event-Timestamp (Time) of length 4, below its header: the
		// Failed-AVP stand-in has the 4 zero octets of a Time, without
		// which go-diameter cannot read the answer at all.
		{"Event-Timestamp of length 4", wire.ResultInvalidAVPLength, func(own [][]byte) [][]byte {
			return append(append([][]byte{sid, oh, or, dr}, own...), []byte{0, 0, 0, 55, mBit, 0, 0, 4})
		}},
		{"empty Origin-Host", wire.ResultInvalidAVPValue, func(own [][]byte) [][]byte {
			return append([][]byte{sid, avp(wire.AVPOriginHost, mBit, ""), or, dr}, own...)
		}},
		{"missing Destination-Realm", wire.ResultMissingAVP, func(own [][]byte) [][]byte {
			return append([][]byte{sid, oh, or}, own...)
		}},
		{"realm not served", wire.ResultRealmNotServed, func(own [][]byte) [][]byte {
			return append([][]byte{sid, oh, or, avp(wire.AVPDestinationRealm, mBit, "nowhere.test")}, own...)
		}},
	}
	for _, ap := range apps {
		for _, tc := range cases {
			t.Run(ap.name+"/"+tc.name, func(t *testing.T) {
				ans := c.Call(t, draHost, build(pxy, ap.app, ap.cmd, tc.avps(ap.avps)...))
				if got := dratest.ResultCode(ans); got != tc.code {
					t.Fatalf("Result-Code %d (%s), want %d", got, dratest.String(ans, wire.AVPErrorMessage), tc.code)
				}
				if _, err := diamcheck.Answer(ans); err != nil {
					t.Errorf("a strict peer refuses the answer: %v", err)
				}
				if tc.code == wire.ResultInvalidAVPLength {
					want := []byte{0, 0, 0x01, 0x07, mBit, 0, 0, 8} // Session-Id, empty
					if tc.name != "malformed AVP" {
						want = wire.AppendUint32AVP(nil, 55, mBit, 0, 0)
					}
					if f, _ := ans.Find(wire.AVPFailedAVP, 0); !bytes.Equal(f.Data, want) {
						t.Errorf("Failed-AVP holds %x, want %x", f.Data, want)
					}
				}
			})
		}
	}
	if n := srv.Count(); n != 0 {
		t.Errorf("server received %d requests", n)
	}
}
