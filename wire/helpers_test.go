package wire

import (
	"encoding/binary"
	"io"
	"testing"
)

// Test identities.
const (
	testSessionID  = "client.example.com;1712345678;42"
	testClientHost = "client.example.com"
	testClientRlm  = "example.com"
	testDestRealm  = "example.net"
	testDestHost   = "ocs1.example.net"
	testAgentHost  = "dra1.example.org"
	testAgentRealm = "example.org"
	vendor3GPP     = 10415
)

// CCR-specific AVP codes (RFC 4006) used in test messages.
const (
	avpServiceContextID         = 461
	avpSubscriptionID           = 443
	avpSubscriptionIDType       = 450
	avpSubscriptionIDData       = 444
	avpMultipleServicesCC       = 456
	avpRequestedServiceUnit     = 437
	avpCCTotalOctets            = 421
	avpRatingGroup              = 432
	avpServiceIdentifier        = 439
	avp3GPPIMSIMCCMNC           = 8
	avp3GPPUserLocationInfo     = 22
	testCCRHopByHop             = 0x11223344
	testCCREndToEnd             = 0x55667788
	testCCRAppID                = 4
	testCCRFlags                = FlagRequest | FlagProxiable
	testCERHopByHop             = 0x0a0b0c0d
	testCEREndToEnd             = 0x01020304
	testOriginStateID           = 1712345678
	testProductName             = "dra-test"
	testFirmwareRevision        = 1
	testSupportedVendorID       = vendor3GPP
	testInbandSecurityIDNoInbSc = 0
)

// proxyInfo returns an encoded Proxy-Info AVP for host with the given state.
func proxyInfo(host, state string) []byte {
	var g []byte
	g = AppendStringAVP(g, AVPProxyHost, AVPFlagMandatory, 0, host)
	g = AppendStringAVP(g, AVPProxyState, AVPFlagMandatory, 0, state)
	return AppendAVP(nil, AVPProxyInfo, AVPFlagMandatory, 0, g)
}

// buildCCR returns a Credit-Control-Request of about 400 bytes with a
// Route-Record for routeRecord (if non-empty).
func buildCCR(routeRecord string) Msg {
	m := NewMsg(testCCRFlags, CmdCreditControl, testCCRAppID, testCCRHopByHop, testCCREndToEnd)
	m = m.AppendStringAVP(AVPSessionID, AVPFlagMandatory, 0, testSessionID)
	m = m.AppendUint32AVP(AVPAuthApplicationID, AVPFlagMandatory, 0, testCCRAppID)
	m = m.AppendStringAVP(AVPOriginHost, AVPFlagMandatory, 0, testClientHost)
	m = m.AppendStringAVP(AVPOriginRealm, AVPFlagMandatory, 0, testClientRlm)
	m = m.AppendStringAVP(avpServiceContextID, AVPFlagMandatory, 0, "32251@3gpp.org")
	m = m.AppendUint32AVP(avpCCRequestType, AVPFlagMandatory, 0, 2)
	m = m.AppendUint32AVP(avpCCRequestNumber, AVPFlagMandatory, 0, 7)
	m = m.AppendUint32AVP(AVPOriginStateID, AVPFlagMandatory, 0, testOriginStateID)

	var sub []byte
	sub = AppendUint32AVP(sub, avpSubscriptionIDType, AVPFlagMandatory, 0, 1)
	sub = AppendStringAVP(sub, avpSubscriptionIDData, AVPFlagMandatory, 0, "001010123456789")
	m = m.AppendAVP(avpSubscriptionID, AVPFlagMandatory, 0, sub)

	var octets [8]byte
	binary.BigEndian.PutUint64(octets[:], 1<<20)
	rsu := AppendAVP(nil, avpCCTotalOctets, AVPFlagMandatory, 0, octets[:])
	var mscc []byte
	mscc = AppendAVP(mscc, avpRequestedServiceUnit, AVPFlagMandatory, 0, rsu)
	mscc = AppendUint32AVP(mscc, avpServiceIdentifier, AVPFlagMandatory, 0, 1000)
	mscc = AppendUint32AVP(mscc, avpRatingGroup, AVPFlagMandatory, 0, 100)
	m = m.AppendAVP(avpMultipleServicesCC, AVPFlagMandatory, 0, mscc)

	m = m.AppendStringAVP(avp3GPPIMSIMCCMNC, AVPFlagVendor, vendor3GPP, "00101")
	m = m.AppendAVP(avp3GPPUserLocationInfo, AVPFlagVendor, vendor3GPP,
		[]byte{0x82, 0x00, 0xf1, 0x10, 0x00, 0x01, 0x00, 0xf1, 0x10, 0x00, 0x00, 0x00, 0x01})
	m = m.AppendStringAVP(AVPDestinationRealm, AVPFlagMandatory, 0, testDestRealm)
	m = m.AppendStringAVP(AVPDestinationHost, AVPFlagMandatory, 0, testDestHost)
	if routeRecord != "" {
		m = m.AppendRouteRecord(routeRecord)
	}
	return m
}

// buildCER returns a Capabilities-Exchange-Request.
func buildCER() Msg {
	m := NewMsg(FlagRequest, CmdCapabilitiesExchange, 0, testCERHopByHop, testCEREndToEnd)
	m = m.AppendStringAVP(AVPOriginHost, AVPFlagMandatory, 0, testClientHost)
	m = m.AppendStringAVP(AVPOriginRealm, AVPFlagMandatory, 0, testClientRlm)
	m = m.AppendAVP(AVPHostIPAddress, AVPFlagMandatory, 0, []byte{0, 1, 127, 0, 0, 1})
	m = m.AppendUint32AVP(AVPVendorID, AVPFlagMandatory, 0, 0)
	m = m.AppendStringAVP(AVPProductName, 0, 0, testProductName)
	m = m.AppendUint32AVP(AVPOriginStateID, AVPFlagMandatory, 0, testOriginStateID)
	m = m.AppendUint32AVP(AVPSupportedVendorID, AVPFlagMandatory, 0, testSupportedVendorID)
	m = m.AppendUint32AVP(AVPAuthApplicationID, AVPFlagMandatory, 0, testCCRAppID)
	m = m.AppendUint32AVP(AVPInbandSecurityID, AVPFlagMandatory, 0, testInbandSecurityIDNoInbSc)
	m = m.AppendUint32AVP(AVPAcctApplicationID, AVPFlagMandatory, 0, 3)
	var vsa []byte
	vsa = AppendUint32AVP(vsa, AVPVendorID, AVPFlagMandatory, 0, vendor3GPP)
	vsa = AppendUint32AVP(vsa, AVPAuthApplicationID, AVPFlagMandatory, 0, 16777238)
	m = m.AppendAVP(AVPVendorSpecificApplicationID, AVPFlagMandatory, 0, vsa)
	m = m.AppendUint32AVP(AVPFirmwareRevision, 0, 0, testFirmwareRevision)
	return m
}

// header returns a 20-byte header with the given version and length.
func header(version uint8, length int) []byte {
	h := make([]byte, HeaderLen)
	putHeader(h, length, FlagRequest, CmdCreditControl, testCCRAppID, 1, 2)
	h[0] = version
	return h
}

// concat joins byte slices into a new one.
func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// clone copies m into a plain slice with no spare capacity.
func clone(m []byte) Msg { return Msg(append([]byte(nil), m...)) }

// chunkReader returns its data in reads of at most the successive sizes
// given (the last size repeating).
type chunkReader struct {
	data  []byte
	sizes []int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = min(n, r.sizes[0])
		if len(r.sizes) > 1 {
			r.sizes = r.sizes[1:]
		}
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// loopReader returns its data over and over, never ending.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.data[r.off:])
		n += k
		r.off = (r.off + k) % len(r.data)
	}
	return n, nil
}

// avpSummary is the comparable part of an AVP.
type avpSummary struct {
	Code     uint32
	Flags    uint8
	VendorID uint32
	Data     string
}

// summarize iterates b and returns its AVPs, failing the test on error.
func summarize(t testing.TB, b []byte) []avpSummary {
	t.Helper()
	var out []avpSummary
	it := NewIter(b)
	for it.Next() {
		a := it.AVP()
		out = append(out, avpSummary{a.Code, a.Flags, a.VendorID, string(a.Data)})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterating AVPs: %v", err)
	}
	return out
}
