package ocs

import (
	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/internal/avpdict"
)

// dictionary is what the OCS knows of AVPs: every AVP of go-diameter's
// dictionary, not only credit control's (application 4), since Gy clients
// also send AVPs defined elsewhere (Called-Station-Id of NASREQ, 3GPP
// AVPs the dictionary places in other applications) which the OCS may
// ignore but does not refuse. A request holding another AVP with the M
// bit is answered 5001, an AVP of the wrong size 5014 (apps.CheckRequest).
var dictionary = avpdict.Default

// CC-Request-Type values (RFC 4006 §8.3).
const (
	requestInitial     = 1
	requestUpdate      = 2
	requestTermination = 3
	requestEvent       = 4
)

// Requested-Action values (RFC 4006 §8.41).
const (
	actionDirectDebiting = 0
	actionRefundAccount  = 1
	actionCheckBalance   = 2
	actionPriceEnquiry   = 3
)

// serviceUnit is a Requested-, Granted- or Used-Service-Unit.
type serviceUnit struct {
	present bool
	has     [numUnits]bool
	amt     amounts
}

// pick returns the unit kind the service unit names: the first of octets,
// time and units it carries.
func (u serviceUnit) pick() (unit, bool) {
	for _, k := range []unit{unitOctets, unitTime, unitUnits} {
		if u.has[k] {
			return k, true
		}
	}
	return 0, false
}

// add sums another service unit into u.
func (u *serviceUnit) add(o serviceUnit) {
	u.present = u.present || o.present
	for k := range o.amt {
		u.has[k] = u.has[k] || o.has[k]
		u.amt[k] += o.amt[k]
	}
}

// msccReq is one Multiple-Services-Credit-Control of a request.
type msccReq struct {
	hasRG, hasSI bool
	rg, si       uint32
	rsu          serviceUnit
	usu          serviceUnit // all Used-Service-Units summed
}

// subscription identifies an account.
type subscription struct {
	typ  uint32
	data string
}

// ccr is a decoded Credit-Control-Request.
type ccr struct {
	msg                     *diam.Message
	sid                     string
	originHost, originRealm string
	reqType, reqNum         uint32
	sub                     *subscription
	action                  uint32
	rsu                     serviceUnit // top level
	usu                     serviceUnit // top level
	mscc                    []msccReq
}

// failure is an error answer to give: Result-Code and the Failed-AVP.
type failure struct {
	code   uint32
	failed *diam.AVP
	msg    string
}

// missing is 5005 with an AVP of the missing code and a zero payload.
func missing(code uint32, data datatype.Type, name string) *failure {
	return &failure{code: 5005, failed: diam.NewAVP(code, avp.Mbit, 0, data), msg: "missing " + name}
}

func invalid(a *diam.AVP, name string) *failure {
	return &failure{code: 5004, failed: a, msg: "invalid " + name}
}

func u32(a *diam.AVP) (uint32, bool) {
	switch v := a.Data.(type) {
	case datatype.Unsigned32:
		return uint32(v), true
	case datatype.Enumerated:
		return uint32(v), true
	case datatype.Integer32:
		return uint32(v), true
	}
	return 0, false
}

func u64(a *diam.AVP) (uint64, bool) {
	switch v := a.Data.(type) {
	case datatype.Unsigned64:
		return uint64(v), true
	case datatype.Unsigned32:
		return uint64(v), true
	case datatype.Integer64:
		return uint64(v), true
	}
	return 0, false
}

func str(a *diam.AVP) string {
	switch v := a.Data.(type) {
	case datatype.UTF8String:
		return string(v)
	case datatype.OctetString:
		return string(v)
	case datatype.DiameterIdentity:
		return string(v)
	}
	return ""
}

func group(a *diam.AVP) []*diam.AVP {
	if g, ok := a.Data.(*diam.GroupedAVP); ok {
		return g.AVP
	}
	return nil
}

// parseServiceUnit decodes a service unit; CC-Input-Octets and
// CC-Output-Octets count as octets when CC-Total-Octets is absent.
func parseServiceUnit(a *diam.AVP) serviceUnit {
	u := serviceUnit{present: true}
	var io uint64
	hasIO, hasTotal := false, false
	for _, c := range group(a) {
		v, ok := u64(c)
		if !ok {
			continue
		}
		switch c.Code {
		case avp.CCTime:
			u.has[unitTime], u.amt[unitTime] = true, v
		case avp.CCTotalOctets:
			u.has[unitOctets], u.amt[unitOctets], hasTotal = true, v, true
		case avp.CCInputOctets, avp.CCOutputOctets:
			io += v
			hasIO = true
		case avp.CCServiceSpecificUnits:
			u.has[unitUnits], u.amt[unitUnits] = true, v
		}
	}
	if hasIO && !hasTotal {
		u.has[unitOctets], u.amt[unitOctets] = true, io
	}
	return u
}

func parseMSCC(a *diam.AVP) msccReq {
	var m msccReq
	for _, c := range group(a) {
		switch c.Code {
		case avp.RatingGroup:
			m.rg, m.hasRG = u32(c)
		case avp.ServiceIdentifier:
			m.si, m.hasSI = u32(c)
		case avp.RequestedServiceUnit:
			m.rsu = parseServiceUnit(c)
		case avp.UsedServiceUnit:
			m.usu.add(parseServiceUnit(c))
		}
	}
	return m
}

// parseCCR decodes and validates a CCR.
func parseCCR(m *diam.Message) (*ccr, *failure) {
	r := &ccr{msg: m}
	var hasSID, hasOH, hasOR, hasDR, hasApp, hasCtx, hasType, hasNum bool
	for _, a := range m.AVP {
		if a.VendorID != 0 {
			continue
		}
		switch a.Code {
		case avp.SessionID:
			if !hasSID {
				r.sid, hasSID = str(a), true
			}
		case avp.OriginHost:
			r.originHost, hasOH = str(a), true
		case avp.OriginRealm:
			r.originRealm, hasOR = str(a), true
		case avp.DestinationRealm:
			hasDR = true
		case avp.AuthApplicationID:
			hasApp = true
			if v, _ := u32(a); v != AppID {
				return nil, invalid(a, "Auth-Application-Id")
			}
		case avp.ServiceContextID:
			hasCtx = true
		case avp.CCRequestType:
			r.reqType, hasType = u32(a)
			if r.reqType < requestInitial || r.reqType > requestEvent {
				return nil, invalid(a, "CC-Request-Type")
			}
		case avp.CCRequestNumber:
			r.reqNum, hasNum = u32(a)
		case avp.RequestedAction:
			r.action, _ = u32(a)
			if r.action > actionPriceEnquiry {
				return nil, invalid(a, "Requested-Action")
			}
		case avp.SubscriptionID:
			if r.sub != nil {
				continue
			}
			sub, f := parseSubscription(a)
			if f != nil {
				return nil, f
			}
			r.sub = sub
		case avp.RequestedServiceUnit:
			r.rsu = parseServiceUnit(a)
		case avp.UsedServiceUnit:
			r.usu.add(parseServiceUnit(a))
		case avp.MultipleServicesCreditControl:
			r.mscc = append(r.mscc, parseMSCC(a))
		}
	}
	switch {
	case !hasSID:
		return nil, missing(avp.SessionID, datatype.UTF8String(""), "Session-Id")
	case !hasOH:
		return nil, missing(avp.OriginHost, datatype.DiameterIdentity(""), "Origin-Host")
	case !hasOR:
		return nil, missing(avp.OriginRealm, datatype.DiameterIdentity(""), "Origin-Realm")
	case !hasDR:
		return nil, missing(avp.DestinationRealm, datatype.DiameterIdentity(""), "Destination-Realm")
	case !hasApp:
		return nil, missing(avp.AuthApplicationID, datatype.Unsigned32(0), "Auth-Application-Id")
	case !hasCtx:
		return nil, missing(avp.ServiceContextID, datatype.UTF8String(""), "Service-Context-Id")
	case !hasType:
		return nil, missing(avp.CCRequestType, datatype.Enumerated(0), "CC-Request-Type")
	case !hasNum:
		return nil, missing(avp.CCRequestNumber, datatype.Unsigned32(0), "CC-Request-Number")
	case r.sub == nil && (r.reqType == requestInitial || r.reqType == requestEvent):
		return nil, missing(avp.SubscriptionID, datatype.OctetString(""), "Subscription-Id")
	}
	return r, nil
}

func parseSubscription(a *diam.AVP) (*subscription, *failure) {
	var s subscription
	var hasType, hasData bool
	for _, c := range group(a) {
		switch c.Code {
		case avp.SubscriptionIDType:
			s.typ, hasType = u32(c)
			if s.typ > 4 {
				return nil, invalid(c, "Subscription-Id-Type")
			}
		case avp.SubscriptionIDData:
			s.data, hasData = str(c), true
		}
	}
	if !hasType {
		return nil, missing(avp.SubscriptionIDType, datatype.Enumerated(0), "Subscription-Id-Type")
	}
	if !hasData || s.data == "" {
		return nil, missing(avp.SubscriptionIDData, datatype.UTF8String(""), "Subscription-Id-Data")
	}
	return &s, nil
}
