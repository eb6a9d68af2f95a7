package aaa

import (
	"errors"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/internal/avpdict"
	"github.com/dra-project/dra/wire"
)

// dictionary is what the NASREQ server knows of AVPs: every AVP of
// go-diameter's dictionary (a NAS may send AVPs defined for other
// applications, which the server ignores). A request holding another AVP
// with the M bit is answered 5001, an AVP of the wrong size 5014
// (apps.CheckRequest).
var dictionary = avpdict.Default

// Auth-Request-Type values (RFC 6733 §8.7).
const (
	authenticateOnly      = 1
	authorizeOnly         = 2
	authorizeAuthenticate = 3
)

// Auth-Session-State STATE_MAINTAINED (RFC 6733 §8.11).
const stateMaintained = 0

// Re-Auth-Request-Type AUTHORIZE_ONLY (RFC 6733 §8.12).
const reAuthAuthorizeOnly = 0

// chapMD5 is the CHAP-Algorithm "CHAP with MD5" (RFC 7155 §4.3.5).
const chapMD5 = 5

// serveAAR answers an AA-Request (RFC 7155 §3.1).
//
// Authentication uses CHAP-Auth when present, else User-Password (PAP).
// CHAP needs CHAP-Challenge: Diameter has no RADIUS Request Authenticator,
// and a RADIUS/Diameter translation agent copies it into CHAP-Challenge
// (RFC 7155 §9, RADIUS/Diameter interactions), so an AAR with CHAP-Auth and no CHAP-Challenge is
// answered 5005 naming CHAP-Challenge. AUTHENTICATE_ONLY answers without
// opening a session; AUTHORIZE_ONLY authorizes a known user without
// credentials (an unknown user gets 5003).
func (s *Server) serveAAR(req *diam.Message) *diam.Message {
	for _, code := range []uint32{avp.SessionID, avp.OriginHost, avp.OriginRealm, avp.AuthApplicationID, avp.AuthRequestType} {
		if find(req.AVP, code) == nil {
			return finish(withError(s.aaa(req, wire.ResultMissingAVP), "missing mandatory AVP", missing(code)), req)
		}
	}
	artAVP := find(req.AVP, avp.AuthRequestType)
	art, ok := u32(artAVP)
	if !ok || art < authenticateOnly || art > authorizeAuthenticate {
		return finish(withError(s.aaa(req, wire.ResultInvalidAVPValue), "bad Auth-Request-Type", artAVP), req)
	}
	nameAVP := find(req.AVP, avp.UserName)
	if nameAVP == nil {
		return finish(withError(s.aaa(req, wire.ResultMissingAVP), "missing User-Name", missing(avp.UserName)), req)
	}
	name := str(nameAVP)
	sid := str(find(req.AVP, avp.SessionID))
	log := s.log.With("session", sid, "user", name)
	u, known := s.users.lookup(name)

	if art == authorizeOnly {
		if !known {
			log.Debug("authorization rejected: unknown user")
			return finish(withError(s.aaa(req, wire.ResultAuthorizationRejected), "unknown user", nil), req)
		}
	} else {
		ok, reject := s.authenticate(req, name, u, known)
		if reject != nil {
			return reject
		}
		if !ok {
			log.Debug("authentication rejected")
			a := s.aaa(req, wire.ResultAuthenticationRejected)
			a.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(name))
			return finish(withError(a, "authentication rejected", nil), req)
		}
		if art == authenticateOnly {
			a := s.aaa(req, wire.ResultSuccess)
			a.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(name))
			return finish(a, req)
		}
	}

	sess, err := s.authorize(sid, name, str(find(req.AVP, avp.OriginHost)), str(find(req.AVP, avp.OriginRealm)))
	switch {
	case errors.Is(err, errUserMismatch):
		log.Warn("authorization rejected: session belongs to another user")
		return finish(withError(s.aaa(req, wire.ResultAuthorizationRejected), "session belongs to another user", nil), req)
	case errors.Is(err, errSessionEnded):
		// A late copy of the AAR of a session its NAS has already ended
		// (Session-Ids are never reused, RFC 6733 §8.8): opening it again
		// would hold a second address until it times out.
		log.Warn("authorization refused: session already ended by STR")
		return finish(withError(s.aaa(req, wire.ResultUnableToComply), "session already ended", nil), req)
	case errors.Is(err, errPoolExhausted):
		log.Error("authorization failed: address pool exhausted")
		return finish(withError(s.aaa(req, wire.ResultUnableToComply), "address pool exhausted", nil), req)
	case err != nil:
		log.Error("authorization failed", "err", err)
		return finish(withError(s.aaa(req, wire.ResultUnableToComply), "session state not stored", nil), req)
	}
	log.Debug("authorized", "addr", sess.Addr)
	return finish(s.grant(req, sess, name), req)
}

// aaa starts an AA-Answer: the common answer AVPs plus Auth-Application-Id
// and the request's Auth-Request-Type (RFC 7155 §3.2).
func (s *Server) aaa(req *diam.Message, code uint32) *diam.Message {
	a := s.answer(req, code)
	a.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	if art := find(req.AVP, avp.AuthRequestType); art != nil {
		a.NewAVP(avp.AuthRequestType, avp.Mbit, 0, datatype.Enumerated(int32(mustU32(art))))
	}
	return a
}

func mustU32(a *diam.AVP) uint32 { v, _ := u32(a); return v }

// authenticate checks the credentials the request gives for user name (u,
// known: its entry). reject is a complete answer when the request is
// malformed.
func (s *Server) authenticate(req *diam.Message, name string, u *user, known bool) (ok bool, reject *diam.Message) {
	if chap := find(req.AVP, avp.CHAPAuth); chap != nil {
		g := group(chap)
		for _, code := range []uint32{avp.CHAPAlgorithm, avp.CHAPIdent, avp.CHAPResponse} {
			if find(g, code) == nil {
				return false, finish(withError(s.aaa(req, wire.ResultMissingAVP), "CHAP-Auth incomplete", missing(code)), req)
			}
		}
		algAVP := find(g, avp.CHAPAlgorithm)
		if alg, _ := u32(algAVP); alg != chapMD5 {
			return false, finish(withError(s.aaa(req, wire.ResultInvalidAVPValue), "CHAP-Algorithm not supported", algAVP), req)
		}
		identAVP := find(g, avp.CHAPIdent)
		ident := raw(identAVP)
		if len(ident) != 1 {
			return false, finish(withError(s.aaa(req, wire.ResultInvalidAVPValue), "CHAP-Ident must be one octet", identAVP), req)
		}
		chal := find(req.AVP, avp.CHAPChallenge)
		if chal == nil {
			return false, finish(withError(s.aaa(req, wire.ResultMissingAVP), "CHAP without CHAP-Challenge", missing(avp.CHAPChallenge)), req)
		}
		return known && u.checkCHAP(ident[0], raw(chal), raw(find(g, avp.CHAPResponse))), nil
	}
	if pw := find(req.AVP, avp.UserPassword); pw != nil {
		return s.users.checkPAP(name, raw(pw)), nil
	}
	return false, nil
}

// grant is the successful AA-Answer for a stored session.
func (s *Server) grant(req *diam.Message, sess *Session, name string) *diam.Message {
	now := s.now()
	a := s.aaa(req, wire.ResultSuccess)
	a.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(name))
	a.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(stateMaintained))
	if ip := sess.IP(); ip.IsValid() {
		a.NewAVP(avp.FramedIPAddress, avp.Mbit, 0, datatype.OctetString(ipBytes(ip)))
	}
	if s.cfg.FramedMTU > 0 {
		a.NewAVP(avp.FramedMTU, avp.Mbit, 0, datatype.Unsigned32(s.cfg.FramedMTU))
	}
	if s.cfg.SessionTimeout > 0 {
		end := time.Unix(0, sess.Started).Add(s.cfg.SessionTimeout)
		a.NewAVP(avp.SessionTimeout, avp.Mbit, 0, datatype.Unsigned32(ceilSeconds(end.Sub(now))))
	}
	if s.cfg.AuthorizationLifetime > 0 {
		a.NewAVP(avp.AuthorizationLifetime, avp.Mbit, 0, datatype.Unsigned32(uint32(s.cfg.AuthorizationLifetime/time.Second)))
		a.NewAVP(avp.AuthGracePeriod, avp.Mbit, 0, datatype.Unsigned32(uint32(s.cfg.AuthGracePeriod/time.Second)))
		a.NewAVP(avp.ReAuthRequestType, avp.Mbit, 0, datatype.Enumerated(reAuthAuthorizeOnly))
	}
	return a
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) uint32 {
	if d <= time.Second {
		return 1
	}
	return uint32((d + time.Second - 1) / time.Second)
}
