package wire

import (
	"bytes"
	"testing"
)

// testDict knows the AVPs of buildCCR and a few more, by code and vendor.
type testDict map[[2]uint32]AVPKind

func (d testDict) Kind(code, vendor uint32) AVPKind { return d[[2]uint32{code, vendor}] }

var ccDict = testDict{
	{AVPSessionID, 0}: KindOctets, {AVPOriginHost, 0}: KindOctets, {AVPOriginRealm, 0}: KindOctets,
	{AVPDestinationRealm, 0}: KindOctets, {AVPDestinationHost, 0}: KindOctets, {AVPRouteRecord, 0}: KindOctets,
	{AVPAuthApplicationID, 0}: KindFixed4, {AVPOriginStateID, 0}: KindFixed4, {AVPHostIPAddress, 0}: KindAddress,
	{avpServiceContextID, 0}: KindOctets, {avpCCRequestType, 0}: KindFixed4, {avpCCRequestNumber, 0}: KindFixed4,
	{avpSubscriptionID, 0}: KindGrouped, {avpSubscriptionIDType, 0}: KindFixed4, {avpSubscriptionIDData, 0}: KindOctets,
	{avpMultipleServicesCC, 0}: KindGrouped, {avpRequestedServiceUnit, 0}: KindGrouped, {avpCCTotalOctets, 0}: KindFixed8,
	{avpRatingGroup, 0}: KindFixed4, {avpServiceIdentifier, 0}: KindFixed4,
	{avp3GPPIMSIMCCMNC, vendor3GPP}: KindOctets, {avp3GPPUserLocationInfo, vendor3GPP}: KindOctets,
}

// group is a Grouped AVP with the M bit holding the given AVPs.
func group(code uint32, avps ...[]byte) []byte {
	return AppendAVP(nil, code, AVPFlagMandatory, 0, concat(avps...))
}

func TestCheckAVPs(t *testing.T) {
	ccr := buildCCR("relay.example.com")
	unknownM := AppendStringAVP(nil, 999999, AVPFlagMandatory, 0, "x")
	unknownMV := AppendStringAVP(nil, 999999, AVPFlagMandatory, vendor3GPP, "x")
	rg := AppendUint32AVP(nil, avpRatingGroup, AVPFlagMandatory, 0, 7)
	zeroLen := rawAVP(avpRatingGroup, AVPFlagMandatory, 0, 0, nil)          // length 0
	zeroLenV := rawAVP(999, AVPFlagMandatory|AVPFlagVendor, 7, 0, []byte{}) // length 0, vendor
	tests := []struct {
		name   string
		body   []byte
		code   uint32
		failed []byte
	}{
		{"well-formed CCR", ccr.Body(), 0, nil},
		{"unknown AVP without the M bit", concat(ccr.Body(), AppendStringAVP(nil, 999999, 0, 0, "x")), 0, nil},
		{"unknown vendor AVP without the M bit", concat(ccr.Body(), AppendStringAVP(nil, 999999, 0, vendor3GPP, "x")), 0, nil},
		{"unknown AVP with the M bit", concat(ccr.Body(), unknownM), ResultAVPUnsupported, unknownM},
		{"unknown vendor AVP with the M bit", concat(ccr.Body(), unknownMV), ResultAVPUnsupported, unknownMV},
		{"known code under another vendor", concat(ccr.Body(), AppendUint32AVP(nil, avpCCRequestType, AVPFlagMandatory, vendor3GPP, 1)),
			ResultAVPUnsupported, AppendUint32AVP(nil, avpCCRequestType, AVPFlagMandatory, vendor3GPP, 1)},
		{"unknown M inside a group", concat(ccr.Body(), group(avpMultipleServicesCC, rg, group(avpRequestedServiceUnit, unknownM))),
			ResultAVPUnsupported, group(avpMultipleServicesCC, group(avpRequestedServiceUnit, unknownM))},
		{"inner AVP of length 0", concat(ccr.Body(), group(avpMultipleServicesCC, rg, zeroLen)),
			ResultInvalidAVPLength, group(avpMultipleServicesCC, AppendUint32AVP(nil, avpRatingGroup, AVPFlagMandatory, 0, 0))},
		{"inner vendor AVP of length 0", concat(ccr.Body(), group(avpMultipleServicesCC, zeroLenV)),
			ResultInvalidAVPLength, group(avpMultipleServicesCC, AppendAVP(nil, 999, AVPFlagMandatory, 7, nil))},
		{"inner AVP running past its group", concat(ccr.Body(), group(avpSubscriptionID, rawAVP(avpSubscriptionIDData, AVPFlagMandatory, 0, 40, []byte("abcd")))),
			ResultInvalidAVPLength, group(avpSubscriptionID, AppendAVP(nil, avpSubscriptionIDData, AVPFlagMandatory, 0, nil))},
		{"inner header cut short", concat(ccr.Body(), group(avpMultipleServicesCC, rg, []byte{0, 0, 1})),
			ResultInvalidAVPLength, group(avpMultipleServicesCC)},
		{"malformed two levels down", concat(ccr.Body(), group(avpMultipleServicesCC, group(avpRequestedServiceUnit, zeroLen))),
			ResultInvalidAVPLength, group(avpMultipleServicesCC, group(avpRequestedServiceUnit, AppendUint32AVP(nil, avpRatingGroup, AVPFlagMandatory, 0, 0)))},
		{"Unsigned32 of 2 octets", concat(ccr.Body(), group(avpSubscriptionID, AppendAVP(nil, avpSubscriptionIDType, AVPFlagMandatory, 0, []byte{0, 1}))),
			ResultInvalidAVPLength, group(avpSubscriptionID, AppendUint32AVP(nil, avpSubscriptionIDType, AVPFlagMandatory, 0, 0))},
		{"Unsigned64 of 4 octets", concat(ccr.Body(), AppendUint32AVP(nil, avpCCTotalOctets, AVPFlagMandatory, 0, 1)),
			ResultInvalidAVPLength, AppendAVP(nil, avpCCTotalOctets, AVPFlagMandatory, 0, make([]byte, 8))},
		{"top-level AVP of length 0", concat(ccr.Body(), zeroLen), ResultInvalidAVPLength, AppendUint32AVP(nil, avpRatingGroup, AVPFlagMandatory, 0, 0)},
		{"Address too short", concat(ccr.Body(), AppendAVP(nil, AVPHostIPAddress, AVPFlagMandatory, 0, []byte{0, 1})),
			ResultInvalidAVPLength, AppendAVP(nil, AVPHostIPAddress, AVPFlagMandatory, 0, []byte{0, 1, 0, 0, 0, 0})},
		{"IPv4 Address of 5 octets", concat(ccr.Body(), AppendAVP(nil, AVPHostIPAddress, AVPFlagMandatory, 0, []byte{0, 1, 127, 0, 1})),
			ResultInvalidAVPLength, AppendAVP(nil, AVPHostIPAddress, AVPFlagMandatory, 0, []byte{0, 1, 0, 0, 0, 0})},
		{"Address of family 0", concat(ccr.Body(), AppendAVP(nil, AVPHostIPAddress, AVPFlagMandatory, 0, []byte{0, 0, 127, 0, 0, 1})),
			ResultInvalidAVPValue, AppendAVP(nil, AVPHostIPAddress, AVPFlagMandatory, 0, []byte{0, 0, 127, 0, 0, 1})},
		{"IPv6 Address", concat(ccr.Body(), AppendAVP(nil, AVPHostIPAddress, AVPFlagMandatory, 0, append([]byte{0, 2}, make([]byte, 16)...))), 0, nil},
		{"first problem wins", concat(ccr.Body(), unknownM, zeroLen), ResultAVPUnsupported, unknownM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := CheckAVPs(tt.body, ccDict)
			if p.ResultCode != tt.code {
				t.Fatalf("Result-Code %d (%s), want %d", p.ResultCode, p.Message, tt.code)
			}
			if tt.code == 0 {
				return
			}
			if p.Message == "" {
				t.Error("no Error-Message")
			}
			if !bytes.Equal(p.FailedAVP, tt.failed) {
				t.Errorf("Failed-AVP content\n%x, want\n%x", p.FailedAVP, tt.failed)
			}
			if tt.failed != nil {
				// The content is well-formed AVPs, and the answer carrying
				// it is well-formed.
				a := ErrorAnswer(buildCCR(""), ErrorSpec{OriginHost: "h", OriginRealm: "r", ResultCode: p.ResultCode, FailedAVP: p.FailedAVP})
				if _, err := a.Validate(); err != nil {
					t.Errorf("answer: %v", err)
				}
				if f, ok := a.Find(AVPFailedAVP, 0); !ok || !bytes.Equal(f.Data[:len(p.FailedAVP)], p.FailedAVP) {
					t.Errorf("answer's Failed-AVP %x", f.Data)
				}
			}
		})
	}
}

func TestCheckAVPsDoesNotAllocate(t *testing.T) {
	body := buildCCR("relay.example.com").Body()
	if n := testing.AllocsPerRun(100, func() { _ = CheckAVPs(body, ccDict) }); n != 0 {
		t.Errorf("%.0f allocations per well-formed request", n)
	}
}

func FuzzCheckAVPs(f *testing.F) {
	ccr := buildCCR("relay.example.com")
	f.Add([]byte(ccr.Body()))
	f.Add(concat(ccr.Body(), group(avpMultipleServicesCC, rawAVP(avpRatingGroup, AVPFlagMandatory, 0, 0, nil))))
	f.Add(concat(ccr.Body(), AppendStringAVP(nil, 999999, AVPFlagMandatory, vendor3GPP, "x")))
	f.Add(group(avpMultipleServicesCC, group(avpRequestedServiceUnit, group(avpRequestedServiceUnit, []byte{0, 0, 1}))))
	f.Fuzz(func(t *testing.T, body []byte) {
		p := CheckAVPs(body, ccDict)
		switch p.ResultCode {
		case 0:
			// Everything CheckAVPs accepts is well framed at every level
			// it knows to be Grouped.
			if _, err := Msg(concat(make([]byte, HeaderLen), body)).Validate(); err != nil {
				t.Fatalf("accepted a body Validate refuses: %v", err)
			}
			return
		case ResultAVPUnsupported, ResultInvalidAVPLength, ResultInvalidAVPValue:
		default:
			t.Fatalf("Result-Code %d", p.ResultCode)
		}
		if p.Message == "" {
			t.Fatal("no Error-Message")
		}
		if p.FailedAVP == nil {
			return // the first AVP's header is cut short
		}
		// The Failed-AVP content is one well-formed AVP, whose Grouped
		// levels each hold one AVP, down to the offending one.
		it := NewIter(p.FailedAVP)
		if !it.Next() || it.Next() || it.Err() != nil {
			t.Fatalf("Failed-AVP content is not one AVP: %x (%v)", p.FailedAVP, it.Err())
		}
		if len(p.FailedAVP) > len(body)+HeaderLen*maxCheckDepth {
			t.Fatalf("Failed-AVP of %d octets for a body of %d", len(p.FailedAVP), len(body))
		}
		ErrorAnswer(buildCCR(""), ErrorSpec{OriginHost: "h", OriginRealm: "r", ResultCode: p.ResultCode, FailedAVP: p.FailedAVP})
	})
}

func TestFailedAVPWith(t *testing.T) {
	d := testDict{{55, 0}: KindFixed4, {AVPHostIPAddress, 0}: KindAddress, {421, 0}: KindFixed8, {8, vendor3GPP}: KindOctets}
	tests := []struct {
		name string
		b    []byte
		want []byte
	}{
		{"Time of length 4", rawAVP(55, AVPFlagMandatory, 0, 4, nil), AppendUint32AVP(nil, 55, AVPFlagMandatory, 0, 0)},
		{"Address running past the end", rawAVP(AVPHostIPAddress, AVPFlagMandatory, 0, 30, []byte{0, 1}),
			AppendAVP(nil, AVPHostIPAddress, AVPFlagMandatory, 0, []byte{0, 1, 0, 0, 0, 0})},
		{"Unsigned64", rawAVP(421, AVPFlagMandatory, 0, 2, nil), AppendAVP(nil, 421, AVPFlagMandatory, 0, make([]byte, 8))},
		{"vendor OctetString", rawAVP(8, AVPFlagVendor, vendor3GPP, 3, nil), AppendAVP(nil, 8, AVPFlagVendor, vendor3GPP, nil)},
		{"unknown", rawAVP(999, 0, 0, 0, nil), AppendAVP(nil, 999, 0, 0, nil)},
		{"fewer than 8 bytes", []byte{0, 0, 0, 55, 0, 0, 0}, nil},
	}
	for _, tt := range tests {
		if got := FailedAVPWith(tt.b, 0, d); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: %x, want %x", tt.name, got, tt.want)
		}
	}
}

func BenchmarkCheckAVPs(b *testing.B) {
	body := buildCCR("relay.example.com").Body()
	b.ReportAllocs()
	for b.Loop() {
		_ = CheckAVPs(body, ccDict)
	}
}
