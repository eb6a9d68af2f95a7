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
			return s.failAnswer(req.msg, missing(avp.RequestedServiceUnit, datatype.OctetString(""), "Requested-Service-Unit"))
		}
		if amount == 0 {
			f := &failure{code: wire.ResultInvalidAVPValue, msg: "invalid Requested-Service-Unit", failed: serviceUnitAVP(avp.RequestedServiceUnit, k, 0)}
			return s.failAnswer(req.msg, f)
		}
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
	ans := s.newAnswer(req.msg, wire.ResultSuccess)
	var rec *record // a balance change, logged with its answer
	switch req.action {
	case actionDirectDebiting:
		if a.st.Avail[k] < amount {
			setResultCode(ans, resultCreditLimitReached)
			break
		}
		a.st.Avail[k] -= amount
		a.st.Used[k] += amount
		ans.AddAVP(serviceUnitAVP(avp.GrantedServiceUnit, k, amount))
		acct := a.st
		rec = &record{Acct: &acct}
	case actionRefundAccount:
		a.st.Avail[k] += amount
		a.st.Used[k] -= min(a.st.Used[k], amount)
		acct := a.st
		rec = &record{Acct: &acct}
	case actionCheckBalance:
		res := uint32(enoughCredit)
		if a.st.Avail[k] < max(amount, 1) {
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
