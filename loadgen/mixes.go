package loadgen

import "github.com/dra-project/dra/wire"

// genericMix: one request per session, any application and command,
// padded to a size. For relay tests, where only the header and the
// routing AVPs matter.
type genericMix struct{ mixBase }

func (g *genericMix) Name() string    { return MixGeneric }
func (g *genericMix) AppID() uint32   { return g.cfg.App }
func (g *genericMix) SessionLen() int { return 1 }

// padHeader is the size of the padding AVP header (it has a Vendor-Id).
const padHeader = 12

// padding is the zero payload padding AVPs copy from.
var padding [wire.DefaultMaxLen]byte

func (g *genericMix) Request(s *Session) wire.Msg {
	size := (g.cfg.Size + 3) &^ 3
	m := g.head(s, g.cfg.Cmd, g.cfg.App, max(g.sizeHint(s, 16), size))
	m = appendAppID(m, g.cfg.App)
	if n := size - len(m) - padHeader; n >= 0 {
		m = wire.AppendAVP(m, PadAVPCode, wire.AVPFlagVendor, PadVendorID, padding[:n])
	}
	return done(m)
}

// ccrMix: Gy/Ro credit-control sessions (RFC 4006): CCR-INITIAL,
// Updates x CCR-UPDATE, CCR-TERMINATION.
type ccrMix struct{ mixBase }

func (c *ccrMix) Name() string    { return MixCCR }
func (c *ccrMix) AppID() uint32   { return AppCreditControl }
func (c *ccrMix) SessionLen() int { return c.cfg.Updates + 2 }

func (c *ccrMix) Request(s *Session) wire.Msg {
	typ := uint32(ccrUpdate)
	switch s.Step {
	case 0:
		typ = ccrInitial
	case c.SessionLen() - 1:
		typ = ccrTermination
	}
	// Auth-Application-Id, Service-Context-Id, CC-Request-Type/Number,
	// Termination-Cause, Subscription-Id (3 headers, 20 digits),
	// Multiple-Services-Indicator, MSCC with RSU and USU (2x 24 bytes) and
	// Rating-Group.
	m := c.head(s, wire.CmdCreditControl, AppCreditControl, c.sizeHint(s, 220+len(c.cfg.ServiceContextID)))
	m = appendUint32(m, wire.AVPAuthApplicationID, AppCreditControl)
	m = wire.AppendStringAVP(m, avpServiceContextID, wire.AVPFlagMandatory, 0, c.cfg.ServiceContextID)
	m = appendUint32(m, avpCCRequestType, typ)
	m = appendUint32(m, avpCCRequestNumber, uint32(s.Step))
	if typ == ccrTermination {
		m = appendUint32(m, avpTerminationCause, terminationLogout)
	}

	m, sub := beginGroup(m, avpSubscriptionID)
	m = appendUint32(m, avpSubscriptionIDType, subscriptionE164)
	m = appendNumberAVP(m, avpSubscriptionIDData, c.cfg.MSISDNFirst+c.subscriber(s))
	m = endGroup(m, sub)
	m = appendUint32(m, avpMultipleServicesInd, multipleServicesOK)

	m, mscc := beginGroup(m, avpMSCC)
	if typ != ccrTermination {
		var rsu int
		m, rsu = beginGroup(m, avpRequestedServiceUnit)
		m = appendUint64AVP(m, avpCCTotalOctets, c.cfg.Octets)
		m = endGroup(m, rsu)
	}
	if typ != ccrInitial {
		var usu int
		m, usu = beginGroup(m, avpUsedServiceUnit)
		m = appendUint64AVP(m, avpCCTotalOctets, c.cfg.Octets)
		m = endGroup(m, usu)
	}
	m = appendUint32(m, avpRatingGroup, c.cfg.RatingGroup)
	m = endGroup(m, mscc)
	return done(m)
}

// acrMix: accounting sessions (RFC 6733 §9, base accounting as used on
// Rf): START, Updates x INTERIM, STOP.
type acrMix struct{ mixBase }

func (a *acrMix) Name() string    { return MixACR }
func (a *acrMix) AppID() uint32   { return AppBaseAccounting }
func (a *acrMix) SessionLen() int { return a.cfg.Updates + 2 }

func (a *acrMix) Request(s *Session) wire.Msg {
	typ := uint32(acctInterim)
	switch s.Step {
	case 0:
		typ = acctStart
	case a.SessionLen() - 1:
		typ = acctStop
	}
	m := a.head(s, wire.CmdAccounting, AppBaseAccounting, a.sizeHint(s, 60+len(a.user.prefix)+len(a.user.suffix)))
	m = appendUint32(m, avpAccountingRecordType, typ)
	m = appendUint32(m, avpAccountingRecordNum, uint32(s.Step))
	m = appendUint32(m, wire.AVPAcctApplicationID, AppBaseAccounting)
	m = appendPatternAVP(m, wire.AVPUserName, a.user, a.subscriber(s))
	return done(m)
}

// aarMix: NASREQ AA-Request (RFC 7155) with PAP: one request per session.
type aarMix struct{ mixBase }

func (a *aarMix) Name() string    { return MixAAR }
func (a *aarMix) AppID() uint32   { return AppNASREQ }
func (a *aarMix) SessionLen() int { return 1 }

func (a *aarMix) Request(s *Session) wire.Msg {
	m := a.head(s, CmdAA, AppNASREQ, a.sizeHint(s, 80+len(a.user.prefix)+len(a.user.suffix)+len(a.cfg.Password)+len(s.OriginHost)))
	m = appendUint32(m, wire.AVPAuthApplicationID, AppNASREQ)
	m = appendUint32(m, avpAuthRequestType, authorizeAuthenticate)
	m = wire.AppendStringAVP(m, avpNASIdentifier, wire.AVPFlagMandatory, 0, s.OriginHost)
	m = appendPatternAVP(m, wire.AVPUserName, a.user, a.subscriber(s))
	m = wire.AppendStringAVP(m, avpUserPassword, wire.AVPFlagMandatory, 0, a.cfg.Password)
	return done(m)
}
