package ocs

import (
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/wire"
)

// Check-Balance-Result values (RFC 4006 §8.6).
const (
	enoughCredit = 0
	noCredit     = 1
)

// event serves CCR-EVENT: direct debiting, refund, balance check and
// price enquiry (Requested-Action; DIRECT_DEBITING when absent). The
// amount is the top-level Requested-Service-Unit, or the first MSCC's.
func (s *Server) event(req *ccr) ([]byte, error) {
	if ans, c := s.done.get(req.sid, req.reqNum, s.now()); ans != nil {
		return durable(resend(ans, req.msg), c)
	}
	k, amount, f := s.eventAmount(req)
	if f != nil {
		return s.failAnswer(req.msg, f)
	}
	a := s.lookup(*req.sub)
	if a == nil {
		return s.failAnswer(req.msg, &failure{code: resultUserUnknown, msg: "unknown subscriber"})
	}
	a.mu.Lock()
	// Again under the account's lock: a retransmission that arrives while
	// the first is being served must not be charged too.
	if ans, c := s.done.get(req.sid, req.reqNum, s.now()); ans != nil {
		a.mu.Unlock()
		return durable(resend(ans, req.msg), c)
	}
	if a.st.Blocked {
		a.mu.Unlock()
		return s.failAnswer(req.msg, &failure{code: resultEndUserServiceDenied, msg: "account blocked"})
	}
	ans, changed := s.eventApply(&a.st, req, k, amount)
	var rec *record // a balance change, logged with its answer
	if changed {
		acct := a.st
		rec = &record{Acct: &acct}
	}
	b, err := finish(req.msg, ans)
	if err != nil {
		// Only a change already applied in memory can be left here; log it
		// without an answer rather than lose it.
		if rec != nil {
			s.wal.append(rec)
		}
		a.mu.Unlock()
		return nil, fmt.Errorf("ocs: encode CCA: %w", err)
	}
	now := s.now()
	var c *commit
	if rec != nil {
		rec.Done = &doneState{Sid: req.sid, Num: req.reqNum, Ans: b, At: now.UnixNano()}
		c = s.wal.append(rec)
	}
	s.done.put(req.sid, req.reqNum, b, now, c)
	a.mu.Unlock()
	return durable(b, c)
}

// eventAmount returns the unit kind and amount of an EVENT, or the
// failure to answer: the top-level Requested-Service-Unit or the first
// MSCC's, required but for CHECK_BALANCE.
func (s *Server) eventAmount(req *ccr) (unit, uint64, *failure) {
	rsu, m := req.rsu, msccReq{}
	if len(req.mscc) > 0 {
		m = req.mscc[0]
		if !rsu.present {
			rsu = m.rsu
		}
	}
	_, k := s.cfg.grantFor(m.rg, m.hasRG)
	if u, ok := rsu.pick(); ok {
		k = u
	}
	amount := rsu.amt[k]
	if req.action != actionCheckBalance {
		if !rsu.present {
			return k, 0, missing(avp.RequestedServiceUnit, datatype.OctetString(""), "Requested-Service-Unit")
		}
		if amount == 0 {
			return k, 0, &failure{code: wire.ResultInvalidAVPValue, msg: "invalid Requested-Service-Unit", failed: serviceUnitAVP(avp.RequestedServiceUnit, k, 0)}
		}
	}
	return k, amount, nil
}

// eventApply applies the Requested-Action of an EVENT to account st and
// returns the answer (not yet finished) and whether the balance changed.
func (s *Server) eventApply(st *acctState, req *ccr, k unit, amount uint64) (*diam.Message, bool) {
	ans := s.newAnswer(req.msg, wire.ResultSuccess)
	switch req.action {
	case actionDirectDebiting:
		if st.Avail[k] < amount {
			setResultCode(ans, resultCreditLimitReached)
			return ans, false
		}
		st.Avail[k] -= amount
		st.Used[k] += amount
		ans.AddAVP(serviceUnitAVP(avp.GrantedServiceUnit, k, amount))
		return ans, true
	case actionRefundAccount:
		st.Avail[k] += amount
		st.Used[k] -= min(st.Used[k], amount)
		return ans, true
	case actionCheckBalance:
		res := uint32(enoughCredit)
		if st.Avail[k] < max(amount, 1) {
			res = noCredit
		}
		ans.NewAVP(avp.CheckBalanceResult, avp.Mbit, 0, datatype.Enumerated(res))
	case actionPriceEnquiry:
		price := s.cfg.UnitPrice.amounts()[k] * amount
		ans.NewAVP(avp.CostInformation, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.UnitValue, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
				diam.NewAVP(avp.ValueDigits, avp.Mbit, 0, datatype.Integer64(int64(price))),
			}}),
			diam.NewAVP(avp.CurrencyCode, avp.Mbit, 0, datatype.Unsigned32(s.cfg.CurrencyCode)),
		}})
	}
	return ans, false
}
