package loadgen

import "github.com/dra-project/dra/wire"

// answerer builds the server's answers to application requests with the
// wire layer, in one pool buffer and without other allocation: the
// request's header (R bit cleared, E bit for a protocol error), its
// Session-Id, then Result-Code (or Experimental-Result), Origin-Host and
// Origin-Realm, encoded once, then the request's AVPs that answers echo:
// Auth-/Acct-Application-Id, Vendor-Specific-Application-Id,
// CC-Request-Type/Number (CCA), Accounting-Record-Type/Number (ACA),
// Auth-Request-Type (AAA) and every Proxy-Info (RFC 6733 §6.7.3).
type answerer struct {
	fixed []byte
	flags uint8
}

func newAnswerer(host, realm string, code, vendor uint32) answerer {
	var b []byte
	var flags uint8
	if vendor != 0 {
		g := wire.AppendUint32AVP(nil, wire.AVPVendorID, wire.AVPFlagMandatory, 0, vendor)
		g = wire.AppendUint32AVP(g, avpExperimentalResultVal, wire.AVPFlagMandatory, 0, code)
		b = wire.AppendAVP(b, wire.AVPExperimentalResult, wire.AVPFlagMandatory, 0, g)
	} else {
		b = wire.AppendUint32AVP(b, wire.AVPResultCode, wire.AVPFlagMandatory, 0, code)
		if wire.IsProtocolError(code) {
			flags = wire.FlagError
		}
	}
	b = wire.AppendStringAVP(b, wire.AVPOriginHost, wire.AVPFlagMandatory, 0, host)
	b = wire.AppendStringAVP(b, wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, realm)
	return answerer{fixed: b, flags: flags}
}

// echoed reports whether an answer carries a copy of request AVP a.
func echoed(a *wire.AVP) bool {
	if a.VendorID != 0 {
		return false
	}
	switch a.Code {
	case wire.AVPAuthApplicationID, wire.AVPAcctApplicationID, wire.AVPVendorSpecificApplicationID,
		avpCCRequestType, avpCCRequestNumber, avpAccountingRecordType, avpAccountingRecordNum,
		avpAuthRequestType, wire.AVPProxyInfo:
		return true
	}
	return false
}

func aligned(n int) int { return (n + 3) &^ 3 }

// appendPadded appends an AVP copied from a request and the padding that
// a last AVP may lack.
func appendPadded(m, raw []byte) []byte {
	m = append(m, raw...)
	var pad [3]byte
	return append(m, pad[:aligned(len(raw))-len(raw)]...)
}

// answer builds the answer to req.
func (a *answerer) answer(req wire.Msg) wire.Msg {
	body := req.Body()
	n := wire.HeaderLen + len(a.fixed)
	var sid []byte
	it := wire.NewIter(body)
	for it.Next() {
		av := it.AVP()
		switch {
		case av.Code == wire.AVPSessionID && av.VendorID == 0 && sid == nil:
			sid = av.Raw(body)
			n += aligned(len(sid))
		case echoed(&av):
			n += aligned(av.Size)
		}
	}
	m := wire.GetBuf(n)[:wire.HeaderLen]
	copy(m, req.Header())
	m[4] = req.Flags()&wire.FlagProxiable | a.flags
	m = appendPadded(m, sid)
	m = append(m, a.fixed...)
	it = wire.NewIter(body)
	for it.Next() {
		if av := it.AVP(); echoed(&av) {
			m = appendPadded(m, av.Raw(body))
		}
	}
	wire.Msg(m).SetLen(len(m))
	return m
}
