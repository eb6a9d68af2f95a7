package aaa

import (
	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/wire"
)

// serveSTR answers a Session-Termination-Request (RFC 7155 §3.5): the
// session ends and its address is released, durably, before the STA.
func (s *Server) serveSTR(req *diam.Message) *diam.Message {
	for _, code := range []uint32{avp.SessionID, avp.OriginHost, avp.OriginRealm, avp.AuthApplicationID, avp.TerminationCause} {
		if find(req.AVP, code) == nil {
			return finish(withError(s.answer(req, wire.ResultMissingAVP), "missing mandatory AVP", missing(code)), req)
		}
	}
	sid := str(find(req.AVP, avp.SessionID))
	cause, _ := u32(find(req.AVP, avp.TerminationCause))
	sess, user, err := s.terminate(sid)
	if err != nil {
		s.log.Error("session termination not stored", "session", sid, "err", err)
		return finish(withError(s.answer(req, wire.ResultUnableToComply), "session state not stored", nil), req)
	}
	if sess == nil {
		// A retransmission of the STR that ended it gets the same STA.
		if user == "" {
			return finish(withError(s.answer(req, wire.ResultUnknownSessionID), "unknown session", nil), req)
		}
		return s.sta(req, user)
	}
	s.log.Debug("session terminated", "session", sid, "user", sess.User, "addr", sess.Addr, "cause", cause)
	return s.sta(req, sess.User)
}

// sta is the successful STA for a session of user.
func (s *Server) sta(req *diam.Message, user string) *diam.Message {
	a := s.answer(req, wire.ResultSuccess)
	a.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(user))
	return finish(a, req)
}
