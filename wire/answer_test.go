package wire

import (
	"bytes"
	"testing"
)

// requestWithProxies returns a CCR carrying Proxy-Info AVPs interleaved with
// other AVPs, and the Proxy-Info AVPs in order.
func requestWithProxies(flags uint8) (Msg, [][]byte) {
	p1 := proxyInfo("proxy1.example.com", "state-one")
	p2 := proxyInfo("proxy2.example.com", "s2")
	m := NewMsg(flags, CmdCreditControl, 4, testCCRHopByHop, testCCREndToEnd)
	m = m.AppendStringAVP(AVPOriginHost, AVPFlagMandatory, 0, testClientHost)
	m = m.AppendAVP(AVPProxyInfo, AVPFlagMandatory, 0, p1[8:])
	m = m.AppendStringAVP(AVPSessionID, AVPFlagMandatory, 0, testSessionID)
	m = m.AppendStringAVP(AVPDestinationRealm, AVPFlagMandatory, 0, testDestRealm)
	m = m.AppendAVP(AVPProxyInfo, AVPFlagMandatory, 0, p2[8:])
	m = m.AppendStringAVP(AVPSessionID, AVPFlagMandatory, 0, "second;session;id")
	return m, [][]byte{p1, p2}
}

func TestErrorAnswer(t *testing.T) {
	withProxies, proxies := requestWithProxies(FlagRequest | FlagProxiable | FlagRetransmit)
	failed := AppendStringAVP(nil, AVPDestinationRealm, AVPFlagMandatory, 0, "unknown.realm")

	// A request whose AVP area breaks after a Session-Id and one Proxy-Info.
	broken := NewMsg(FlagRequest, CmdCreditControl, 4, 7, 8)
	broken = broken.AppendStringAVP(AVPSessionID, AVPFlagMandatory, 0, "broken;1")
	broken = broken.AppendAVP(AVPProxyInfo, AVPFlagMandatory, 0, proxies[0][8:])
	broken = Msg(append(broken, rawAVP(AVPUserName, 0, 0, 4, make([]byte, 8))...))
	broken = Msg(append(broken, proxies[1]...))
	broken.SetLen(len(broken))
	badOff, err := broken.Validate()
	if err == nil || badOff != 16+len(proxies[0]) {
		t.Fatalf("broken request: Validate = %d, %v", badOff, err)
	}

	tests := []struct {
		name      string
		req       Msg
		spec      ErrorSpec
		wantFlags uint8
		wantAVPs  []avpSummary // Proxy-Info AVPs are checked separately
		wantProxy [][]byte
	}{
		{
			name: "3002 with everything",
			req:  withProxies,
			spec: ErrorSpec{
				OriginHost: testAgentHost, OriginRealm: testAgentRealm, ResultCode: ResultUnableToDeliver,
				Message: "no route to example.net", ErrorReportingHost: testAgentHost, FailedAVP: failed,
			},
			wantFlags: FlagProxiable | FlagError,
			wantAVPs: []avpSummary{
				{AVPSessionID, AVPFlagMandatory, 0, testSessionID},
				{AVPOriginHost, AVPFlagMandatory, 0, testAgentHost},
				{AVPOriginRealm, AVPFlagMandatory, 0, testAgentRealm},
				{AVPResultCode, AVPFlagMandatory, 0, "\x00\x00\x0b\xba"},
				{AVPAuthApplicationID, AVPFlagMandatory, 0, "\x00\x00\x00\x04"},
				{AVPErrorMessage, 0, 0, "no route to example.net"},
				{AVPErrorReportingHost, AVPFlagMandatory, 0, testAgentHost},
				{AVPFailedAVP, AVPFlagMandatory, 0, string(failed)},
			},
			wantProxy: proxies,
		},
		{
			name:      "5012 has no E bit",
			req:       withProxies,
			spec:      ErrorSpec{OriginHost: testAgentHost, OriginRealm: testAgentRealm, ResultCode: ResultUnableToComply},
			wantFlags: FlagProxiable,
			wantAVPs: []avpSummary{
				{AVPSessionID, AVPFlagMandatory, 0, testSessionID},
				{AVPOriginHost, AVPFlagMandatory, 0, testAgentHost},
				{AVPOriginRealm, AVPFlagMandatory, 0, testAgentRealm},
				{AVPResultCode, AVPFlagMandatory, 0, "\x00\x00\x13\x94"},
				{AVPAuthApplicationID, AVPFlagMandatory, 0, "\x00\x00\x00\x04"},
			},
			wantProxy: proxies,
		},
		{
			name:      "3005 on non-proxiable request without Session-Id",
			req:       buildCER(),
			spec:      ErrorSpec{OriginHost: "h", OriginRealm: "r", ResultCode: ResultLoopDetected},
			wantFlags: FlagError,
			wantAVPs: []avpSummary{
				{AVPOriginHost, AVPFlagMandatory, 0, "h"},
				{AVPOriginRealm, AVPFlagMandatory, 0, "r"},
				{AVPResultCode, AVPFlagMandatory, 0, "\x00\x00\x0b\xbd"},
			},
		},
		{
			name:      "malformed request keeps what precedes the bad AVP",
			req:       broken,
			spec:      ErrorSpec{OriginHost: "h", OriginRealm: "r", ResultCode: ResultInvalidAVPLength, FailedAVP: FailedAVPFor(broken.Body(), badOff)},
			wantFlags: 0,
			wantAVPs: []avpSummary{
				{AVPSessionID, AVPFlagMandatory, 0, "broken;1"},
				{AVPOriginHost, AVPFlagMandatory, 0, "h"},
				{AVPOriginRealm, AVPFlagMandatory, 0, "r"},
				{AVPResultCode, AVPFlagMandatory, 0, "\x00\x00\x13\x96"},
				{AVPAuthApplicationID, AVPFlagMandatory, 0, "\x00\x00\x00\x04"},
				{AVPFailedAVP, AVPFlagMandatory, 0, "\x00\x00\x00\x01\x00\x00\x00\x08"},
			},
			wantProxy: proxies[:1],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqCopy := clone(tt.req)
			a := ErrorAnswer(tt.req, tt.spec)
			if !bytes.Equal(tt.req, reqCopy) {
				t.Error("request modified")
			}
			if n, err := CheckHeader(a, 0); err != nil || n != len(a) {
				t.Fatalf("CheckHeader(answer) = %d, %v (len %d)", n, err, len(a))
			}
			if off, err := a.Validate(); err != nil {
				t.Fatalf("Validate(answer) = %d, %v", off, err)
			}
			if a.Flags() != tt.wantFlags {
				t.Errorf("flags %#x, want %#x", a.Flags(), tt.wantFlags)
			}
			if a.Code() != tt.req.Code() || a.AppID() != tt.req.AppID() ||
				a.HopByHop() != tt.req.HopByHop() || a.EndToEnd() != tt.req.EndToEnd() {
				t.Errorf("header identifiers differ from the request")
			}
			got := summarize(t, a.Body())
			var proxiesGot [][]byte
			var rest []avpSummary
			it := a.AVPs()
			for i := 0; it.Next(); i++ {
				if av := it.AVP(); av.Code == AVPProxyInfo {
					proxiesGot = append(proxiesGot, av.Raw(a.Body()))
					if len(rest) != len(tt.wantAVPs) {
						t.Errorf("Proxy-Info at position %d before the other AVPs", i)
					}
				} else {
					rest = append(rest, got[i])
				}
			}
			if len(rest) != len(tt.wantAVPs) {
				t.Fatalf("AVPs %+v, want %+v", rest, tt.wantAVPs)
			}
			for i := range rest {
				if rest[i] != tt.wantAVPs[i] {
					t.Errorf("AVP %d = %+v, want %+v", i, rest[i], tt.wantAVPs[i])
				}
			}
			if len(proxiesGot) != len(tt.wantProxy) {
				t.Fatalf("%d Proxy-Info AVPs, want %d", len(proxiesGot), len(tt.wantProxy))
			}
			for i := range proxiesGot {
				if !bytes.Equal(proxiesGot[i], tt.wantProxy[i]) {
					t.Errorf("Proxy-Info %d = %x, want %x", i, proxiesGot[i], tt.wantProxy[i])
				}
			}
		})
	}
}

func TestErrorAnswerResultClasses(t *testing.T) {
	req := buildCCR("")
	for _, tt := range []struct {
		code  uint32
		eBit  bool
		class string
	}{
		{ResultSuccess, false, "2xxx"},
		{ResultCommandUnsupported, true, "3xxx"},
		{ResultUnknownPeer, true, "3xxx"},
		{ResultTooBusy, true, "3xxx"},
		{ResultAuthenticationRejected, false, "4xxx"},
		{ResultAVPUnsupported, false, "5xxx"},
		{ResultNoCommonSecurity, false, "5xxx"},
	} {
		t.Run(tt.class, func(t *testing.T) {
			a := ErrorAnswer(req, ErrorSpec{OriginHost: "h", OriginRealm: "r", ResultCode: tt.code})
			if a.IsError() != tt.eBit || a.IsRequest() || a.IsRetransmit() || !a.IsProxiable() {
				t.Errorf("Result-Code %d: flags %#x", tt.code, a.Flags())
			}
			rc, ok := a.Find(AVPResultCode, 0)
			if v, _ := rc.Uint32(); !ok || v != tt.code {
				t.Errorf("Result-Code AVP = %d", v)
			}
		})
	}
}

func TestErrorAnswerEdgeCases(t *testing.T) {
	spec := ErrorSpec{OriginHost: "h", OriginRealm: "r", ResultCode: ResultUnableToComply}
	tests := []struct {
		name    string
		req     Msg
		wantNil bool
		wantLen int
	}{
		{"short request", Msg(make([]byte, 19)), true, 0},
		{"header only", NewMsg(FlagRequest, 1, 2, 3, 4), false, HeaderLen + 12 + 12 + 12},
		{"slice longer than length field", func() Msg {
			m := clone(buildCCR(""))
			return Msg(append(m, proxyInfo("trailing", "x")...))
		}(), false, HeaderLen + 40 + 12 + 12 + 12 + 3*12}, // and the CCR's Auth-Application-Id, CC-Request-Type, CC-Request-Number
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ErrorAnswer(tt.req, spec)
			if (a == nil) != tt.wantNil {
				t.Fatalf("ErrorAnswer nil = %v", a == nil)
			}
			if a != nil && (len(a) != tt.wantLen || a.Len() != len(a)) {
				t.Errorf("answer length %d (field %d), want %d", len(a), a.Len(), tt.wantLen)
			}
		})
	}
}

func TestErrorAnswerFromHeader(t *testing.T) {
	spec := ErrorSpec{OriginHost: testAgentHost, OriginRealm: testAgentRealm, ResultCode: ResultInvalidMessageLength, Message: "bad length"}
	tests := []struct {
		name      string
		hdr       []byte
		wantNil   bool
		wantFlags uint8
	}{
		{"too short", header(1, 20)[:19], true, 0},
		{"bad length, proxiable retransmission", func() []byte {
			h := header(1, 22)
			h[4] = FlagRequest | FlagProxiable | FlagRetransmit
			return h
		}(), false, FlagProxiable},
		{"version 2 answered in version 1", header(2, 400), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ErrorAnswerFromHeader(tt.hdr, spec)
			if (b == nil) != tt.wantNil {
				t.Fatalf("nil = %v", b == nil)
			}
			if b == nil {
				return
			}
			a := Msg(b)
			if n, err := CheckHeader(a, 0); err != nil || n != len(a) {
				t.Fatalf("CheckHeader = %d, %v", n, err)
			}
			if a.Flags() != tt.wantFlags || a.Code() != CmdCreditControl || a.AppID() != testCCRAppID ||
				a.HopByHop() != 1 || a.EndToEnd() != 2 {
				t.Errorf("header %x", a.Header())
			}
			want := []avpSummary{
				{AVPOriginHost, AVPFlagMandatory, 0, testAgentHost},
				{AVPOriginRealm, AVPFlagMandatory, 0, testAgentRealm},
				{AVPResultCode, AVPFlagMandatory, 0, "\x00\x00\x13\x97"},
				{AVPAuthApplicationID, AVPFlagMandatory, 0, "\x00\x00\x00\x04"},
				{AVPErrorMessage, 0, 0, "bad length"},
			}
			got := summarize(t, a.Body())
			if len(got) != len(want) {
				t.Fatalf("AVPs %+v", got)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("AVP %d = %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestFailedAVPFor(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		off  int
		want []byte
	}{
		{"plain header", rawAVP(AVPOriginHost, AVPFlagMandatory, 0, 400, []byte("abcd")), 0,
			AppendAVP(nil, AVPOriginHost, AVPFlagMandatory, 0, nil)},
		{"vendor header", rawAVP(8, AVPFlagVendor|AVPFlagMandatory, vendor3GPP, 3, []byte("abcd")), 0,
			AppendAVP(nil, 8, AVPFlagVendor|AVPFlagMandatory, vendor3GPP, nil)},
		{"vendor header cut short", rawAVP(8, AVPFlagVendor, vendor3GPP, 3, nil)[:9], 0,
			AppendAVP(nil, 8, AVPFlagVendor, 0, nil)},
		{"at offset", concat(AppendUint32AVP(nil, 1, 0, 0, 1), rawAVP(2, 0, 0, 4, nil)), 12,
			AppendAVP(nil, 2, 0, 0, nil)},
		{"fewer than 8 bytes", []byte{0, 0, 0, 1, 0, 0, 0}, 0, nil},
		{"offset out of range", make([]byte, 8), 9, nil},
		{"negative offset", make([]byte, 8), -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FailedAVPFor(tt.b, tt.off); !bytes.Equal(got, tt.want) {
				t.Errorf("FailedAVPFor = %x, want %x", got, tt.want)
			}
		})
	}
}
