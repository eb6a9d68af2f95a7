package ocs

import (
	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/wire"
)

// newAnswer starts a CCA to req: Session-Id, Result-Code, Origin-Host/Realm,
// Auth-Application-Id, CC-Request-Type and CC-Request-Number echoed, and
// the configured CC-Session-Failover and Credit-Control-Failure-Handling.
// finish appends the request's Proxy-Info.
func (s *Server) newAnswer(req *diam.Message, code uint32) *diam.Message {
	flags := req.Header.CommandFlags &^ (diam.RequestFlag | diam.RetransmittedFlag)
	if wire.IsProtocolError(code) {
		flags |= diam.ErrorFlag
	}
	a := diam.NewMessage(req.Header.CommandCode, flags, req.Header.ApplicationID,
		req.Header.HopByHopID, req.Header.EndToEndID, dict.Default)
	if sid, err := req.FindAVP(avp.SessionID, 0); err == nil {
		a.AddAVP(sid)
	}
	a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(code))
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginHost))
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginRealm))
	a.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	for _, c := range []uint32{avp.CCRequestType, avp.CCRequestNumber} {
		if v, err := req.FindAVP(c, 0); err == nil {
			a.AddAVP(v)
		}
	}
	if v, ok := failoverValues[s.cfg.CCSessionFailover]; ok {
		a.NewAVP(avp.CCSessionFailover, avp.Mbit, 0, datatype.Enumerated(v))
	}
	if v, ok := failureHandling[s.cfg.CreditControlFailureHandling]; ok {
		a.NewAVP(avp.CreditControlFailureHandling, avp.Mbit, 0, datatype.Enumerated(v))
	}
	return a
}

// finish copies the request's Proxy-Info AVPs and encodes the answer.
func finish(req, a *diam.Message) ([]byte, error) {
	if pis, err := req.FindAVPs(avp.ProxyInfo, 0); err == nil {
		for _, p := range pis {
			a.AddAVP(p)
		}
	}
	return a.Serialize()
}

// failAnswer encodes an error CCA with Error-Message and Failed-AVP.
func (s *Server) failAnswer(req *diam.Message, f *failure) ([]byte, error) {
	a := s.newAnswer(req, f.code)
	if f.msg != "" {
		a.NewAVP(avp.ErrorMessage, 0, 0, datatype.UTF8String(f.msg))
	}
	if f.failed != nil {
		a.NewAVP(avp.FailedAVP, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{f.failed}})
	}
	return finish(req, a)
}

// serviceUnitAVP encodes a Granted- or Requested-Service-Unit of one kind.
func serviceUnitAVP(code uint32, k unit, n uint64) *diam.AVP {
	var c *diam.AVP
	switch k {
	case unitTime:
		c = diam.NewAVP(avp.CCTime, avp.Mbit, 0, datatype.Unsigned32(min(n, 1<<32-1)))
	case unitOctets:
		c = diam.NewAVP(avp.CCTotalOctets, avp.Mbit, 0, datatype.Unsigned64(n))
	default:
		c = diam.NewAVP(avp.CCServiceSpecificUnits, avp.Mbit, 0, datatype.Unsigned64(n))
	}
	return diam.NewAVP(code, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{c}})
}

// finalUnitAVP is the configured Final-Unit-Indication.
func (s *Server) finalUnitAVP() *diam.AVP {
	action := finalActions[s.cfg.FinalUnitAction]
	g := &diam.GroupedAVP{AVP: []*diam.AVP{diam.NewAVP(avp.FinalUnitAction, avp.Mbit, 0, datatype.Enumerated(action))}}
	if action == finalActions["redirect"] {
		g.AVP = append(g.AVP, diam.NewAVP(avp.RedirectServer, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.RedirectAddressType, avp.Mbit, 0, datatype.Enumerated(redirectTypes[s.cfg.RedirectAddressType])),
			diam.NewAVP(avp.RedirectServerAddress, avp.Mbit, 0, datatype.UTF8String(s.cfg.RedirectServerAddress)),
		}}))
	}
	return diam.NewAVP(avp.FinalUnitIndication, avp.Mbit, 0, g)
}

// msccAnswer is the outcome for one MSCC of a request.
type msccAnswer struct {
	req     msccReq
	unit    unit
	granted uint64
	grant   bool // a Granted-Service-Unit is sent
	final   bool
	code    uint32
}

// msccAVP encodes one Multiple-Services-Credit-Control of a CCA.
func (s *Server) msccAVP(m msccAnswer) *diam.AVP {
	var kids []*diam.AVP
	if m.grant {
		kids = append(kids, serviceUnitAVP(avp.GrantedServiceUnit, m.unit, m.granted))
	}
	if m.req.hasSI {
		kids = append(kids, diam.NewAVP(avp.ServiceIdentifier, avp.Mbit, 0, datatype.Unsigned32(m.req.si)))
	}
	if m.req.hasRG {
		kids = append(kids, diam.NewAVP(avp.RatingGroup, avp.Mbit, 0, datatype.Unsigned32(m.req.rg)))
	}
	if m.grant && s.cfg.ValidityTime > 0 {
		kids = append(kids, diam.NewAVP(avp.ValidityTime, avp.Mbit, 0, datatype.Unsigned32(uint32(s.cfg.ValidityTime.Seconds()))))
	}
	kids = append(kids, diam.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(m.code)))
	if m.final {
		kids = append(kids, s.finalUnitAVP())
	}
	return diam.NewAVP(avp.MultipleServicesCreditControl, avp.Mbit, 0, &diam.GroupedAVP{AVP: kids})
}
