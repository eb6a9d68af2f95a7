package wire

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// Cross-checks against an independent codec, go-diameter.

// decodeWithGoDiameter parses b with go-diameter's default dictionary.
func decodeWithGoDiameter(t *testing.T, b []byte) *diam.Message {
	t.Helper()
	m, err := diam.ReadMessage(bytes.NewReader(b), dict.Default)
	if err != nil {
		t.Fatalf("go-diameter ReadMessage: %v", err)
	}
	if m.DecodeErr != nil {
		t.Fatalf("go-diameter decode: %v", m.DecodeErr)
	}
	return m
}

// gdAVP is what go-diameter saw of one AVP.
type gdAVP struct {
	Code     uint32
	Flags    uint8
	VendorID uint32
	Data     string // serialized payload
}

func gdAVPs(avps []*diam.AVP) []gdAVP {
	out := make([]gdAVP, 0, len(avps))
	for _, a := range avps {
		out = append(out, gdAVP{a.Code, a.Flags, a.VendorID, string(a.Data.Serialize())})
	}
	return out
}

func grouped(t *testing.T, a *diam.AVP) []*diam.AVP {
	t.Helper()
	g, ok := a.Data.(*diam.GroupedAVP)
	if !ok {
		t.Fatalf("AVP %d decoded as %T, want grouped", a.Code, a.Data)
	}
	return g.AVP
}

func TestErrorAnswerWithGoDiameter(t *testing.T) {
	req, _ := requestWithProxies(FlagRequest | FlagProxiable)
	failed := AppendStringAVP(nil, AVPDestinationRealm, AVPFlagMandatory, 0, "unknown.realm")
	tests := []struct {
		name      string
		spec      ErrorSpec
		wantFlags uint8
		wantCodes []uint32
	}{
		{"3002 with every optional AVP", ErrorSpec{
			OriginHost: testAgentHost, OriginRealm: testAgentRealm, ResultCode: ResultUnableToDeliver,
			Message: "no route", ErrorReportingHost: testAgentHost, FailedAVP: failed,
		}, diam.ProxiableFlag | diam.ErrorFlag, []uint32{
			AVPSessionID, AVPOriginHost, AVPOriginRealm, AVPResultCode, AVPAuthApplicationID, AVPErrorMessage,
			AVPErrorReportingHost, AVPFailedAVP, AVPProxyInfo, AVPProxyInfo,
		}},
		{"5005 minimal", ErrorSpec{
			OriginHost: testAgentHost, OriginRealm: testAgentRealm, ResultCode: ResultMissingAVP,
		}, diam.ProxiableFlag, []uint32{
			AVPSessionID, AVPOriginHost, AVPOriginRealm, AVPResultCode, AVPAuthApplicationID, AVPProxyInfo, AVPProxyInfo,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ErrorAnswer(req, tt.spec)
			m := decodeWithGoDiameter(t, a)
			h := m.Header
			if h.Version != 1 || int(h.MessageLength) != len(a) || h.CommandFlags != tt.wantFlags ||
				h.CommandCode != CmdCreditControl || h.ApplicationID != 4 ||
				h.HopByHopID != testCCRHopByHop || h.EndToEndID != testCCREndToEnd {
				t.Errorf("header %+v", h)
			}
			if len(m.AVP) != len(tt.wantCodes) {
				t.Fatalf("go-diameter saw %d AVPs: %v", len(m.AVP), m.AVP)
			}
			for i, av := range m.AVP {
				if av.Code != tt.wantCodes[i] || av.VendorID != 0 {
					t.Errorf("AVP %d is %d/%d, want %d", i, av.Code, av.VendorID, tt.wantCodes[i])
				}
				wantM := av.Code != AVPErrorMessage
				if (av.Flags&0x40 != 0) != wantM || av.Flags&^0x40 != 0 {
					t.Errorf("AVP %d flags %#x", av.Code, av.Flags)
				}
				switch av.Code {
				case AVPSessionID:
					if v, ok := av.Data.(datatype.UTF8String); !ok || string(v) != testSessionID {
						t.Errorf("Session-Id = %v", av.Data)
					}
				case AVPOriginHost, AVPErrorReportingHost:
					if v, ok := av.Data.(datatype.DiameterIdentity); !ok || string(v) != testAgentHost {
						t.Errorf("AVP %d = %v (%T)", av.Code, av.Data, av.Data)
					}
				case AVPOriginRealm:
					if v, ok := av.Data.(datatype.DiameterIdentity); !ok || string(v) != testAgentRealm {
						t.Errorf("Origin-Realm = %v (%T)", av.Data, av.Data)
					}
				case AVPResultCode:
					if v, ok := av.Data.(datatype.Unsigned32); !ok || uint32(v) != tt.spec.ResultCode {
						t.Errorf("Result-Code = %v (%T)", av.Data, av.Data)
					}
				case AVPAuthApplicationID:
					if v, ok := av.Data.(datatype.Unsigned32); !ok || uint32(v) != 4 {
						t.Errorf("Auth-Application-Id = %v (%T)", av.Data, av.Data)
					}
				case AVPErrorMessage:
					if v, ok := av.Data.(datatype.UTF8String); !ok || string(v) != tt.spec.Message {
						t.Errorf("Error-Message = %v (%T)", av.Data, av.Data)
					}
				case AVPFailedAVP:
					in := grouped(t, av)
					if len(in) != 1 || in[0].Code != AVPDestinationRealm || string(in[0].Data.Serialize()) != "unknown.realm" {
						t.Errorf("Failed-AVP contains %v", in)
					}
				}
			}
			proxies, err := m.FindAVPs(AVPProxyInfo, 0)
			if err != nil || len(proxies) != 2 {
				t.Fatalf("Proxy-Info: %d, %v", len(proxies), err)
			}
			for i, want := range []struct{ host, state string }{
				{"proxy1.example.com", "state-one"}, {"proxy2.example.com", "s2"},
			} {
				in := gdAVPs(grouped(t, proxies[i]))
				if len(in) != 2 || in[0].Code != AVPProxyHost || in[0].Data != want.host ||
					in[1].Code != AVPProxyState || in[1].Data != want.state {
					t.Errorf("Proxy-Info %d = %+v", i, in)
				}
			}
		})
	}

	t.Run("from header", func(t *testing.T) {
		hdr := clone(req.Header())
		hdr.SetLen(22)
		b := ErrorAnswerFromHeader(hdr, ErrorSpec{OriginHost: "h.example", OriginRealm: "example", ResultCode: ResultInvalidMessageLength})
		m := decodeWithGoDiameter(t, b)
		if len(m.AVP) != 4 || m.Header.CommandFlags != diam.ProxiableFlag || m.Header.HopByHopID != testCCRHopByHop {
			t.Errorf("header %+v, AVPs %v", m.Header, m.AVP)
		}
	})
}

func TestRouteRecordWithGoDiameter(t *testing.T) {
	m := clone(buildCCR("relay0.example.com"))
	m = m.AppendRouteRecord("relay1.example.com")
	m = m.AppendRouteRecord("dra1.example.org")
	gm := decodeWithGoDiameter(t, m)
	if int(gm.Header.MessageLength) != len(m) || gm.Header.HopByHopID != testCCRHopByHop {
		t.Errorf("header %+v", gm.Header)
	}
	rrs, err := gm.FindAVPs(AVPRouteRecord, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"relay0.example.com", "relay1.example.com", "dra1.example.org"}
	if len(rrs) != len(want) {
		t.Fatalf("go-diameter saw %d Route-Records", len(rrs))
	}
	for i, rr := range rrs {
		v, ok := rr.Data.(datatype.DiameterIdentity)
		if !ok || string(v) != want[i] || rr.Flags != 0x40 {
			t.Errorf("Route-Record %d = %v (%T) flags %#x", i, rr.Data, rr.Data, rr.Flags)
		}
	}
	last := gm.AVP[len(gm.AVP)-1]
	if last.Code != AVPRouteRecord || string(last.Data.Serialize()) != "dra1.example.org" {
		t.Errorf("last AVP %v", last)
	}
	// Everything go-diameter saw matches our iteration, AVP for AVP.
	compareAVPs(t, "", gdAVPs(gm.AVP), m.Body())
}

// compareAVPs checks that iterating b yields exactly want.
func compareAVPs(t *testing.T, path string, want []gdAVP, b []byte) {
	t.Helper()
	it := NewIter(b)
	i := 0
	for ; it.Next(); i++ {
		a := it.AVP()
		if i >= len(want) {
			t.Errorf("%s: extra AVP %d", path, a.Code)
			continue
		}
		w := want[i]
		if a.Code != w.Code || a.Flags != w.Flags || a.VendorID != w.VendorID || string(a.Data) != w.Data {
			t.Errorf("%s AVP %d: ours {%d %#x %d %q}, go-diameter {%d %#x %d %q}",
				path, i, a.Code, a.Flags, a.VendorID, a.Data, w.Code, w.Flags, w.VendorID, w.Data)
		}
	}
	if it.Err() != nil || i != len(want) {
		t.Errorf("%s: iterated %d of %d AVPs, err %v", path, i, len(want), it.Err())
	}
}

func TestIterOnGoDiameterCCR(t *testing.T) {
	req := diam.NewMessage(diam.CreditControl, diam.RequestFlag|diam.ProxiableFlag, 4, 0xabcdef01, 0x12345678, dict.Default)
	req.NewAVP(AVPSessionID, 0x40, 0, datatype.UTF8String("gd.example.com;1;2;3"))
	req.NewAVP(AVPAuthApplicationID, 0x40, 0, datatype.Unsigned32(4))
	req.NewAVP(AVPOriginHost, 0x40, 0, datatype.DiameterIdentity("gd.example.com"))
	req.NewAVP(AVPOriginRealm, 0x40, 0, datatype.DiameterIdentity("example.com"))
	req.NewAVP(AVPDestinationRealm, 0x40, 0, datatype.DiameterIdentity(testDestRealm))
	req.NewAVP(avpServiceContextID, 0x40, 0, datatype.UTF8String("32251@3gpp.org"))
	req.NewAVP(avpCCRequestType, 0x40, 0, datatype.Enumerated(1))
	req.NewAVP(avpCCRequestNumber, 0x40, 0, datatype.Unsigned32(0))
	req.NewAVP(avpSubscriptionID, 0x40, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avpSubscriptionIDType, 0x40, 0, datatype.Enumerated(0)),
		diam.NewAVP(avpSubscriptionIDData, 0x40, 0, datatype.UTF8String("5511999990000")),
	}})
	req.NewAVP(avpMultipleServicesCC, 0x40, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avpRequestedServiceUnit, 0x40, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avpCCTotalOctets, 0x40, 0, datatype.Unsigned64(1<<30)),
		}}),
		diam.NewAVP(avpRatingGroup, 0x40, 0, datatype.Unsigned32(10)),
	}})
	req.NewAVP(avp3GPPIMSIMCCMNC, 0x80, vendor3GPP, datatype.UTF8String("72405"))
	req.NewAVP(avp3GPPUserLocationInfo, 0xc0, vendor3GPP, datatype.OctetString("\x82\x27\xf4\x50\x00\x01"))
	req.NewAVP(AVPRouteRecord, 0x40, 0, datatype.DiameterIdentity("r.example"))
	b, err := req.Serialize()
	if err != nil {
		t.Fatal(err)
	}

	r := NewReader(io.MultiReader(bytes.NewReader(b), bytes.NewReader(b)), 0)
	for range 2 {
		m, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.Len() != len(b) || m.Flags() != diam.RequestFlag|diam.ProxiableFlag || m.Code() != 272 ||
			m.AppID() != 4 || m.HopByHop() != 0xabcdef01 || m.EndToEnd() != 0x12345678 {
			t.Errorf("header %x", m.Header())
		}
		compareAVPs(t, "top", gdAVPs(req.AVP), m.Body())

		mscc, ok := m.Find(avpMultipleServicesCC, 0)
		if !ok {
			t.Fatal("no MSCC")
		}
		compareAVPs(t, "MSCC", gdAVPs(grouped(t, req.AVP[9])), mscc.Data)
		rsu, _ := FindIn(mscc.Data, avpRequestedServiceUnit, 0)
		tot, ok := FindIn(rsu.Data, avpCCTotalOctets, 0)
		if !ok || binary.BigEndian.Uint64(tot.Data) != 1<<30 {
			t.Errorf("CC-Total-Octets %x", tot.Data)
		}
		if a, ok := m.Find(avp3GPPIMSIMCCMNC, vendor3GPP); !ok || string(a.Data) != "72405" {
			t.Errorf("3GPP-IMSI-MCC-MNC = %q", a.Data)
		}
		if !m.HasRouteRecord([]byte("R.EXAMPLE")) {
			t.Error("Route-Record not found")
		}
		if off, err := m.Validate(); err != nil {
			t.Errorf("Validate = %d, %v", off, err)
		}
		PutBuf(m)
	}
}
