package aaa

import (
	"errors"
	"fmt"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/wire"
)

// ErrNoOriginator is returned by Abort and ReAuth when the server was
// built without an Originator.
var ErrNoOriginator = errors.New("aaa: no originator")

// Abort sends an Abort-Session-Request (RFC 7155 §3.7) to the session's
// NAS (Destination-Host = the session's Origin-Host) and waits for the
// answer. The session is released when the NAS answers 2001, or 5002 (it
// no longer knows the session). Any other outcome leaves the session and
// is returned as an error.
func (s *Server) Abort(sessionID string) error {
	return s.originate(sessionID, cmdAbortSession, "ASR")
}

// ReAuth sends a Re-Auth-Request (RFC 7155 §3.3) with Re-Auth-Request-Type
// AUTHORIZE_ONLY to the session's NAS and waits for the answer; on 2001
// the NAS re-authorizes with an AAR. A 5002 answer releases the session.
func (s *Server) ReAuth(sessionID string) error {
	return s.originate(sessionID, cmdReAuth, "RAR")
}

func (s *Server) originate(sessionID string, code uint32, name string) error {
	if s.orig == nil {
		return ErrNoOriginator
	}
	sess, err := s.store.get(sessionID)
	if err != nil {
		return fmt.Errorf("aaa: %s for session %q: %w", name, sessionID, err)
	}
	if sess == nil {
		return fmt.Errorf("%w: %q", ErrUnknownSession, sessionID)
	}
	m := diam.NewMessage(code, diam.RequestFlag|diam.ProxiableFlag, AppID, 0, 0, dict.Default)
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(sess.ID))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginRealm))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(sess.NASRealm))
	m.NewAVP(avp.DestinationHost, avp.Mbit, 0, datatype.DiameterIdentity(sess.NASHost))
	m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	if code == cmdReAuth {
		m.NewAVP(avp.ReAuthRequestType, avp.Mbit, 0, datatype.Enumerated(reAuthAuthorizeOnly))
	}
	m.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(sess.User))
	b, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("aaa: encode %s: %w", name, err)
	}
	log := s.log.With("session", sess.ID, "nas", sess.NASHost, "request", name)

	res := make(chan uint32, 1)
	s.orig.Originate(wire.Msg(b), func(ans wire.Msg) {
		code := resultCode(ans)
		wire.PutBuf(ans)
		res <- code
	})
	var rc uint32
	select {
	case rc = <-res:
	case <-time.After(s.cfg.AnswerTimeout):
		log.Warn("no answer")
		return fmt.Errorf("aaa: %s for session %q: no answer within %v", name, sess.ID, s.cfg.AnswerTimeout)
	}
	log.Debug("answered", "result", rc)
	switch {
	case rc == wire.ResultSuccess && code == cmdAbortSession, rc == wire.ResultUnknownSessionID:
		var err error
		if rc == wire.ResultSuccess {
			// The NAS ends the session and sends an STR (RFC 6733
			// §8.5.1): answered 2001, like the STR of a session it ended.
			_, _, err = s.terminate(sess.ID)
		} else {
			_, err = s.release(sess.ID)
		}
		if err != nil {
			return fmt.Errorf("aaa: release session %q: %w", sess.ID, err)
		}
		log.Debug("session released", "addr", sess.Addr)
		if rc != wire.ResultSuccess {
			return fmt.Errorf("aaa: %s for session %q answered %d", name, sess.ID, rc)
		}
		return nil
	case rc == wire.ResultSuccess:
		return nil
	}
	return fmt.Errorf("aaa: %s for session %q answered %d", name, sess.ID, rc)
}

// resultCode returns an answer's Result-Code, or 0 when it has none.
func resultCode(m wire.Msg) uint32 {
	it := m.AVPs()
	for it.Next() {
		a := it.AVP()
		if a.Code == wire.AVPResultCode && a.VendorID == 0 && len(a.Data) == 4 {
			return uint32(a.Data[0])<<24 | uint32(a.Data[1])<<16 | uint32(a.Data[2])<<8 | uint32(a.Data[3])
		}
	}
	return 0
}
