package cdf

import (
	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// echoed are the request AVPs an ACA repeats (RFC 6733 §9.7.2), in order.
var echoed = []uint32{
	avp.AccountingRecordType, avp.AccountingRecordNumber, avp.AcctApplicationID,
	avp.VendorSpecificApplicationID, avp.UserName, avp.AccountingSubSessionID,
	avp.AccountingSessionID, avp.AcctMultiSessionID, avp.EventTimestamp,
}

// answer builds the ACA to req: Session-Id first, Result-Code,
// Origin-Host/Realm, the echoed AVPs, Acct-Interim-Interval on successful
// START and INTERIM answers, Failed-AVP and Error-Message for errors, and
// the request's Proxy-Info AVPs.
func (s *Server) answer(req *diam.Message, code uint32, e *acrError) ([]byte, error) {
	flags := req.Header.CommandFlags & diam.ProxiableFlag
	if code >= 3000 && code < 4000 {
		flags |= diam.ErrorFlag
	}
	a := diam.NewMessage(req.Header.CommandCode, flags, req.Header.ApplicationID,
		req.Header.HopByHopID, req.Header.EndToEndID, req.Dictionary())
	if sid := top(req, avp.SessionID); sid != nil {
		a.AddAVP(sid)
	}
	a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(code))
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginHost))
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginRealm))
	for _, c := range echoed {
		if x := top(req, c); x != nil {
			a.AddAVP(x)
		}
	}
	if code == 2001 && s.cfg.InterimInterval > 0 {
		if t := top(req, avp.AccountingRecordType); t != nil {
			if v, ok := avpUint32(t); ok && (v == StartRecord || v == InterimRecord) {
				a.NewAVP(avp.AcctInterimInterval, avp.Mbit, 0, datatype.Unsigned32(s.cfg.InterimInterval.Seconds()))
			}
		}
	}
	if e != nil {
		if e.msg != "" {
			a.NewAVP(avp.ErrorMessage, 0, 0, datatype.UTF8String(e.msg))
		}
		if e.failed != nil {
			a.NewAVP(avp.FailedAVP, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{e.failed}})
		}
	}
	for _, x := range req.AVP {
		if x != nil && x.Code == avp.ProxyInfo && x.VendorID == 0 {
			a.AddAVP(x)
		}
	}
	return a.Serialize()
}
