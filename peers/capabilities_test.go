package peers

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/wire"
)

// Identities and values used in capabilities exchange tests.
const (
	capPeerHost     = "hss1.example.net"
	capPeerRealm    = "example.net"
	capLocalHost    = "dra1.example.org"
	capLocalRealm   = "example.org"
	capVendor3GPP   = 10415
	capVendorOther  = 5535
	capAppGx        = 16777238
	capAppS6a       = 16777251
	capAppRf        = 3        // base accounting
	capAppCC        = 4        // credit control
	capAppVendAcct  = 16777216 // a 3GPP application, announced for accounting
	capHopByHop     = 0x0a0b0c0d
	capEndToEnd     = 0x01020304
	capStateID      = 1712345678
	capFirmware     = 7
	capProduct      = "hss-sim"
	capUnknownCode  = 999999
	capVendorAVPOne = 1 // a 3GPP vendor AVP code
)

var (
	capIPv4a = netip.MustParseAddr("192.0.2.10")
	capIPv6  = netip.MustParseAddr("2001:db8::10")
	capIPv4b = netip.MustParseAddr("198.51.100.7")
)

// tAVP is one AVP of a test message before encoding, so that a case can
// drop, repeat or damage it.
type tAVP struct {
	code   uint32
	flags  uint8
	vendor uint32
	data   []byte
}

func (a tAVP) encode() []byte { return wire.AppendAVP(nil, a.code, a.flags, a.vendor, a.data) }

func u32Data(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// mU32 and mStr make base AVPs with the M bit.
func mU32(code, v uint32) tAVP {
	return tAVP{code: code, flags: wire.AVPFlagMandatory, data: u32Data(v)}
}

func mStr(code uint32, s string) tAVP {
	return tAVP{code: code, flags: wire.AVPFlagMandatory, data: []byte(s)}
}

// addrData encodes the Address type: 2-octet IANA family, then the address.
func addrData(ip netip.Addr) []byte {
	fam := uint16(1)
	if ip.Is6() {
		fam = 2
	}
	return append(binary.BigEndian.AppendUint16(nil, fam), ip.AsSlice()...)
}

func hostIP(ip netip.Addr) tAVP {
	return tAVP{code: wire.AVPHostIPAddress, flags: wire.AVPFlagMandatory, data: addrData(ip)}
}

// groupAVP encodes members into a Grouped AVP.
func groupAVP(code uint32, members ...tAVP) tAVP {
	var g []byte
	for _, m := range members {
		g = append(g, m.encode()...)
	}
	return tAVP{code: code, flags: wire.AVPFlagMandatory, data: g}
}

func vsai(vendor uint32, members ...tAVP) tAVP {
	return groupAVP(wire.AVPVendorSpecificApplicationID, append([]tAVP{mU32(wire.AVPVendorID, vendor)}, members...)...)
}

// capMsg encodes a CER (request) or CEA with the wire encoders.
func capMsg(request bool, avps []tAVP) wire.Msg {
	flags := uint8(0)
	if request {
		flags = wire.FlagRequest
	}
	m := wire.NewMsg(flags, wire.CmdCapabilitiesExchange, 0, capHopByHop, capEndToEnd)
	for _, a := range avps {
		m = m.AppendAVP(a.code, a.flags, a.vendor, a.data)
	}
	return m
}

// withRaw returns a copy of m with raw bytes appended to the AVP area and
// the header length updated.
func withRaw(m wire.Msg, raw []byte) wire.Msg {
	out := append(append(wire.Msg(nil), m...), raw...)
	out.SetLen(len(out))
	return out
}

// fullCERAVPs is a CER with every field parseCapabilities reads.
func fullCERAVPs() []tAVP {
	return []tAVP{
		mStr(wire.AVPOriginHost, capPeerHost),
		mStr(wire.AVPOriginRealm, capPeerRealm),
		hostIP(capIPv4a),
		hostIP(capIPv6),
		hostIP(capIPv4b),
		mU32(wire.AVPVendorID, capVendor3GPP),
		{code: wire.AVPProductName, data: []byte(capProduct)},
		mU32(wire.AVPOriginStateID, capStateID),
		mU32(wire.AVPSupportedVendorID, capVendor3GPP),
		mU32(wire.AVPSupportedVendorID, capVendorOther),
		mU32(wire.AVPAuthApplicationID, capAppCC),
		mU32(wire.AVPAcctApplicationID, capAppRf),
		vsai(capVendor3GPP, mU32(wire.AVPAuthApplicationID, capAppS6a)),
		vsai(capVendor3GPP, mU32(wire.AVPAcctApplicationID, capAppVendAcct)),
		mU32(wire.AVPInbandSecurityID, inbandNone),
		mU32(wire.AVPInbandSecurityID, inbandTLS),
		{code: wire.AVPFirmwareRevision, data: u32Data(capFirmware)},
		// Not mandatory: ignored.
		{code: capUnknownCode, data: []byte("ignored")},
		{code: capVendorAVPOne, vendor: capVendor3GPP, data: []byte("ignored too")},
	}
}

func fullCERCaps() Capabilities {
	return Capabilities{
		OriginHost:         capPeerHost,
		OriginRealm:        capPeerRealm,
		HostIPs:            []netip.Addr{capIPv4a, capIPv6, capIPv4b},
		VendorID:           capVendor3GPP,
		ProductName:        capProduct,
		OriginStateID:      capStateID,
		HasOriginStateID:   true,
		SupportedVendorIDs: []uint32{capVendor3GPP, capVendorOther},
		AuthApps:           []uint32{capAppCC},
		AcctApps:           []uint32{capAppRf},
		VendorApps: []VendorApp{
			{VendorID: capVendor3GPP, AuthApp: capAppS6a},
			{VendorID: capVendor3GPP, AcctApp: capAppVendAcct},
		},
		InbandSecurity:   []uint32{inbandNone, inbandTLS},
		FirmwareRevision: capFirmware,
	}
}

// minimalCERAVPs is the smallest acceptable CER.
func minimalCERAVPs() []tAVP {
	return []tAVP{
		mStr(wire.AVPOriginHost, capPeerHost),
		mStr(wire.AVPOriginRealm, capPeerRealm),
		hostIP(capIPv4a),
		mU32(wire.AVPVendorID, capVendor3GPP),
		{code: wire.AVPProductName, data: []byte(capProduct)},
		mU32(wire.AVPAuthApplicationID, capAppCC),
	}
}

// minimalCEAAVPs is a success CEA with every AVP the CEA grammar requires.
func minimalCEAAVPs(result uint32) []tAVP {
	return append([]tAVP{mU32(wire.AVPResultCode, result)}, minimalCERAVPs()...)
}

func without(avps []tAVP, code uint32) []tAVP {
	var out []tAVP
	for _, a := range avps {
		if a.code != code || a.vendor != 0 {
			out = append(out, a)
		}
	}
	return out
}

func with(avps []tAVP, extra ...tAVP) []tAVP {
	return append(append([]tAVP(nil), avps...), extra...)
}

// replaced returns avps with the first AVP of code replaced by r.
func replaced(avps []tAVP, code uint32, r tAVP) []tAVP {
	out := append([]tAVP(nil), avps...)
	for i, a := range out {
		if a.code == code && a.vendor == 0 {
			out[i] = r
			return out
		}
	}
	panic("no AVP to replace")
}

// failedAVPs iterates a Failed-AVP payload and fails the test if it is not a
// well-formed AVP area.
func failedAVPs(t *testing.T, failed []byte) []wire.AVP {
	t.Helper()
	var out []wire.AVP
	it := wire.NewIter(failed)
	for it.Next() {
		out = append(out, it.AVP())
	}
	if err := it.Err(); err != nil {
		t.Fatalf("Failed-AVP payload %x is not a well-formed AVP area: %v", failed, err)
	}
	return out
}

func TestParseCapabilitiesFullCER(t *testing.T) {
	m := capMsg(true, fullCERAVPs())
	got, err := parseCapabilities(m, false)
	if err != nil {
		t.Fatalf("parseCapabilities: %v", err)
	}
	if want := fullCERCaps(); !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseCapabilitiesFullCEA(t *testing.T) {
	avps := with([]tAVP{mU32(wire.AVPResultCode, wire.ResultSuccess)}, fullCERAVPs()...)
	avps = with(avps, tAVP{code: wire.AVPErrorMessage, data: []byte("all good")})
	got, err := parseCapabilities(capMsg(false, avps), true)
	if err != nil {
		t.Fatalf("parseCapabilities: %v", err)
	}
	want := fullCERCaps()
	want.ResultCode = wire.ResultSuccess
	want.ErrorMessage = "all good"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseCapabilitiesMissingAVP(t *testing.T) {
	tests := []struct {
		name     string
		avps     []tAVP
		isAnswer bool
		code     uint32
	}{
		{"CER without Origin-Host", without(fullCERAVPs(), wire.AVPOriginHost), false, wire.AVPOriginHost},
		{"CER without Origin-Realm", without(fullCERAVPs(), wire.AVPOriginRealm), false, wire.AVPOriginRealm},
		{"CER without Vendor-Id", without(fullCERAVPs(), wire.AVPVendorID), false, wire.AVPVendorID},
		{"CER without Product-Name", without(fullCERAVPs(), wire.AVPProductName), false, wire.AVPProductName},
		{"CER without any Host-IP-Address", without(fullCERAVPs(), wire.AVPHostIPAddress), false, wire.AVPHostIPAddress},
		{"CER that is empty", nil, false, wire.AVPOriginHost},
		{"CEA without Result-Code", minimalCERAVPs(), true, wire.AVPResultCode},
		{"CEA without Origin-Host", without(minimalCEAAVPs(wire.ResultSuccess), wire.AVPOriginHost), true, wire.AVPOriginHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCapabilities(capMsg(!tt.isAnswer, tt.avps), tt.isAnswer)
			if err == nil {
				t.Fatal("accepted")
			}
			if err.code != wire.ResultMissingAVP {
				t.Fatalf("Result-Code %d (%s), want %d", err.code, err.msg, wire.ResultMissingAVP)
			}
			f := failedAVPs(t, err.failedAVP)
			if len(f) != 1 || f[0].Code != tt.code || f[0].VendorID != 0 {
				t.Fatalf("Failed-AVP carries %+v, want one AVP of code %d", f, tt.code)
			}
			// RFC 6733 §7.5: a zero-filled payload of the minimum length;
			// an Address keeps its family (IPv4 0.0.0.0) so that decoders
			// accept it.
			want := make([]byte, len(f[0].Data))
			if tt.code == wire.AVPHostIPAddress {
				want = []byte{0, 1, 0, 0, 0, 0}
			}
			if len(f[0].Data) == 0 || !bytes.Equal(f[0].Data, want) {
				t.Errorf("Failed-AVP payload %x, want zero-filled", f[0].Data)
			}
		})
	}
}

func TestParseCapabilitiesDuplicateAVP(t *testing.T) {
	tests := []struct {
		name     string
		dup      tAVP
		isAnswer bool
	}{
		{"Origin-Host", mStr(wire.AVPOriginHost, "other.example.net"), false},
		{"Origin-Realm", mStr(wire.AVPOriginRealm, "other.net"), false},
		{"Vendor-Id", mU32(wire.AVPVendorID, capVendorOther), false},
		{"Product-Name", tAVP{code: wire.AVPProductName, data: []byte("other")}, false},
		{"Origin-Host in CEA", mStr(wire.AVPOriginHost, "other.example.net"), true},
		{"Result-Code in CEA", mU32(wire.AVPResultCode, wire.ResultUnableToComply), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := fullCERAVPs()
			if tt.isAnswer {
				base = minimalCEAAVPs(wire.ResultSuccess)
			}
			_, err := parseCapabilities(capMsg(!tt.isAnswer, with(base, tt.dup)), tt.isAnswer)
			if err == nil {
				t.Fatal("accepted")
			}
			if err.code != wire.ResultAVPOccursTooManyTimes {
				t.Fatalf("Result-Code %d (%s), want %d", err.code, err.msg, wire.ResultAVPOccursTooManyTimes)
			}
			if !bytes.Equal(err.failedAVP, tt.dup.encode()) {
				t.Errorf("Failed-AVP %x, want the duplicate %x", err.failedAVP, tt.dup.encode())
			}
		})
	}
}

// TestParseCapabilitiesRejects covers AVPs that are present but wrong: the
// Result-Code and the exact AVP reported in Failed-AVP.
func TestParseCapabilitiesRejects(t *testing.T) {
	short := func(code uint32, n int) tAVP {
		return tAVP{code: code, flags: wire.AVPFlagMandatory, data: make([]byte, n)}
	}
	badAddr := func(data ...byte) tAVP {
		return tAVP{code: wire.AVPHostIPAddress, flags: wire.AVPFlagMandatory, data: data}
	}
	unknownM := tAVP{code: capUnknownCode, flags: wire.AVPFlagMandatory, data: []byte("x")}
	vendorM := tAVP{code: capVendorAVPOne, flags: wire.AVPFlagMandatory, vendor: capVendor3GPP, data: []byte("x")}
	// A vendor AVP whose code is that of a base AVP is not that base AVP.
	vendorOriginHost := tAVP{code: wire.AVPOriginHost, flags: wire.AVPFlagMandatory, vendor: capVendor3GPP, data: []byte("x")}
	vsaiShortVendor := groupAVP(wire.AVPVendorSpecificApplicationID, short(wire.AVPVendorID, 2), mU32(wire.AVPAuthApplicationID, capAppS6a))
	vsaiShortApp := vsai(capVendor3GPP, short(wire.AVPAcctApplicationID, 5))
	vsaiBoth := vsai(capVendor3GPP, mU32(wire.AVPAuthApplicationID, capAppS6a), mU32(wire.AVPAcctApplicationID, capAppVendAcct))
	vsaiNeither := vsai(capVendor3GPP)
	vsaiBroken := tAVP{code: wire.AVPVendorSpecificApplicationID, flags: wire.AVPFlagMandatory,
		data: append(mU32(wire.AVPVendorID, capVendor3GPP).encode(), 0, 0, 1, 2, 0x40, 0, 0, 99)}

	tests := []struct {
		name     string
		avps     []tAVP
		isAnswer bool
		code     uint32
		failed   tAVP
	}{
		{"Vendor-Id of 3 bytes", replaced(fullCERAVPs(), wire.AVPVendorID, short(wire.AVPVendorID, 3)), false, wire.ResultInvalidAVPLength, short(wire.AVPVendorID, 3)},
		{"Origin-State-Id of 5 bytes", replaced(fullCERAVPs(), wire.AVPOriginStateID, short(wire.AVPOriginStateID, 5)), false, wire.ResultInvalidAVPLength, short(wire.AVPOriginStateID, 5)},
		{"Supported-Vendor-Id of 2 bytes", with(fullCERAVPs(), short(wire.AVPSupportedVendorID, 2)), false, wire.ResultInvalidAVPLength, short(wire.AVPSupportedVendorID, 2)},
		{"Auth-Application-Id of 8 bytes", with(fullCERAVPs(), short(wire.AVPAuthApplicationID, 8)), false, wire.ResultInvalidAVPLength, short(wire.AVPAuthApplicationID, 8)},
		{"Acct-Application-Id empty", with(fullCERAVPs(), short(wire.AVPAcctApplicationID, 0)), false, wire.ResultInvalidAVPLength, short(wire.AVPAcctApplicationID, 0)},
		{"Inband-Security-Id of 3 bytes", with(fullCERAVPs(), short(wire.AVPInbandSecurityID, 3)), false, wire.ResultInvalidAVPLength, short(wire.AVPInbandSecurityID, 3)},
		{"Firmware-Revision of 1 byte", replaced(fullCERAVPs(), wire.AVPFirmwareRevision, short(wire.AVPFirmwareRevision, 1)), false, wire.ResultInvalidAVPLength, short(wire.AVPFirmwareRevision, 1)},
		{"Result-Code of 2 bytes in CEA", replaced(minimalCEAAVPs(wire.ResultSuccess), wire.AVPResultCode, short(wire.AVPResultCode, 2)), true, wire.ResultInvalidAVPLength, short(wire.AVPResultCode, 2)},
		{"VSAI Vendor-Id of 2 bytes", with(fullCERAVPs(), vsaiShortVendor), false, wire.ResultInvalidAVPLength, vsaiShortVendor},
		{"VSAI Acct-Application-Id of 5 bytes", with(fullCERAVPs(), vsaiShortApp), false, wire.ResultInvalidAVPLength, vsaiShortApp},
		{"VSAI with a malformed member", with(fullCERAVPs(), vsaiBroken), false, wire.ResultInvalidAVPLength, vsaiBroken},

		{"Host-IP-Address IPv4 family with 16 bytes", with(fullCERAVPs(), badAddr(append([]byte{0, 1}, capIPv6.AsSlice()...)...)), false, wire.ResultInvalidAVPValue, badAddr(append([]byte{0, 1}, capIPv6.AsSlice()...)...)},
		{"Host-IP-Address IPv6 family with 4 bytes", with(fullCERAVPs(), badAddr(0, 2, 192, 0, 2, 1)), false, wire.ResultInvalidAVPValue, badAddr(0, 2, 192, 0, 2, 1)},
		{"Host-IP-Address family 8 (E.164)", with(fullCERAVPs(), badAddr(0, 8, '1', '2', '3', '4')), false, wire.ResultInvalidAVPValue, badAddr(0, 8, '1', '2', '3', '4')},
		{"Host-IP-Address of 1 byte", with(fullCERAVPs(), badAddr(1)), false, wire.ResultInvalidAVPValue, badAddr(1)},
		{"Host-IP-Address empty", with(fullCERAVPs(), badAddr()), false, wire.ResultInvalidAVPValue, badAddr()},
		{"VSAI with Auth and Acct", with(fullCERAVPs(), vsaiBoth), false, wire.ResultInvalidAVPValue, vsaiBoth},
		{"VSAI with neither Auth nor Acct", with(fullCERAVPs(), vsaiNeither), false, wire.ResultInvalidAVPValue, vsaiNeither},
		{"empty Origin-Host", replaced(fullCERAVPs(), wire.AVPOriginHost, mStr(wire.AVPOriginHost, "")), false, wire.ResultInvalidAVPValue, mStr(wire.AVPOriginHost, "")},

		{"unknown AVP with M bit", with(fullCERAVPs(), unknownM), false, wire.ResultAVPUnsupported, unknownM},
		{"unknown AVP with M bit in CEA", with(minimalCEAAVPs(wire.ResultSuccess), unknownM), true, wire.ResultAVPUnsupported, unknownM},
		{"vendor AVP with M bit", with(fullCERAVPs(), vendorM), false, wire.ResultAVPUnsupported, vendorM},
		{"vendor AVP with a base AVP code and M bit", with(fullCERAVPs(), vendorOriginHost), false, wire.ResultAVPUnsupported, vendorOriginHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCapabilities(capMsg(!tt.isAnswer, tt.avps), tt.isAnswer)
			if err == nil {
				t.Fatal("accepted")
			}
			if err.code != tt.code {
				t.Fatalf("Result-Code %d (%s), want %d", err.code, err.msg, tt.code)
			}
			if want := tt.failed.encode(); !bytes.Equal(err.failedAVP, want) {
				t.Errorf("Failed-AVP\n%x\nwant\n%x", err.failedAVP, want)
			}
			if err.msg == "" || err.Error() == "" {
				t.Error("no error message")
			}
		})
	}
}

// TestParseCapabilitiesIgnored covers AVPs that must not make a CER fail.
func TestParseCapabilitiesIgnored(t *testing.T) {
	proxyInfo := groupAVP(wire.AVPProxyInfo, mStr(wire.AVPProxyHost, "proxy.example.net"), mStr(wire.AVPProxyState, "s"))
	tests := []struct {
		name string
		avp  tAVP
	}{
		{"unknown AVP without M bit", tAVP{code: capUnknownCode, data: []byte("x")}},
		{"unknown AVP with P bit only", tAVP{code: capUnknownCode, flags: wire.AVPFlagProtected, data: []byte("x")}},
		{"vendor AVP without M bit", tAVP{code: capVendorAVPOne, vendor: capVendor3GPP, data: []byte("x")}},
		{"vendor Vendor-Id without M bit", tAVP{code: wire.AVPVendorID, vendor: capVendor3GPP, data: []byte("x")}},
		{"Proxy-Info", proxyInfo},
		{"Route-Record", mStr(wire.AVPRouteRecord, "relay.example.net")},
		{"Error-Reporting-Host", mStr(wire.AVPErrorReportingHost, "relay.example.net")},
		{"Failed-AVP", groupAVP(wire.AVPFailedAVP, mStr(wire.AVPDestinationRealm, "x"))},
		{"Experimental-Result", groupAVP(wire.AVPExperimentalResult, mU32(wire.AVPVendorID, capVendor3GPP), mU32(wire.AVPExperimentalResultCode, 5001))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCapabilities(capMsg(true, with(fullCERAVPs(), tt.avp)), false)
			if err != nil {
				t.Fatalf("rejected: %v (Failed-AVP %x)", err, err.failedAVP)
			}
			if want := fullCERCaps(); !reflect.DeepEqual(got, want) {
				t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// TestParseCapabilitiesShortCEA: a refusing CEA may carry only Result-Code
// and Origin-Host; the same AVPs are not a CER.
func TestParseCapabilitiesShortCEA(t *testing.T) {
	m := wire.NewMsg(0, wire.CmdCapabilitiesExchange, 0, capHopByHop, capEndToEnd)
	m = m.AppendUint32AVP(wire.AVPResultCode, wire.AVPFlagMandatory, 0, wire.ResultUnknownPeer)
	m = m.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, capPeerHost)

	got, err := parseCapabilities(m, true)
	if err != nil {
		t.Fatalf("as an answer: %v", err)
	}
	if got.ResultCode != wire.ResultUnknownPeer || got.OriginHost != capPeerHost {
		t.Errorf("as an answer: %+v", got)
	}

	_, err = parseCapabilities(m, false)
	if err == nil {
		t.Fatal("accepted as a CER")
	}
	if err.code != wire.ResultMissingAVP {
		t.Fatalf("as a CER: Result-Code %d, want %d", err.code, wire.ResultMissingAVP)
	}
	if f := failedAVPs(t, err.failedAVP); len(f) != 1 || f[0].Code != wire.AVPOriginRealm {
		t.Errorf("as a CER: Failed-AVP %+v, want Origin-Realm", f)
	}
}

// TestParseCapabilitiesSuccessCEAMandatory: a CEA that accepts the
// connection (2001) is held to the CEA grammar of RFC 6733 §5.3.2, like a
// CER: Origin-Realm, Host-IP-Address, Vendor-Id and Product-Name are
// required. Without them the peer would be opened with no realm.
func TestParseCapabilitiesSuccessCEAMandatory(t *testing.T) {
	for _, code := range []uint32{wire.AVPOriginRealm, wire.AVPHostIPAddress, wire.AVPVendorID, wire.AVPProductName} {
		t.Run(avpName[code], func(t *testing.T) {
			_, err := parseCapabilities(capMsg(false, without(minimalCEAAVPs(wire.ResultSuccess), code)), true)
			if err == nil {
				t.Fatalf("success CEA without AVP %d accepted", code)
			}
			if err.code != wire.ResultMissingAVP {
				t.Fatalf("Result-Code %d, want %d", err.code, wire.ResultMissingAVP)
			}
		})
	}
}

var avpName = map[uint32]string{
	wire.AVPOriginRealm:   "Origin-Realm",
	wire.AVPHostIPAddress: "Host-IP-Address",
	wire.AVPVendorID:      "Vendor-Id",
	wire.AVPProductName:   "Product-Name",
}

// TestParseCapabilitiesMalformedAVPArea: an AVP whose length does not fit
// gives 5014, and Failed-AVP must still be a well-formed AVP (RFC 6733
// §7.1.5: the offending AVP header, with a length consistent with what is
// sent), or the error CEA itself is unreadable to the peer.
func TestParseCapabilitiesMalformedAVPArea(t *testing.T) {
	hdr := func(code uint32, flags uint8, length int) []byte {
		b := binary.BigEndian.AppendUint32(nil, code)
		return append(b, flags, byte(length>>16), byte(length>>8), byte(length))
	}
	tests := []struct {
		name string
		raw  []byte
		code uint32 // the AVP code Failed-AVP should name; 0 for any
	}{
		{"length runs past the end", append(hdr(wire.AVPAuthApplicationID, wire.AVPFlagMandatory, 100), 0, 0, 0, 4), wire.AVPAuthApplicationID},
		{"length below the header size", append(hdr(wire.AVPAcctApplicationID, wire.AVPFlagMandatory, 4), 0, 0, 0, 3), wire.AVPAcctApplicationID},
		{"vendor header cut short", hdr(capVendorAVPOne, wire.AVPFlagVendor|wire.AVPFlagMandatory, 16), capVendorAVPOne},
		{"four stray bytes", []byte{0, 0, 1, 2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := withRaw(capMsg(true, fullCERAVPs()), tt.raw)
			_, err := parseCapabilities(m, false)
			if err == nil {
				t.Fatal("accepted")
			}
			if err.code != wire.ResultInvalidAVPLength {
				t.Fatalf("Result-Code %d (%s), want %d", err.code, err.msg, wire.ResultInvalidAVPLength)
			}
			t.Run("Failed-AVP well-formed", func(t *testing.T) {
				f := failedAVPs(t, err.failedAVP)
				if len(f) != 1 || (tt.code != 0 && f[0].Code != tt.code) {
					t.Errorf("Failed-AVP %+v, want one AVP of code %d", f, tt.code)
				}
			})
			t.Run("error CEA readable by go-diameter", func(t *testing.T) {
				cea := builder{l: testLocal()}.cea(m, nil, err.code, err.msg, err.failedAVP)
				if gerr := gdDecodeErr(cea); gerr != nil {
					t.Errorf("go-diameter cannot decode the 5014 CEA: %v", gerr)
				}
			})
		})
	}
}

// gdDecodeErr decodes b with go-diameter and returns what went wrong,
// including a panic of the decoder.
func gdDecodeErr(b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	m, err := diam.ReadMessage(bytes.NewReader(b), dict.Default)
	if err != nil {
		return err
	}
	return m.DecodeErr
}

// testLocal is the agent identity used to build CER/CEA in tests.
func testLocal() *Local {
	return &Local{
		OriginHost:         capLocalHost,
		OriginRealm:        capLocalRealm,
		ProductName:        "dra",
		VendorID:           capVendorOther,
		FirmwareRevision:   capFirmware,
		HostIPs:            []netip.Addr{capIPv4a, capIPv6},
		SupportedVendorIDs: []uint32{capVendor3GPP},
		Relay:              true,
		Apps: []App{
			{ID: capAppCC},
			{ID: capAppRf, Acct: true},
			{ID: capAppS6a, VendorID: capVendor3GPP},
			{ID: capAppVendAcct, VendorID: capVendor3GPP, Acct: true},
		},
		OriginStateID: capStateID,
	}
}

// testLocalCaps is what a peer should parse from testLocal's CER sent from
// extra (the connection's local address, when not among HostIPs).
func testLocalCaps(extra ...netip.Addr) Capabilities {
	return Capabilities{
		OriginHost:         capLocalHost,
		OriginRealm:        capLocalRealm,
		HostIPs:            append([]netip.Addr{capIPv4a, capIPv6}, extra...),
		VendorID:           capVendorOther,
		ProductName:        "dra",
		OriginStateID:      capStateID,
		HasOriginStateID:   true,
		SupportedVendorIDs: []uint32{capVendor3GPP},
		AuthApps:           []uint32{wire.RelayAppID, capAppCC},
		AcctApps:           []uint32{capAppRf},
		VendorApps: []VendorApp{
			{VendorID: capVendor3GPP, AuthApp: capAppS6a},
			{VendorID: capVendor3GPP, AcctApp: capAppVendAcct},
		},
		FirmwareRevision: capFirmware,
	}
}

func tcpAddr(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

func TestBuilderCERRoundTrip(t *testing.T) {
	extra := netip.MustParseAddr("203.0.113.5")
	tests := []struct {
		name  string
		local net.Addr
		want  Capabilities
	}{
		{"local address added", tcpAddr("203.0.113.5:3868"), testLocalCaps(extra)},
		{"local IPv4 address already listed", tcpAddr("192.0.2.10:3868"), testLocalCaps()},
		{"local IPv6 address already listed", tcpAddr("[2001:db8::10]:3868"), testLocalCaps()},
		{"IPv4-mapped local address unmapped", tcpAddr("[::ffff:192.0.2.10]:3868"), testLocalCaps()},
		{"no local address", nil, testLocalCaps()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testLocal()
			l.HostIPs = append(make([]netip.Addr, 0, 8), l.HostIPs...) // room to alias into
			m := builder{l: l}.cer(tt.local, capHopByHop, capEndToEnd)
			if !m.IsRequest() || m.IsError() || m.IsProxiable() || m.Code() != wire.CmdCapabilitiesExchange ||
				m.AppID() != 0 || m.HopByHop() != capHopByHop || m.EndToEnd() != capEndToEnd || m.Len() != len(m) {
				t.Errorf("header %x", m.Header())
			}
			got, err := parseCapabilities(m, false)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parsed\n%+v\nwant\n%+v", got, tt.want)
			}
			if len(l.HostIPs) != 2 || l.HostIPs[:3][2].IsValid() {
				t.Errorf("building the CER changed Local.HostIPs: %v", l.HostIPs[:3])
			}
		})
	}
}

func TestBuilderCEARoundTrip(t *testing.T) {
	req := capMsg(true, fullCERAVPs())
	failed := mStr(wire.AVPOriginRealm, "\x00\x00\x00\x00").encode()
	tests := []struct {
		name   string
		code   uint32
		msg    string
		failed []byte
		eBit   bool
	}{
		{"success", wire.ResultSuccess, "", nil, false},
		{"no common application", wire.ResultNoCommonApplication, "no common application", nil, false},
		{"missing AVP with Failed-AVP", wire.ResultMissingAVP, "missing Origin-Realm", failed, false},
		{"unknown peer", wire.ResultUnknownPeer, "peer is not configured", nil, true},
		{"unable to deliver", wire.ResultUnableToDeliver, "", nil, true},
		{"election lost", wire.ResultElectionLost, "election lost", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := builder{l: testLocal()}.cea(req, tcpAddr("203.0.113.5:3868"), tt.code, tt.msg, tt.failed)
			if m.IsRequest() || m.IsError() != tt.eBit || m.IsProxiable() || m.Code() != wire.CmdCapabilitiesExchange ||
				m.AppID() != 0 || m.HopByHop() != capHopByHop || m.EndToEnd() != capEndToEnd || m.Len() != len(m) {
				t.Errorf("header %x", m.Header())
			}
			got, err := parseCapabilities(m, true)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			want := testLocalCaps(netip.MustParseAddr("203.0.113.5"))
			want.ResultCode = tt.code
			want.ErrorMessage = tt.msg
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
			}
			a, ok := m.Find(wire.AVPFailedAVP, 0)
			if ok != (tt.failed != nil) {
				t.Fatalf("Failed-AVP present %v, want %v", ok, tt.failed != nil)
			}
			if ok && (!bytes.Equal(a.Data, tt.failed) || !a.Mandatory()) {
				t.Errorf("Failed-AVP %x flags %#x, want %x with M", a.Data, a.Flags, tt.failed)
			}
			if _, ok := m.Find(wire.AVPErrorMessage, 0); ok != (tt.msg != "") {
				t.Errorf("Error-Message present %v, want %v", ok, tt.msg != "")
			}
		})
	}
}

// decodeGD decodes b with go-diameter, an independent implementation.
func decodeGD(t *testing.T, b []byte) *diam.Message {
	t.Helper()
	m, err := diam.ReadMessage(bytes.NewReader(b), dict.Default)
	if err != nil {
		t.Fatalf("go-diameter ReadMessage: %v", err)
	}
	if m.DecodeErr != nil {
		t.Fatalf("go-diameter decode: %v", m.DecodeErr)
	}
	if int(m.Header.MessageLength) != len(b) {
		t.Fatalf("go-diameter length %d, message is %d bytes", m.Header.MessageLength, len(b))
	}
	return m
}

// gdFind returns every top-level AVP of code that go-diameter decoded.
func gdFind(t *testing.T, m *diam.Message, code uint32) []*diam.AVP {
	t.Helper()
	var out []*diam.AVP
	for _, a := range m.AVP {
		if a.Code == code && a.VendorID == 0 {
			out = append(out, a)
		}
	}
	return out
}

func gdOne(t *testing.T, m *diam.Message, code uint32) *diam.AVP {
	t.Helper()
	as := gdFind(t, m, code)
	if len(as) != 1 {
		t.Fatalf("go-diameter saw %d AVPs of code %d, want 1", len(as), code)
	}
	return as[0]
}

func TestBuilderCapabilitiesWithGoDiameter(t *testing.T) {
	b := builder{l: testLocal()}
	req := capMsg(true, fullCERAVPs())
	failed := hostIP(netip.MustParseAddr("0.0.0.0")).encode()
	tests := []struct {
		name      string
		msg       wire.Msg
		wantFlags uint8
		result    uint32 // 0 for a CER
		failed    []byte
	}{
		{"CER", b.cer(tcpAddr("203.0.113.5:3868"), capHopByHop, capEndToEnd), diam.RequestFlag, 0, nil},
		{"CEA success", b.cea(req, tcpAddr("203.0.113.5:3868"), wire.ResultSuccess, "", nil), 0, wire.ResultSuccess, nil},
		{"CEA 3010 sets E", b.cea(req, nil, wire.ResultUnknownPeer, "who are you", nil), diam.ErrorFlag, wire.ResultUnknownPeer, nil},
		{"CEA 3004 sets E", b.cea(req, nil, wire.ResultTooBusy, "", nil), diam.ErrorFlag, wire.ResultTooBusy, nil},
		{"CEA 5005 leaves E clear", b.cea(req, nil, wire.ResultMissingAVP, "missing Host-IP-Address", failed), 0, wire.ResultMissingAVP, failed},
		{"CEA 5010 leaves E clear", b.cea(req, nil, wire.ResultNoCommonApplication, "", nil), 0, wire.ResultNoCommonApplication, nil},
		{"CEA 4003 leaves E clear", b.cea(req, nil, wire.ResultElectionLost, "", nil), 0, wire.ResultElectionLost, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decodeGD(t, tt.msg)
			h := m.Header
			if h.CommandFlags != tt.wantFlags || h.CommandCode != diam.CapabilitiesExchange || h.ApplicationID != 0 ||
				h.HopByHopID != capHopByHop || h.EndToEndID != capEndToEnd {
				t.Errorf("go-diameter header %+v", h)
			}
			if v, ok := gdOne(t, m, wire.AVPOriginHost).Data.(datatype.DiameterIdentity); !ok || string(v) != capLocalHost {
				t.Errorf("Origin-Host %v", v)
			}
			if v, ok := gdOne(t, m, wire.AVPOriginRealm).Data.(datatype.DiameterIdentity); !ok || string(v) != capLocalRealm {
				t.Errorf("Origin-Realm %v", v)
			}
			if v, ok := gdOne(t, m, wire.AVPVendorID).Data.(datatype.Unsigned32); !ok || uint32(v) != capVendorOther {
				t.Errorf("Vendor-Id %v", v)
			}
			pn := gdOne(t, m, wire.AVPProductName)
			if v, ok := pn.Data.(datatype.UTF8String); !ok || string(v) != "dra" || pn.Flags&0x40 != 0 {
				t.Errorf("Product-Name %v flags %#x (M must be clear)", v, pn.Flags)
			}
			var relay bool
			for _, a := range gdFind(t, m, wire.AVPAuthApplicationID) {
				relay = relay || a.Data.(datatype.Unsigned32) == wire.RelayAppID
			}
			if !relay {
				t.Error("no Auth-Application-Id 0xffffffff (relay)")
			}
			var ips []string
			for _, a := range gdFind(t, m, wire.AVPHostIPAddress) {
				v, _ := a.Data.(datatype.Address)
				ips = append(ips, net.IP(v).String())
			}
			if len(ips) < 2 || ips[0] != capIPv4a.String() || ips[1] != capIPv6.String() {
				t.Errorf("Host-IP-Address %v", ips)
			}
			if n := len(gdFind(t, m, wire.AVPVendorSpecificApplicationID)); n != 2 {
				t.Errorf("%d Vendor-Specific-Application-Id, want 2", n)
			}
			rc := gdFind(t, m, wire.AVPResultCode)
			if tt.result == 0 {
				if len(rc) != 0 {
					t.Error("Result-Code in a CER")
				}
				return
			}
			if len(rc) != 1 || uint32(rc[0].Data.(datatype.Unsigned32)) != tt.result {
				t.Errorf("Result-Code %v, want %d", rc, tt.result)
			}
			fa := gdFind(t, m, wire.AVPFailedAVP)
			if wantN := min(len(tt.failed), 1); len(fa) != wantN {
				t.Fatalf("%d Failed-AVP, want %d", len(fa), wantN)
			}
			if tt.failed == nil {
				return
			}
			g, ok := fa[0].Data.(*diam.GroupedAVP)
			if !ok || len(g.AVP) != 1 {
				t.Fatalf("Failed-AVP decoded as %v", fa[0].Data)
			}
			in, err := g.AVP[0].Serialize()
			if err != nil || !bytes.Equal(in, tt.failed) {
				t.Errorf("Failed-AVP content %x (%v), want %x", in, err, tt.failed)
			}
		})
	}
}

// FuzzParseCapabilities feeds arbitrary AVP areas behind a CER header.
func FuzzParseCapabilities(f *testing.F) {
	f.Add([]byte(capMsg(true, fullCERAVPs()).Body()), false)
	f.Add([]byte(capMsg(true, minimalCERAVPs()).Body()), false)
	f.Add([]byte(capMsg(false, minimalCEAAVPs(wire.ResultSuccess)).Body()), true)
	f.Add([]byte(builder{l: testLocal()}.cer(tcpAddr("203.0.113.5:3868"), 1, 2).Body()), false)
	f.Fuzz(func(t *testing.T, body []byte, isAnswer bool) {
		if len(body) > wire.DefaultMaxLen {
			return
		}
		// A Msg from the reader is a multiple of 4 bytes long.
		body = append(body, make([]byte, (4-len(body)%4)%4)...)
		flags := wire.FlagRequest
		if isAnswer {
			flags = 0
		}
		m := wire.NewMsg(flags, wire.CmdCapabilitiesExchange, 0, capHopByHop, capEndToEnd)
		m = append(m, body...)
		m.SetLen(len(m))
		c, err := parseCapabilities(m, isAnswer)
		if err == nil {
			if c.OriginHost == "" {
				t.Fatal("accepted with an empty Origin-Host")
			}
			if !isAnswer && len(c.HostIPs) == 0 {
				t.Fatal("CER accepted without Host-IP-Address")
			}
			for _, ip := range c.HostIPs {
				if !ip.IsValid() {
					t.Fatal("accepted an invalid Host-IP-Address")
				}
			}
			for _, va := range c.VendorApps {
				if (va.AuthApp == 0) == (va.AcctApp == 0) {
					t.Fatalf("accepted Vendor-Specific-Application-Id %+v", va)
				}
			}
			return
		}
		if (err.code < 5000 || err.code > 5999) && err.code != wire.ResultInvalidAVPBits {
			t.Fatalf("Result-Code %d for a malformed CER/CEA", err.code)
		}
		if err.failedAVP == nil {
			return
		}
		it := wire.NewIter(err.failedAVP)
		n := 0
		for it.Next() {
			n++
		}
		if it.Err() != nil || n == 0 {
			t.Fatalf("Result-Code %d: Failed-AVP %x is not a well-formed AVP (%d AVPs, %v)", err.code, err.failedAVP, n, it.Err())
		}
	})
}
