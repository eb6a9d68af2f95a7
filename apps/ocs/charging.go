package ocs

import (
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/wire"
)

// wantFor is the grant to reserve for a Requested-Service-Unit: the
// configured grant of the rating group, or the requested amount when it is
// smaller and not zero.
func (s *Server) wantFor(m msccReq, k unit) uint64 {
	g, _ := s.cfg.grantFor(m.rg, m.hasRG)
	want := g[k]
	if n := m.rsu.amt[k]; m.rsu.has[k] && n > 0 && n < want {
		want = n
	}
	return want
}

// processMSCC settles and re-reserves every MSCC of a request on account a
// and session ss (both locked). release grants nothing (TERMINATION); deny
// answers requested grants with 4010.
func (s *Server) processMSCC(a *account, ss *sessState, reqs []msccReq, release, deny bool) []msccAnswer {
	out := make([]msccAnswer, 0, len(reqs))
	for _, m := range reqs {
		_, cfgUnit := s.cfg.grantFor(m.rg, m.hasRG)
		idx := ss.find(m.hasRG, m.rg, m.hasSI, m.si)
		var reserved uint64
		settleUnit, grantUnit := cfgUnit, cfgUnit
		if k, ok := m.rsu.pick(); ok {
			grantUnit = k
		} else if idx >= 0 {
			grantUnit = ss.Res[idx].Unit
		}
		if idx >= 0 {
			reserved, settleUnit = ss.Res[idx].Amount, ss.Res[idx].Unit
			ss.Res = append(ss.Res[:idx], ss.Res[idx+1:]...)
		} else if k, ok := m.usu.pick(); ok {
			settleUnit = k
		}
		st := applyMSCC(msccStep{avail: a.st.Avail[settleUnit], reserved: reserved, used: m.usu.amt[settleUnit]})
		a.st.Avail[settleUnit] = st.avail
		a.st.Used[settleUnit] += st.charged
		ans := msccAnswer{req: m, unit: grantUnit, code: wire.ResultSuccess}
		switch {
		case release || !m.rsu.present:
		case deny:
			ans.code = resultEndUserServiceDenied
		default:
			g := applyMSCC(msccStep{avail: a.st.Avail[grantUnit], want: s.wantFor(m, grantUnit)})
			a.st.Avail[grantUnit] = g.avail
			ans.code, ans.final, ans.granted, ans.grant = g.code, g.final, g.granted, g.granted > 0
			if g.granted > 0 {
				ss.Res = append(ss.Res, resState{RG: m.rg, HasRG: m.hasRG, SI: m.si, HasSI: m.hasSI, Unit: grantUnit, Amount: g.granted})
			}
		}
		out = append(out, ans)
	}
	return out
}

// releaseAll returns every reservation of ss to the account.
func releaseAll(a *account, ss *sessState) {
	for _, r := range ss.Res {
		a.st.Avail[r.Unit] += r.Amount
	}
	ss.Res = nil
}

// msccOf returns the request's MSCCs, or its top-level service units as
// one MSCC (single-service charging) and true.
func msccOf(req *ccr) ([]msccReq, bool) {
	if len(req.mscc) > 0 || (!req.rsu.present && !req.usu.present) {
		return req.mscc, false
	}
	return []msccReq{{rsu: req.rsu, usu: req.usu}}, true
}

// addResults adds the MSCC outcomes to answer m: MSCC AVPs, or for
// single-service charging the Granted-Service-Unit, Validity-Time and
// Final-Unit-Indication at the top level. It returns the top-level
// Result-Code.
func (s *Server) addResults(m *diam.Message, res []msccAnswer, single bool) uint32 {
	if !single {
		for _, r := range res {
			m.AddAVP(s.msccAVP(r))
		}
		return wire.ResultSuccess
	}
	r := res[0]
	if r.grant {
		m.AddAVP(serviceUnitAVP(avp.GrantedServiceUnit, r.unit, r.granted))
		if s.cfg.ValidityTime > 0 {
			m.NewAVP(avp.ValidityTime, avp.Mbit, 0, datatype.Unsigned32(uint32(s.cfg.ValidityTime.Seconds())))
		}
	}
	if r.final {
		m.AddAVP(s.finalUnitAVP())
	}
	return r.code
}

// answerCCA builds the answer with the MSCC outcomes; the top-level
// Result-Code is 2001 with per-MSCC codes, or the single service's code.
func (s *Server) answerCCA(req *ccr, res []msccAnswer, single bool) ([]byte, error) {
	a := s.newAnswer(req.msg, wire.ResultSuccess)
	code := s.addResults(a, res, single)
	if code != wire.ResultSuccess {
		setResultCode(a, code)
	}
	return finish(req.msg, a)
}

// setResultCode replaces the Result-Code of answer a.
func setResultCode(a *diam.Message, code uint32) {
	if rc, err := a.FindAVP(avp.ResultCode, 0); err == nil {
		rc.Data = datatype.Unsigned32(code)
	}
}

// validUntil is the Validity-Time deadline of a session given grants.
func (s *Server) validUntil(res []msccAnswer) int64 {
	if s.cfg.ValidityTime <= 0 {
		return 0
	}
	for _, r := range res {
		if r.grant {
			return s.now().Add(s.cfg.ValidityTime).UnixNano()
		}
	}
	return 0
}

// seen answers a request whose CC-Request-Number the session has already
// reached (called with the account locked): the retransmission of the
// last request gets that request's answer, once durable; an earlier number
// gets 5012 DIAMETER_UNABLE_TO_COMPLY and changes nothing. dup is false for
// a new number.
//
// RFC 4006 §5.1 numbers a session's requests 0, 1, 2... and makes the pair
// Session-Id, CC-Request-Number the identity of one request: a number below
// the last one answered is a late copy of a request the client has had
// answered (or has given up on; it sends request n+1 only after the answer
// or the failure handling of request n). Serving it again would charge
// its Used-Service-Unit twice and move the session back; its answer is no
// longer kept (only the last one is, durably, with the session), so it is
// refused. 5012 rather than 5004 DIAMETER_INVALID_AVP_VALUE: the number was
// valid when first sent, and nothing in the request is malformed; both are
// permanent failures, so a client does not retry it. The answer echoes the
// CC-Request-Number so that the client can match it.
func (s *Server) seen(ss *session, req *ccr) (ans []byte, c *commit, dup bool, err error) {
	if req.reqNum > ss.st.LastNum {
		return nil, nil, false, nil
	}
	if req.reqNum == ss.st.LastNum && ss.st.Ans != nil {
		return resend(ss.st.Ans, req.msg), ss.pending, true, nil
	}
	s.log.Debug("ocs: CC-Request-Number already answered; refused", "session", req.sid, "number", req.reqNum, "last", ss.st.LastNum)
	ans, err = s.failAnswer(req.msg, &failure{code: wire.ResultUnableToComply,
		msg: fmt.Sprintf("CC-Request-Number %d already answered (last %d)", req.reqNum, ss.st.LastNum)})
	return ans, nil, true, err
}

// durable returns ans once commit c (if any) succeeded: a retransmission
// is not answered before the answer it repeats is durable.
func durable(ans []byte, c *commit) ([]byte, error) {
	if c != nil {
		if err := c.wait(); err != nil {
			return nil, err
		}
	}
	return ans, nil
}

// initial opens a session (CCR-I).
func (s *Server) initial(req *ccr) ([]byte, error) {
	a := s.lookup(*req.sub)
	if a == nil {
		return s.failAnswer(req.msg, &failure{code: resultUserUnknown, msg: "unknown subscriber"})
	}
	a.mu.Lock()
	s.mu.RLock()
	other := s.sessions[req.sid]
	s.mu.RUnlock()
	if other == a {
		if ss := a.sessions[req.sid]; ss != nil {
			if ans, c, dup, err := s.seen(ss, req); dup || err != nil {
				a.mu.Unlock()
				if err != nil {
					return nil, err
				}
				return durable(ans, c)
			}
		}
	}
	if a.st.Blocked {
		a.mu.Unlock()
		return s.failAnswer(req.msg, &failure{code: resultEndUserServiceDenied, msg: "account blocked"})
	}
	if other != nil {
		a.mu.Unlock()
		f := &failure{code: wire.ResultInvalidAVPValue, msg: "session already open"}
		if v, err := req.msg.FindAVP(avp.CCRequestType, 0); err == nil {
			f.failed = v
		}
		return s.failAnswer(req.msg, f)
	}
	ss := &session{st: sessState{ID: req.sid, Acct: accountKey(a.st.Type, a.st.Data), OriginHost: req.originHost,
		OriginRealm: req.originRealm, LastNum: req.reqNum, LastSeen: s.now().UnixNano()}}
	reqs, single := msccOf(req)
	res := s.processMSCC(a, &ss.st, reqs, false, false)
	ss.st.ValidUntil = s.validUntil(res)
	ans, err := s.answerCCA(req, res, single)
	if err != nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("ocs: encode CCA: %w", err)
	}
	ss.st.Ans = ans
	a.sessions[req.sid] = ss
	s.mu.Lock()
	s.sessions[req.sid] = a
	s.mu.Unlock()
	acct, sess := a.st, ss.st
	sess.Res = append([]resState(nil), ss.st.Res...)
	ss.pending = s.wal.append(&record{Acct: &acct, Sess: &sess})
	c := ss.pending
	a.mu.Unlock()
	return durable(ans, c)
}

// ended answers a CCR-U or CCR-T for a session that is not open: the
// retransmission of the CCR-T that ended it gets that CCR-T's answer;
// anything else 5002.
func (s *Server) ended(req *ccr) ([]byte, error) {
	if ans, c := s.done.get(req.sid, req.reqNum, s.now()); ans != nil {
		return durable(resend(ans, req.msg), c)
	}
	return s.failAnswer(req.msg, &failure{code: wire.ResultUnknownSessionID, msg: "unknown session"})
}

// update serves CCR-U and CCR-T.
func (s *Server) update(req *ccr) ([]byte, error) {
	s.mu.RLock()
	a := s.sessions[req.sid]
	s.mu.RUnlock()
	if a == nil {
		return s.ended(req)
	}
	a.mu.Lock()
	ss := a.sessions[req.sid]
	if ss == nil {
		a.mu.Unlock()
		return s.ended(req)
	}
	if ans, c, dup, err := s.seen(ss, req); dup || err != nil {
		a.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return durable(ans, c)
	}
	term := req.reqType == requestTermination
	now := s.now()
	ss.st.LastNum = req.reqNum
	ss.st.LastSeen = now.UnixNano()
	ss.rarSent = false
	reqs, single := msccOf(req)
	res := s.processMSCC(a, &ss.st, reqs, term, a.st.Blocked)
	if term {
		releaseAll(a, &ss.st)
	} else if vu := s.validUntil(res); vu != 0 {
		ss.st.ValidUntil = vu
	}
	ans, err := s.answerCCA(req, res, single)
	if err != nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("ocs: encode CCA: %w", err)
	}
	acct := a.st
	rec := &record{Acct: &acct}
	if term {
		// The session goes and its CCR-T's answer stays, in one record;
		// the answer is findable before the session is gone, so that a
		// concurrent retransmission sees one or the other.
		rec.Del = req.sid
		rec.Done = &doneState{Sid: req.sid, Num: req.reqNum, Ans: ans, At: now.UnixNano()}
		c := s.wal.append(rec)
		s.done.put(req.sid, req.reqNum, ans, now, c)
		delete(a.sessions, req.sid)
		s.mu.Lock()
		delete(s.sessions, req.sid)
		s.mu.Unlock()
		a.mu.Unlock()
		return durable(ans, c)
	}
	ss.st.Ans = ans
	sess := ss.st
	sess.Res = append([]resState(nil), ss.st.Res...)
	rec.Sess = &sess
	ss.pending = s.wal.append(rec)
	c := ss.pending
	a.mu.Unlock()
	return durable(ans, c)
}

// resend copies a cached answer for a retransmitted request, with the
// request's identifiers.
func resend(ans []byte, req *diam.Message) []byte {
	b := wire.Msg(append([]byte(nil), ans...))
	b.SetHopByHop(req.Header.HopByHopID)
	b.SetEndToEnd(req.Header.EndToEndID)
	return b
}
