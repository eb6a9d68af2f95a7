package peers

import (
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/wire"
)

// baseReq is a DWR or DPR from the peer, with the given identifiers.
func baseReq(code, hbh, e2e uint32) wire.Msg {
	m := wire.NewMsg(wire.FlagRequest, code, 0, hbh, e2e)
	m = m.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, capPeerHost)
	m = m.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, capPeerRealm)
	if code == wire.CmdDisconnectPeer {
		m = m.AppendUint32AVP(wire.AVPDisconnectCause, wire.AVPFlagMandatory, 0, CauseBusy)
	}
	return m
}

// wantAVPs checks the message's top-level AVP codes, in order, and returns
// them by code.
func wantAVPs(t *testing.T, m wire.Msg, codes ...uint32) map[uint32]wire.AVP {
	t.Helper()
	got := map[uint32]wire.AVP{}
	var order []uint32
	it := m.AVPs()
	for it.Next() {
		a := it.AVP()
		order = append(order, a.Code)
		got[a.Code] = a
		wantM := a.Code != wire.AVPProductName && a.Code != wire.AVPFirmwareRevision && a.Code != wire.AVPErrorMessage
		if a.Mandatory() != wantM || a.Vendor() || a.Flags&wire.AVPFlagProtected != 0 {
			t.Errorf("AVP %d flags %#x", a.Code, a.Flags)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatalf("AVP area: %v", err)
	}
	if len(order) != len(codes) {
		t.Fatalf("AVPs %v, want %v", order, codes)
	}
	for i := range codes {
		if order[i] != codes[i] {
			t.Fatalf("AVPs %v, want %v", order, codes)
		}
	}
	return got
}

func wantU32(t *testing.T, avps map[uint32]wire.AVP, code, want uint32) {
	t.Helper()
	if v, ok := avps[code].Uint32(); !ok || v != want {
		t.Errorf("AVP %d = %d (ok %v), want %d", code, v, ok, want)
	}
}

func wantIdentity(t *testing.T, avps map[uint32]wire.AVP) {
	t.Helper()
	if h := string(avps[wire.AVPOriginHost].Data); h != capLocalHost {
		t.Errorf("Origin-Host %q", h)
	}
	if r := string(avps[wire.AVPOriginRealm].Data); r != capLocalRealm {
		t.Errorf("Origin-Realm %q", r)
	}
}

// wantHeader checks the fixed header of a base protocol message.
func wantHeader(t *testing.T, m wire.Msg, code uint32, request bool, hbh, e2e uint32) {
	t.Helper()
	if m.Version() != 1 || m.Len() != len(m) || len(m)%4 != 0 {
		t.Errorf("version %d, length %d for %d bytes", m.Version(), m.Len(), len(m))
	}
	if m.Code() != code || m.AppID() != 0 {
		t.Errorf("command %d app %d, want %d app 0", m.Code(), m.AppID(), code)
	}
	if m.IsRequest() != request {
		t.Errorf("R bit %v, want %v", m.IsRequest(), request)
	}
	if m.IsProxiable() || m.IsError() || m.IsRetransmit() || m.Flags()&wire.FlagReserved != 0 {
		t.Errorf("flags %#x", m.Flags())
	}
	if m.HopByHop() != hbh || m.EndToEnd() != e2e {
		t.Errorf("identifiers %#x/%#x, want %#x/%#x", m.HopByHop(), m.EndToEnd(), hbh, e2e)
	}
}

type baseID struct {
	name     string
	hbh, e2e uint32
}

// requestIDs are identifiers the agent builds requests with (Conn never
// hands out hop-by-hop 0).
var requestIDs = []baseID{
	{"typical", 0x11223344, 0x55667788},
	{"one", 1, 1},
	{"all ones", 0xffffffff, 0xffffffff},
}

// answerIDs are identifiers of requests the agent answers: a peer may use
// any value, zero included, and the answer must echo it (go-diameter would
// put a random id in place of a zero).
var answerIDs = append([]baseID{
	{"hop-by-hop 0", 0, 0x55667788},
	{"end-to-end 0", 0x11223344, 0},
	{"both 0", 0, 0},
}, requestIDs...)

func TestBuilderDWR(t *testing.T) {
	b := builder{l: testLocal()}
	for _, id := range requestIDs {
		t.Run(id.name, func(t *testing.T) {
			m := b.dwr(id.hbh, id.e2e)
			wantHeader(t, m, wire.CmdDeviceWatchdog, true, id.hbh, id.e2e)
			avps := wantAVPs(t, m, wire.AVPOriginHost, wire.AVPOriginRealm, wire.AVPOriginStateID)
			wantIdentity(t, avps)
			wantU32(t, avps, wire.AVPOriginStateID, capStateID)
		})
	}
}

func TestBuilderDWA(t *testing.T) {
	b := builder{l: testLocal()}
	for _, id := range answerIDs {
		t.Run(id.name, func(t *testing.T) {
			m := b.dwa(baseReq(wire.CmdDeviceWatchdog, id.hbh, id.e2e))
			wantHeader(t, m, wire.CmdDeviceWatchdog, false, id.hbh, id.e2e)
			avps := wantAVPs(t, m, wire.AVPResultCode, wire.AVPOriginHost, wire.AVPOriginRealm, wire.AVPOriginStateID)
			wantIdentity(t, avps)
			wantU32(t, avps, wire.AVPResultCode, wire.ResultSuccess)
			wantU32(t, avps, wire.AVPOriginStateID, capStateID)
		})
	}
}

func TestBuilderDPR(t *testing.T) {
	b := builder{l: testLocal()}
	causes := []uint32{CauseRebooting, CauseBusy, CauseDoNotWantToTalkToYou}
	for _, id := range requestIDs {
		for _, cause := range causes {
			t.Run(id.name+"/"+causeName(cause), func(t *testing.T) {
				m := b.dpr(cause, id.hbh, id.e2e)
				wantHeader(t, m, wire.CmdDisconnectPeer, true, id.hbh, id.e2e)
				avps := wantAVPs(t, m, wire.AVPOriginHost, wire.AVPOriginRealm, wire.AVPDisconnectCause)
				wantIdentity(t, avps)
				wantU32(t, avps, wire.AVPDisconnectCause, cause)
			})
		}
	}
}

func TestBuilderDPA(t *testing.T) {
	b := builder{l: testLocal()}
	for _, id := range answerIDs {
		t.Run(id.name, func(t *testing.T) {
			m := b.dpa(baseReq(wire.CmdDisconnectPeer, id.hbh, id.e2e))
			wantHeader(t, m, wire.CmdDisconnectPeer, false, id.hbh, id.e2e)
			avps := wantAVPs(t, m, wire.AVPResultCode, wire.AVPOriginHost, wire.AVPOriginRealm)
			wantIdentity(t, avps)
			wantU32(t, avps, wire.AVPResultCode, wire.ResultSuccess)
		})
	}
}

// TestBuilderCEAKeepsIdentifiers: the CEA echoes the CER's identifiers,
// zero included.
func TestBuilderCEAKeepsIdentifiers(t *testing.T) {
	b := builder{l: testLocal()}
	for _, id := range answerIDs {
		t.Run(id.name, func(t *testing.T) {
			req := wire.NewMsg(wire.FlagRequest, wire.CmdCapabilitiesExchange, 0, id.hbh, id.e2e)
			m := b.cea(req, nil, wire.ResultSuccess, "", nil)
			wantHeader(t, m, wire.CmdCapabilitiesExchange, false, id.hbh, id.e2e)
		})
	}
}

func TestBuilderErrorAnswer(t *testing.T) {
	b := builder{l: testLocal()}
	tests := []struct {
		name string
		req  wire.Msg
		code uint32
		eBit bool
	}{
		{"CER on an open connection", wire.NewMsg(wire.FlagRequest, wire.CmdCapabilitiesExchange, 0, 0, 7), wire.ResultUnableToComply, false},
		{"unknown base command", wire.NewMsg(wire.FlagRequest, 299, 0, 5, 6), wire.ResultCommandUnsupported, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := b.errorAnswer(tt.req, tt.code, "refused")
			if m.IsRequest() || m.IsError() != tt.eBit || m.Code() != tt.req.Code() ||
				m.HopByHop() != tt.req.HopByHop() || m.EndToEnd() != tt.req.EndToEnd() {
				t.Errorf("header %x", m.Header())
			}
			avps := wantAVPs(t, m, wire.AVPOriginHost, wire.AVPOriginRealm, wire.AVPResultCode, wire.AVPErrorMessage)
			wantIdentity(t, avps)
			wantU32(t, avps, wire.AVPResultCode, tt.code)
		})
	}
}

// TestBuilderBaseWithGoDiameter decodes the base messages with go-diameter.
func TestBuilderBaseWithGoDiameter(t *testing.T) {
	b := builder{l: testLocal()}
	tests := []struct {
		name     string
		msg      wire.Msg
		cmd      uint32
		flags    uint8
		hbh, e2e uint32
		check    func(t *testing.T, m *diam.Message)
	}{
		{"DWR", b.dwr(0x1234, 0x5678), diam.DeviceWatchdog, diam.RequestFlag, 0x1234, 0x5678, func(t *testing.T, m *diam.Message) {
			if v, _ := gdOne(t, m, wire.AVPOriginStateID).Data.(datatype.Unsigned32); v != capStateID {
				t.Errorf("Origin-State-Id %d", v)
			}
		}},
		{"DWA to hop-by-hop 0", b.dwa(baseReq(wire.CmdDeviceWatchdog, 0, 0x5678)), diam.DeviceWatchdog, 0, 0, 0x5678, func(t *testing.T, m *diam.Message) {
			if v, _ := gdOne(t, m, wire.AVPResultCode).Data.(datatype.Unsigned32); v != wire.ResultSuccess {
				t.Errorf("Result-Code %d", v)
			}
			if v, _ := gdOne(t, m, wire.AVPOriginStateID).Data.(datatype.Unsigned32); v != capStateID {
				t.Errorf("Origin-State-Id %d", v)
			}
		}},
		{"DPR", b.dpr(CauseDoNotWantToTalkToYou, 0x1234, 0x5678), diam.DisconnectPeer, diam.RequestFlag, 0x1234, 0x5678, func(t *testing.T, m *diam.Message) {
			if v, _ := gdOne(t, m, wire.AVPDisconnectCause).Data.(datatype.Enumerated); v != datatype.Enumerated(CauseDoNotWantToTalkToYou) {
				t.Errorf("Disconnect-Cause %d", v)
			}
		}},
		{"DPA to end-to-end 0", b.dpa(baseReq(wire.CmdDisconnectPeer, 0x1234, 0)), diam.DisconnectPeer, 0, 0x1234, 0, func(t *testing.T, m *diam.Message) {
			if v, _ := gdOne(t, m, wire.AVPResultCode).Data.(datatype.Unsigned32); v != wire.ResultSuccess {
				t.Errorf("Result-Code %d", v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decodeGD(t, tt.msg)
			h := m.Header
			if h.CommandCode != tt.cmd || h.CommandFlags != tt.flags || h.ApplicationID != 0 ||
				h.HopByHopID != tt.hbh || h.EndToEndID != tt.e2e {
				t.Errorf("go-diameter header %+v", h)
			}
			if v, _ := gdOne(t, m, wire.AVPOriginHost).Data.(datatype.DiameterIdentity); string(v) != capLocalHost {
				t.Errorf("Origin-Host %q", v)
			}
			if v, _ := gdOne(t, m, wire.AVPOriginRealm).Data.(datatype.DiameterIdentity); string(v) != capLocalRealm {
				t.Errorf("Origin-Realm %q", v)
			}
			tt.check(t, m)
		})
	}
}

func TestCauseAndResultNames(t *testing.T) {
	for cause, want := range map[uint32]string{
		CauseRebooting:             "REBOOTING",
		CauseBusy:                  "BUSY",
		CauseDoNotWantToTalkToYou:  "DO_NOT_WANT_TO_TALK_TO_YOU",
		disconnectCauseUnspecified: "unspecified",
		7:                          "unspecified",
	} {
		if got := causeName(cause); got != want {
			t.Errorf("causeName(%d) = %q, want %q", cause, got, want)
		}
	}
	for code, want := range map[uint32]string{
		wire.ResultSuccess:           "2001 DIAMETER_SUCCESS",
		wire.ResultElectionLost:      "4003 DIAMETER_ELECTION_LOST",
		wire.ResultUnknownPeer:       "3010 DIAMETER_UNKNOWN_PEER",
		wire.ResultMissingAVP:        "5005 DIAMETER_MISSING_AVP",
		wire.ResultContradictingAVPs: "5007",
	} {
		if got := resultName(code); got != want {
			t.Errorf("resultName(%d) = %q, want %q", code, got, want)
		}
	}
}
