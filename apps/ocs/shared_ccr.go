package ocs

import (
	"errors"
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/redis/go-redis/v9"

	"github.com/dra-project/dra/wire"
)

// Requests on the shared credit store (shared.go). Each mirrors the
// embedded store's (charging.go, event.go) on the subscriber's copy: the
// same grants, answers and duplicate rules.

// errSessionElsewhere makes update look the session up in the index.
var errSessionElsewhere = errors.New("ocs: session not held by the subscriber tried")

// seenShared is seen on the shared store: the answer to a request whose
// CC-Request-Number session ss has already reached, or nil.
func (s *Server) seenShared(ss *sessState, req *ccr) ([]byte, error) {
	if req.reqNum > ss.LastNum {
		return nil, nil
	}
	if req.reqNum == ss.LastNum && ss.Ans != nil {
		return resend(ss.Ans, req.msg), nil
	}
	return s.failAnswer(req.msg, &failure{code: wire.ResultUnableToComply,
		msg: fmt.Sprintf("CC-Request-Number %d already answered (last %d)", req.reqNum, ss.LastNum)})
}

// initial opens a session (CCR-I): the index names the subscriber first
// (SET NX; a Session-Id open for another subscriber is refused), then the
// session is added with its reservations and answer in one commit.
func (c *sharedCredit) initial(req *ccr) ([]byte, error) {
	s := c.s
	key := accountKey(req.sub.typ, req.sub.data)
	if c.cachedSub(req.sid) != key {
		ctx, cancel := c.ctx()
		old, err := c.c.SetArgs(ctx, c.sidKey(req.sid), key, redis.SetArgs{Mode: "NX", Get: true, TTL: c.indexTTL()}).Result()
		err = c.st.Err(ctx, "ocs index", err)
		cancel()
		if err != nil {
			return nil, err
		}
		if old != "" && old != key {
			return s.sessionOpen(req)
		}
		c.remember(req.sid, key)
	}
	return c.apply(key, func(a *shAcct, w *writes) ([]byte, error) {
		if !c.create(a, *req.sub, w) {
			return s.failAnswer(req.msg, &failure{code: resultUserUnknown, msg: "unknown subscriber"})
		}
		if ss := a.sessions[req.sid]; ss != nil {
			if ans, err := s.seenShared(&ss.st, req); ans != nil || err != nil {
				return ans, err
			}
			return s.sessionOpen(req)
		}
		if a.st.Blocked {
			return s.failAnswer(req.msg, &failure{code: resultEndUserServiceDenied, msg: "account blocked"})
		}
		ss := &session{st: sessState{ID: req.sid, Acct: key, OriginHost: req.originHost,
			OriginRealm: req.originRealm, LastNum: req.reqNum, LastSeen: s.now().UnixNano()}}
		reqs, single := msccOf(req)
		res := s.processMSCC(&a.account, &ss.st, reqs, false, false)
		ss.st.ValidUntil = s.validUntil(res)
		ans, err := s.answerCCA(req, res, single)
		if err != nil {
			return nil, fmt.Errorf("ocs: encode CCA: %w", err)
		}
		ss.st.Ans = ans
		a.sessions[req.sid] = ss
		w.acct = true
		return ans, w.set(sessField(req.sid), ss.st)
	})
}

// sessionOpen answers a CCR-I for a Session-Id already open: 5004 with
// the CC-Request-Type.
func (s *Server) sessionOpen(req *ccr) ([]byte, error) {
	f := &failure{code: wire.ResultInvalidAVPValue, msg: "session already open"}
	if v, err := req.msg.FindAVP(avp.CCRequestType, 0); err == nil {
		f.failed = v
	}
	return s.failAnswer(req.msg, f)
}

// update serves CCR-U and CCR-T. The subscriber is the one this agent
// remembers for the session, else the request's Subscription-Id, else the
// index's (one more round trip, for a session opened on another agent).
func (c *sharedCredit) update(req *ccr) ([]byte, error) {
	key, fromIndex := c.cachedSub(req.sid), false
	if key == "" && req.sub != nil {
		key = accountKey(req.sub.typ, req.sub.data)
	}
	for range 4 {
		if key == "" {
			var err error
			if key, err = c.lookupIndex(req.sid); err != nil {
				return nil, err
			}
			fromIndex = true
			if key == "" {
				return c.s.failAnswer(req.msg, &failure{code: wire.ResultUnknownSessionID, msg: "unknown session"})
			}
		}
		ans, err := c.apply(key, func(a *shAcct, w *writes) ([]byte, error) {
			return c.s.updateShared(a, w, req, fromIndex)
		})
		if errors.Is(err, errSessionElsewhere) {
			// The copy was dropped: tried again on a fresh read, after the
			// index unless the subscriber came from it.
			if !fromIndex {
				key = ""
			}
			continue
		}
		if err == nil {
			c.remember(req.sid, key)
		}
		return ans, err
	}
	return c.s.failAnswer(req.msg, &failure{code: wire.ResultUnknownSessionID, msg: "unknown session"})
}

// lookupIndex returns the subscriber the index names for sid, or "".
func (c *sharedCredit) lookupIndex(sid string) (string, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	key, err := c.c.Get(ctx, c.sidKey(sid)).Result()
	if err := c.st.Err(ctx, "ocs index", err); err != nil {
		return "", err
	}
	return key, nil
}

// updateShared serves a CCR-U or CCR-T on a subscriber's copy. final is
// set when the subscriber came from the index (no other to try); a
// session is unknown (5002) only on a copy just read from Redis, since a
// cached copy may predate the session.
func (s *Server) updateShared(a *shAcct, w *writes, req *ccr, final bool) ([]byte, error) {
	ss := a.sessions[req.sid]
	if ss == nil {
		if d, ok := a.done[doneKey{req.sid, req.reqNum}]; ok {
			return resend(d.Ans, req.msg), nil
		}
		if !final || !a.fresh {
			return nil, errSessionElsewhere
		}
		return s.failAnswer(req.msg, &failure{code: wire.ResultUnknownSessionID, msg: "unknown session"})
	}
	if ans, err := s.seenShared(&ss.st, req); ans != nil || err != nil {
		return ans, err
	}
	term := req.reqType == requestTermination
	now := s.now()
	ss.st.LastNum = req.reqNum
	ss.st.LastSeen = now.UnixNano()
	reqs, single := msccOf(req)
	res := s.processMSCC(&a.account, &ss.st, reqs, term, a.st.Blocked)
	if term {
		releaseAll(&a.account, &ss.st)
	} else if vu := s.validUntil(res); vu != 0 {
		ss.st.ValidUntil = vu
	}
	ans, err := s.answerCCA(req, res, single)
	if err != nil {
		return nil, fmt.Errorf("ocs: encode CCA: %w", err)
	}
	w.acct = true
	if term {
		d := doneState{Sid: req.sid, Num: req.reqNum, Ans: ans, At: now.UnixNano()}
		delete(a.sessions, req.sid)
		a.done[doneKey{req.sid, req.reqNum}] = d
		w.del(sessField(req.sid))
		return ans, w.set(doneField(req.sid, req.reqNum), d)
	}
	ss.st.Ans = ans
	w.touched = append(w.touched, req.sid)
	return ans, w.set(sessField(req.sid), ss.st)
}

// event serves CCR-EVENT; its answer is kept doneTTL in the subscriber's
// hash, written with the change it answers.
func (c *sharedCredit) event(req *ccr) ([]byte, error) {
	s := c.s
	k, amount, f := s.eventAmount(req)
	if f != nil {
		// Unless an earlier copy was answered: that one is resent below.
		if req.sub == nil {
			return s.failAnswer(req.msg, f)
		}
	}
	return c.apply(accountKey(req.sub.typ, req.sub.data), func(a *shAcct, w *writes) ([]byte, error) {
		if d, ok := a.done[doneKey{req.sid, req.reqNum}]; ok {
			return resend(d.Ans, req.msg), nil
		}
		if f != nil {
			return s.failAnswer(req.msg, f)
		}
		if !c.create(a, *req.sub, w) {
			return s.failAnswer(req.msg, &failure{code: resultUserUnknown, msg: "unknown subscriber"})
		}
		if a.st.Blocked {
			return s.failAnswer(req.msg, &failure{code: resultEndUserServiceDenied, msg: "account blocked"})
		}
		m, changed := s.eventApply(&a.st, req, k, amount)
		ans, err := finish(req.msg, m)
		if err != nil {
			return nil, fmt.Errorf("ocs: encode CCA: %w", err)
		}
		now := s.now()
		d := doneState{Sid: req.sid, Num: req.reqNum, Ans: ans, At: now.UnixNano()}
		a.done[doneKey{req.sid, req.reqNum}] = d
		w.acct = w.acct || changed
		return ans, w.set(doneField(req.sid, req.reqNum), d)
	})
}
