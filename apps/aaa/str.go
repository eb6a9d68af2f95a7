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
	sess, err := s.release(sid, nil)
	if err != nil {
		s.log.Error("session termination not stored", "session", sid, "err", err)
		return finish(withError(s.answer(req, wire.ResultUnableToComply), "session state not stored", nil), req)
	}
	if sess == nil {
		return finish(withError(s.answer(req, wire.ResultUnknownSessionID), "unknown session", nil), req)
	}
	s.log.Info("session terminated", "session", sid, "user", sess.User, "addr", sess.Addr, "cause", cause)
	a := s.answer(req, wire.ResultSuccess)
	a.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(sess.User))
	return finish(a, req)
}
