package policy

import (
	"fmt"
	"strings"

	"github.com/dra-project/dra/wire"
)

// Trial is the context a message is tried in by TryAVPRules: what the
// agent knows when it applies the AVP rules.
type Trial struct {
	// Ingress is the peer a request came from (and its answer goes back
	// to); Egress the peer a request is sent to (and its answer came
	// from). Identities; empty when not known.
	Ingress, Egress string
	// DestRealm is the request's Destination-Realm. For a request, empty
	// means the message's own.
	DestRealm string
}

// RuleResult is what one AVP rule did in a dry run.
type RuleResult struct {
	Name    string
	Matched bool
	// Why, for a rule that did not match, is the first condition the
	// message failed.
	Why string
	// Actions are the actions of a matched rule, in order.
	Actions []ActionResult
}

// ActionResult is one action of a matched rule and the number of AVPs it
// removed, replaced or added (0: nothing to act on).
type ActionResult struct {
	Action string
	Count  int
}

// TryAVPRules applies the AVP rules to a copy of m as the agent does to a
// request it sends to t.Egress or an answer it sends back to t.Ingress
// (m's R bit tells which), and reports what each rule did. m is not
// changed. Topology hiding and DOIC, which run after the AVP rules, are
// not part of the trial.
func (p *Policy) TryAVPRules(m wire.Msg, t Trial) (wire.Msg, []RuleResult) {
	v := msgView{request: m.IsRequest(), ingress: t.Ingress, egress: t.Egress, destRealm: []byte(t.DestRealm)}
	if v.request && t.DestRealm == "" {
		if a, ok := m.Find(wire.AVPDestinationRealm, 0); ok {
			v.destRealm = a.Data
		}
	}
	out := wire.Msg(wire.GetBuf(len(m)))
	copy(out, m)
	res := make([]RuleResult, 0, len(p.avp))
	out = applyAVPRules(p.avp, out, &v, &res)
	return out, res
}

// explain says why r did not match m (why is what check returned).
func (r *avpRule) explain(why miss, m wire.Msg, v *msgView) string {
	switch why {
	case hit:
		return ""
	case missDirection:
		if v.request {
			return "direction: the rule applies to answers only"
		}
		return "direction: the rule applies to requests only"
	case missApplication:
		return fmt.Sprintf("Application-Id %d is not one of %v", m.AppID(), []uint32(r.apps))
	case missCommand:
		return fmt.Sprintf("command code %d is not one of %v", m.Code(), []uint32(r.cmds))
	case missIngress:
		return peerMiss("ingress", v.ingress, r.ingress)
	case missEgress:
		return peerMiss("egress", v.egress, r.egress)
	case missDestRealm:
		return fmt.Sprintf("Destination-Realm %q matches none of %s", v.destRealm, r.dest)
	case missOriginRealm:
		a, ok := m.Find(wire.AVPOriginRealm, 0)
		if !ok {
			return fmt.Sprintf("no Origin-Realm to match %s", r.origin)
		}
		return fmt.Sprintf("Origin-Realm %q matches none of %s", a.Data, r.origin)
	case missAVP:
		if c := r.cond; c.absent {
			return c.label + " is present (the rule wants it absent)"
		}
		return r.cond.label + " is not in the message"
	}
	return "unknown condition"
}

func peerMiss(side, id string, ps patterns) string {
	if id == "" {
		return fmt.Sprintf("no %s peer given to match %s", side, ps)
	}
	return fmt.Sprintf("%s peer %q matches none of %s", side, id, ps)
}

// String lists the patterns as configured (lower case).
func (ps patterns) String() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		switch {
		case p.any:
			s[i] = "*"
		case p.suffix:
			s[i] = "*" + p.s
		default:
			s[i] = p.s
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}
