package wire

import (
	"testing"

	"github.com/dra-project/dra/internal/diamcheck"
)

// TestErrorAnswerRequiredAVPs checks that error answers carry the AVPs
// their command's answer ABNF requires, copied from the request, so that a
// strict peer reads their Result-Code rather than a 5005 of its own.
func TestErrorAnswerRequiredAVPs(t *testing.T) {
	const (
		avpAcctRecordType = 480
		avpAcctRecordNum  = 485
		avpAuthReqType    = 274
	)
	req := func(cmd, app uint32, avps ...[]byte) Msg {
		m := NewMsg(FlagRequest|FlagProxiable, cmd, app, 1, 2)
		m = m.AppendStringAVP(AVPSessionID, AVPFlagMandatory, 0, "client;1")
		m = m.AppendStringAVP(AVPOriginHost, AVPFlagMandatory, 0, testClientHost)
		m = m.AppendStringAVP(AVPOriginRealm, AVPFlagMandatory, 0, testClientRlm)
		m = m.AppendStringAVP(AVPDestinationRealm, AVPFlagMandatory, 0, testDestRealm)
		for _, a := range avps {
			m = Msg(append(m, a...))
		}
		m.SetLen(len(m))
		return m
	}
	u32 := func(code, v uint32) []byte { return AppendUint32AVP(nil, code, AVPFlagMandatory, 0, v) }
	vsai := AppendAVP(nil, AVPVendorSpecificApplicationID, AVPFlagMandatory, 0,
		concat(u32(AVPVendorID, vendor3GPP), u32(AVPAcctApplicationID, 3)))
	type want struct{ code, value uint32 } // value 0: any (Grouped)
	tests := []struct {
		name string
		req  Msg
		rc   uint32
		want []want // in order, after Result-Code
	}{
		{"ACA", req(CmdAccounting, 3, u32(avpAcctRecordType, 2), u32(avpAcctRecordNum, 7), u32(AVPAcctApplicationID, 3)),
			ResultInvalidAVPLength, []want{{avpAcctRecordType, 2}, {avpAcctRecordNum, 7}, {AVPAcctApplicationID, 3}}},
		{"ACA with Vendor-Specific-Application-Id", req(CmdAccounting, 3, u32(avpAcctRecordNum, 1), vsai, u32(avpAcctRecordType, 4)),
			ResultAVPUnsupported, []want{{avpAcctRecordType, 4}, {avpAcctRecordNum, 1}, {AVPVendorSpecificApplicationID, 0}}},
		{"CCA", req(CmdCreditControl, 4, u32(AVPAuthApplicationID, 4), u32(avpCCRequestType, 1), u32(avpCCRequestNumber, 0)),
			ResultUnableToComply, []want{{AVPAuthApplicationID, 4}, {avpCCRequestType, 1}, {avpCCRequestNumber, 0}}},
		{"CCA with the E bit", req(CmdCreditControl, 4, u32(avpCCRequestNumber, 9), u32(avpCCRequestType, 2)),
			ResultUnableToDeliver, []want{{AVPAuthApplicationID, 4}, {avpCCRequestType, 2}, {avpCCRequestNumber, 9}}},
		{"CCA of a Gx CCR", req(CmdCreditControl, 16777238, u32(AVPAuthApplicationID, 16777238), u32(avpCCRequestType, 3), u32(avpCCRequestNumber, 2)),
			ResultMissingAVP, []want{{AVPAuthApplicationID, 16777238}, {avpCCRequestType, 3}, {avpCCRequestNumber, 2}}},
		{"AA-Answer", req(cmdAA, 1, u32(AVPAuthApplicationID, 1), u32(avpAuthReqType, 3)),
			ResultAVPOccursTooManyTimes, []want{{AVPAuthApplicationID, 1}, {avpAuthReqType, 3}}},
		{"AA-Answer without Auth-Application-Id in the request", req(cmdAA, 1, u32(avpAuthReqType, 1)),
			ResultInvalidAVPValue, []want{{AVPAuthApplicationID, 1}, {avpAuthReqType, 1}}},
		{"STA", req(CmdSessionTermination, 1, u32(AVPAuthApplicationID, 1), u32(295, 1)), ResultMissingAVP, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ErrorAnswer(tt.req, ErrorSpec{OriginHost: testAgentHost, OriginRealm: testAgentRealm, ResultCode: tt.rc,
				Message: "refused", FailedAVP: u32(AVPOriginStateID, 0)})
			if _, err := diamcheck.Answer(a); err != nil {
				t.Fatalf("a strict peer refuses the answer: %v", err)
			}
			got := summarize(t, a.Body())
			if len(got) != 4+len(tt.want)+2 {
				t.Fatalf("AVPs %+v, want Session-Id, Origin-Host, Origin-Realm, Result-Code, %v, Error-Message, Failed-AVP", got, tt.want)
			}
			for i, code := range []uint32{AVPSessionID, AVPOriginHost, AVPOriginRealm, AVPResultCode} {
				if got[i].Code != code {
					t.Errorf("AVP %d is %d, want %d", i, got[i].Code, code)
				}
			}
			for i, w := range tt.want {
				g := got[4+i]
				if g.Code != w.code || (w.value != 0 || g.Code != AVPVendorSpecificApplicationID) &&
					(len(g.Data) != 4 || uint32(g.Data[0])<<24|uint32(g.Data[1])<<16|uint32(g.Data[2])<<8|uint32(g.Data[3]) != w.value) {
					t.Errorf("AVP %d = %+v, want code %d value %d", 4+i, g, w.code, w.value)
				}
			}
			if got[len(got)-2].Code != AVPErrorMessage || got[len(got)-1].Code != AVPFailedAVP {
				t.Errorf("AVPs %+v do not end with Error-Message and Failed-AVP", got)
			}
		})
	}

	t.Run("unreadable AVPs are left out", func(t *testing.T) {
		r := req(CmdCreditControl, 4, AppendAVP(nil, avpCCRequestType, AVPFlagMandatory, 0, []byte{0, 1}),
			AppendUint32AVP(nil, avpCCRequestNumber, AVPFlagMandatory, vendor3GPP, 5), u32(avpCCRequestNumber, 6))
		a := ErrorAnswer(r, ErrorSpec{OriginHost: "h", OriginRealm: "r", ResultCode: ResultInvalidAVPLength})
		if _, err := a.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, ok := a.Find(avpCCRequestType, 0); ok {
			t.Error("a 2-octet CC-Request-Type was copied")
		}
		if n, ok := a.Find(avpCCRequestNumber, 0); !ok || n.Flags&AVPFlagVendor != 0 || string(n.Data) != "\x00\x00\x00\x06" {
			t.Errorf("CC-Request-Number %+v, want the base one, 6", n)
		}
	})
}
