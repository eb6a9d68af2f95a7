package ocs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/wire"
)

// reAuthAuthorizeOnly is Re-Auth-Request-Type AUTHORIZE_ONLY.
const reAuthAuthorizeOnly = 0

// ErrNoOriginator is returned by ReAuth when the server has no Originator.
var ErrNoOriginator = errors.New("ocs: no originator")

// ReAuth sends a Re-Auth-Request (AUTHORIZE_ONLY) for an open session
// toward the client that opened it; the answer's Result-Code is logged.
func (s *Server) ReAuth(sessionID string) error {
	if s.orig == nil {
		return ErrNoOriginator
	}
	s.mu.RLock()
	a := s.sessions[sessionID]
	s.mu.RUnlock()
	if a == nil {
		return fmt.Errorf("ocs: re-auth %q: %w", sessionID, errUnknownSession)
	}
	a.mu.Lock()
	ss := a.sessions[sessionID]
	var host, realm string
	if ss != nil {
		host, realm = ss.st.OriginHost, ss.st.OriginRealm
	}
	a.mu.Unlock()
	if ss == nil {
		return fmt.Errorf("ocs: re-auth %q: %w", sessionID, errUnknownSession)
	}
	m := diam.NewRequest(wire.CmdReAuth, AppID, dict.Default)
	m.Header.CommandFlags |= diam.ProxiableFlag
	m.Header.EndToEndID = 0
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(sessionID))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(s.id.OriginRealm))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(realm))
	m.NewAVP(avp.DestinationHost, avp.Mbit, 0, datatype.DiameterIdentity(host))
	m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	m.NewAVP(avp.ReAuthRequestType, avp.Mbit, 0, datatype.Enumerated(reAuthAuthorizeOnly))
	b, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("ocs: re-auth %q: %w", sessionID, err)
	}
	s.orig.Originate(wire.Msg(b), func(ans wire.Msg) {
		code := resultCodeOf(ans)
		s.log.Debug("ocs: RAA", "session", sessionID, "peer", host, "result", code)
		if h := s.raaHook; h != nil {
			h(sessionID, code)
		}
	})
	return nil
}

// resultCodeOf returns an answer's Result-Code, or 0.
func resultCodeOf(m wire.Msg) uint32 {
	if len(m) < wire.HeaderLen {
		return 0
	}
	it := m.AVPs()
	for it.Next() {
		if a := it.AVP(); a.Code == wire.AVPResultCode && a.VendorID == 0 && len(a.Data) == 4 {
			return binary.BigEndian.Uint32(a.Data)
		}
	}
	return 0
}

// sweep releases timed-out sessions and re-authorizes those whose
// Validity-Time passed, until Close.
func (s *Server) sweep() {
	defer s.wg.Done()
	t := time.NewTicker(min(max(s.cfg.SessionTimeout/10, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweepOnce()
		}
	}
}

func (s *Server) sweepOnce() {
	now := s.now().UnixNano()
	timeout := s.cfg.SessionTimeout.Nanoseconds()
	s.mu.RLock()
	accts := make([]*account, 0, len(s.accounts))
	for _, a := range s.accounts {
		accts = append(accts, a)
	}
	s.mu.RUnlock()
	var reauth []string
	for _, a := range accts {
		a.mu.Lock()
		var done []*commit
		for id, ss := range a.sessions {
			if now-ss.st.LastSeen > timeout {
				releaseAll(a, &ss.st)
				delete(a.sessions, id)
				s.mu.Lock()
				delete(s.sessions, id)
				s.mu.Unlock()
				acct := a.st
				done = append(done, s.wal.append(&record{Acct: &acct, Del: id}))
				s.log.Debug("ocs: session timed out; reservations released", "session", id)
				continue
			}
			if ss.st.ValidUntil != 0 && now > ss.st.ValidUntil && !ss.rarSent && s.orig != nil {
				ss.rarSent = true
				reauth = append(reauth, id)
			}
		}
		a.mu.Unlock()
		for _, c := range done {
			if err := c.wait(); err != nil {
				s.log.Error("ocs: session release not durable", "err", err)
			}
		}
	}
	for _, id := range reauth {
		if err := s.ReAuth(id); err != nil {
			s.log.Warn("ocs: re-auth on validity expiry", "session", id, "err", err)
		}
	}
}
