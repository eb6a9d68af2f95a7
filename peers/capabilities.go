package peers

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/dra-project/dra/internal/avpdict"
	"github.com/dra-project/dra/wire"
)

// Capabilities is what a peer announces in its CER or CEA.
type Capabilities struct {
	OriginHost         string
	OriginRealm        string
	HostIPs            []netip.Addr
	VendorID           uint32
	ProductName        string
	OriginStateID      uint32
	HasOriginStateID   bool
	SupportedVendorIDs []uint32
	AuthApps           []uint32
	AcctApps           []uint32
	VendorApps         []VendorApp
	InbandSecurity     []uint32
	FirmwareRevision   uint32
	// ResultCode and ErrorMessage are set from a CEA.
	ResultCode   uint32
	ErrorMessage string
}

// VendorApp is one Vendor-Specific-Application-Id.
type VendorApp struct {
	VendorID uint32
	AuthApp  uint32 // 0 when the group carries Acct-Application-Id
	AcctApp  uint32
}

// capError is a CER/CEA that cannot be accepted: the Result-Code to answer
// with, an Error-Message, and the offending AVP for Failed-AVP.
type capError struct {
	code      uint32
	msg       string
	failedAVP []byte
}

func (e *capError) Error() string { return fmt.Sprintf("peers: capabilities %d: %s", e.code, e.msg) }

// Inband-Security-Id values (RFC 6733 §6.10).
const (
	inbandNone = 0
	inbandTLS  = 1
)

// parseCapabilities reads a CER or CEA. It checks what RFC 6733 §5.3 makes
// mandatory in a CER; for a CEA (isAnswer) a failure Result-Code may come
// with fewer AVPs, so only Origin-Host and Result-Code are required.
func parseCapabilities(m wire.Msg, isAnswer bool) (Capabilities, *capError) {
	var c Capabilities
	if !isAnswer && m.Flags()&(wire.FlagError|wire.FlagProxiable) != 0 {
		// RFC 6733 §5.3.1: "< Diameter Header: 257, REQ >", neither
		// proxiable nor an error.
		return c, &capError{code: wire.ResultInvalidHdrBits, msg: "CER with the P or E bit set"}
	}
	// Origin-Host, Origin-Realm, Vendor-Id, Product-Name, Result-Code,
	// Origin-State-Id, Firmware-Revision: at most once each.
	var seen [7]bool
	once := func(i int, a wire.AVP, body []byte) *capError {
		if seen[i] {
			return &capError{wire.ResultAVPOccursTooManyTimes, "AVP occurs more than once", a.Raw(body)}
		}
		seen[i] = true
		return nil
	}
	body := m.Body()
	it := m.AVPs()
	for it.Next() {
		a := it.AVP()
		if a.VendorID != 0 {
			if a.Mandatory() {
				return c, &capError{wire.ResultAVPUnsupported, "unsupported vendor AVP with M bit", a.Raw(body)}
			}
			continue
		}
		if !isAnswer && mustM(a.Code) && !a.Mandatory() {
			// RFC 6733 §4.5: these AVPs MUST carry the M bit.
			return c, &capError{wire.ResultInvalidAVPBits, "AVP without the M bit", a.Raw(body)}
		}
		var err *capError
		switch a.Code {
		case wire.AVPOriginHost:
			err = once(0, a, body)
			c.OriginHost = string(a.Data)
			if err == nil && !wire.IsDiameterIdentity(a.Data) {
				err = &capError{wire.ResultInvalidAVPValue, "Origin-Host is not a valid DiameterIdentity", a.Raw(body)}
			}
		case wire.AVPOriginRealm:
			err = once(1, a, body)
			c.OriginRealm = string(a.Data)
			if err == nil && !wire.IsDiameterIdentity(a.Data) {
				err = &capError{wire.ResultInvalidAVPValue, "Origin-Realm is not a valid DiameterIdentity", a.Raw(body)}
			}
		case wire.AVPVendorID:
			err = once(2, a, body)
			c.VendorID, err = u32(a, body, err)
		case wire.AVPProductName:
			err = once(3, a, body)
			c.ProductName = string(a.Data)
		case wire.AVPResultCode:
			err = once(4, a, body)
			c.ResultCode, err = u32(a, body, err)
		case wire.AVPHostIPAddress:
			ip, ok := parseAddress(a.Data)
			if !ok {
				err = &capError{wire.ResultInvalidAVPValue, "Host-IP-Address is not an IPv4 or IPv6 address", a.Raw(body)}
			}
			c.HostIPs = append(c.HostIPs, ip)
		case wire.AVPOriginStateID:
			err = once(5, a, body)
			c.OriginStateID, err = u32(a, body, err)
			c.HasOriginStateID = true
		case wire.AVPSupportedVendorID:
			var v uint32
			v, err = u32(a, body, nil)
			c.SupportedVendorIDs = append(c.SupportedVendorIDs, v)
		case wire.AVPAuthApplicationID:
			var v uint32
			v, err = u32(a, body, nil)
			c.AuthApps = append(c.AuthApps, v)
		case wire.AVPAcctApplicationID:
			var v uint32
			v, err = u32(a, body, nil)
			c.AcctApps = append(c.AcctApps, v)
		case wire.AVPVendorSpecificApplicationID:
			var va VendorApp
			va, err = parseVendorApp(a, body)
			c.VendorApps = append(c.VendorApps, va)
		case wire.AVPInbandSecurityID:
			var v uint32
			v, err = u32(a, body, nil)
			c.InbandSecurity = append(c.InbandSecurity, v)
		case wire.AVPFirmwareRevision:
			err = once(6, a, body)
			c.FirmwareRevision, err = u32(a, body, err)
		case wire.AVPErrorMessage:
			c.ErrorMessage = string(a.Data)
		case wire.AVPFailedAVP, wire.AVPProxyInfo, wire.AVPRouteRecord, wire.AVPErrorReportingHost,
			wire.AVPExperimentalResult:
			// Allowed by the grammar, nothing to learn from them here.
		default:
			if a.Mandatory() {
				return c, &capError{wire.ResultAVPUnsupported, "unsupported AVP with M bit", a.Raw(body)}
			}
		}
		if err != nil {
			return c, err
		}
	}
	if err := it.Err(); err != nil {
		return c, &capError{wire.ResultInvalidAVPLength, "malformed AVP", truncatedAVP(body, it.Offset())}
	}
	required := []struct {
		i    int
		code uint32
		name string
	}{{0, wire.AVPOriginHost, "Origin-Host"}, {1, wire.AVPOriginRealm, "Origin-Realm"}, {2, wire.AVPVendorID, "Vendor-Id"}, {3, wire.AVPProductName, "Product-Name"}}
	// A failed CEA may be short; a successful one carries the CER grammar.
	if isAnswer && (!seen[4] || c.ResultCode != wire.ResultSuccess) {
		required = []struct {
			i    int
			code uint32
			name string
		}{{4, wire.AVPResultCode, "Result-Code"}, {0, wire.AVPOriginHost, "Origin-Host"}}
	}
	for _, r := range required {
		if !seen[r.i] {
			return c, missing(r.code, r.name)
		}
	}
	if (!isAnswer || c.ResultCode == wire.ResultSuccess) && len(c.HostIPs) == 0 {
		return c, missing(wire.AVPHostIPAddress, "Host-IP-Address")
	}
	if c.OriginHost == "" {
		return c, &capError{wire.ResultInvalidAVPValue, "empty Origin-Host", wire.AppendAVP(nil, wire.AVPOriginHost, wire.AVPFlagMandatory, 0, nil)}
	}
	return c, nil
}

// mustM reports whether RFC 6733 §4.5 requires the M bit on a base AVP of
// the capabilities exchange.
func mustM(code uint32) bool {
	switch code {
	case wire.AVPOriginHost, wire.AVPOriginRealm, wire.AVPHostIPAddress, wire.AVPVendorID,
		wire.AVPResultCode, wire.AVPOriginStateID, wire.AVPSupportedVendorID,
		wire.AVPAuthApplicationID, wire.AVPAcctApplicationID, wire.AVPVendorSpecificApplicationID,
		wire.AVPInbandSecurityID:
		return true
	}
	return false
}

func u32(a wire.AVP, body []byte, prev *capError) (uint32, *capError) {
	if prev != nil {
		return 0, prev
	}
	v, ok := a.Uint32()
	if !ok {
		return 0, &capError{wire.ResultInvalidAVPLength, "Unsigned32 AVP of wrong length", a.Raw(body)}
	}
	return v, nil
}

// missing builds the 5005 error: Failed-AVP carries an AVP of the missing
// code with a zero-filled payload of the minimum size (RFC 6733 §7.5).
func missing(code uint32, name string) *capError {
	data := make([]byte, 4)
	if code == wire.AVPHostIPAddress {
		data = []byte{0, 1, 0, 0, 0, 0} // IPv4 0.0.0.0
	}
	return &capError{wire.ResultMissingAVP, "missing " + name, wire.AppendAVP(nil, code, wire.AVPFlagMandatory, 0, data)}
}

// truncatedAVP returns a well-formed stand-in for the malformed AVP at off
// for Failed-AVP: its code and flags, and a zero payload of the size its
// type has (an empty Address or Unsigned32 would make the CEA itself
// undecodable to a strict peer); a header cut short is padded with zeros
// (RFC 6733 §7.1.5).
func truncatedAVP(body []byte, off int) []byte {
	if off >= len(body) {
		return nil
	}
	h := make([]byte, 12)
	n := copy(h, body[off:])
	return wire.FailedAVPWith(h[:max(n, 8)], 0, avpdict.Default)
}

func parseVendorApp(a wire.AVP, body []byte) (VendorApp, *capError) {
	var va VendorApp
	hasVendor := false
	it := a.Group()
	for it.Next() {
		g := it.AVP()
		if g.VendorID != 0 {
			continue
		}
		v, ok := g.Uint32()
		switch g.Code {
		case wire.AVPVendorID, wire.AVPAuthApplicationID, wire.AVPAcctApplicationID:
			if !ok {
				return va, &capError{wire.ResultInvalidAVPLength, "Vendor-Specific-Application-Id member of wrong length", a.Raw(body)}
			}
		}
		switch g.Code {
		case wire.AVPVendorID:
			va.VendorID = v
			hasVendor = true
		case wire.AVPAuthApplicationID:
			va.AuthApp = v
		case wire.AVPAcctApplicationID:
			va.AcctApp = v
		}
	}
	if it.Err() != nil {
		return va, &capError{wire.ResultInvalidAVPLength, "malformed Vendor-Specific-Application-Id", a.Raw(body)}
	}
	if !hasVendor {
		return va, &capError{wire.ResultMissingAVP, "Vendor-Specific-Application-Id without Vendor-Id", wire.AppendAVP(nil, wire.AVPVendorID, wire.AVPFlagMandatory, 0, make([]byte, 4))}
	}
	if (va.AuthApp == 0) == (va.AcctApp == 0) {
		return va, &capError{wire.ResultInvalidAVPValue, "Vendor-Specific-Application-Id needs exactly one of Auth- or Acct-Application-Id", a.Raw(body)}
	}
	return va, nil
}

// parseAddress decodes the Address type (RFC 6733 §4.3.1): a 2-octet IANA
// address family, then the address.
func parseAddress(b []byte) (netip.Addr, bool) {
	if len(b) < 2 {
		return netip.Addr{}, false
	}
	switch fam := binary.BigEndian.Uint16(b); {
	case fam == 1 && len(b) == 6:
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case fam == 2 && len(b) == 18:
		return netip.AddrFrom16([16]byte(b[2:18])), true
	}
	return netip.Addr{}, false
}
