package aaa

import (
	"encoding/binary"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/wire"
)

// find returns the first base-protocol (vendor 0) AVP with code among
// avps, or nil.
func find(avps []*diam.AVP, code uint32) *diam.AVP {
	for _, a := range avps {
		if a.Code == code && a.VendorID == 0 {
			return a
		}
	}
	return nil
}

// raw returns an AVP's payload bytes.
func raw(a *diam.AVP) []byte {
	if a == nil || a.Data == nil {
		return nil
	}
	return a.Data.Serialize()
}

// str returns an AVP's payload as a string.
func str(a *diam.AVP) string { return string(raw(a)) }

// u32 returns an Unsigned32 or Enumerated AVP's value; ok is false when
// the payload is not 4 bytes.
func u32(a *diam.AVP) (v uint32, ok bool) {
	b := raw(a)
	if len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// group returns the AVPs inside a Grouped AVP.
func group(a *diam.AVP) []*diam.AVP {
	if g, ok := a.Data.(*diam.GroupedAVP); ok {
		return g.AVP
	}
	return nil
}

// answer starts an answer to req: Session-Id, Result-Code, Origin-Host,
// Origin-Realm; the E bit for protocol errors, the P bit of req.
func (s *Server) answer(req *diam.Message, code uint32) *diam.Message {
	flags := req.Header.CommandFlags & diam.ProxiableFlag
	if wire.IsProtocolError(code) {
		flags |= diam.ErrorFlag
	}
	a := diam.NewMessage(req.Header.CommandCode, flags, req.Header.ApplicationID,
		req.Header.HopByHopID, req.Header.EndToEndID, dict.Default)
	if sid := find(req.AVP, avp.SessionID); sid != nil {
		a.AddAVP(sid)
	}
	a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(code))
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginHost))
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginRealm))
	return a
}

// withError adds Error-Message and, when failed is non-nil, a Failed-AVP
// holding it.
func withError(a *diam.Message, msg string, failed *diam.AVP) *diam.Message {
	if msg != "" {
		a.NewAVP(avp.ErrorMessage, 0, 0, datatype.UTF8String(msg))
	}
	if failed != nil {
		a.NewAVP(avp.FailedAVP, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{failed}})
	}
	return a
}

// missing is the Failed-AVP stand-in for an absent AVP (RFC 6733 §7.5):
// the AVP's code with a zero payload of the minimum size of its type.
func missing(code uint32) *diam.AVP {
	return diam.NewAVP(code, avp.Mbit, 0, datatype.OctetString(dictionary.Kind(code, 0).ZeroPayload()))
}

// finish appends the request's Proxy-Info AVPs to the answer (RFC 6733
// §6.2).
func finish(a, req *diam.Message) *diam.Message {
	for _, p := range req.AVP {
		if p.Code == avp.ProxyInfo && p.VendorID == 0 {
			a.AddAVP(p)
		}
	}
	return a
}
