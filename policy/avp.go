package policy

import (
	"bytes"
	"fmt"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/wire"
)

// avpRule is a compiled policy.avp_rules entry.
type avpRule struct {
	name            string
	onReq, onAns    bool
	ingress, egress patterns
	origin, dest    patterns
	apps, cmds      u32set
	cond            *avpCond
	acts            []avpAct
}

// avpStep is one step of an AVP path: an AVP by code and vendor and,
// for a Grouped one, an optional condition on a direct child.
type avpStep struct {
	code, vendor   uint32
	filter         bool
	fcode, fvendor uint32
	fvalue         []byte
}

// is reports whether a is the AVP of the step, filter included.
func (s *avpStep) is(a wire.AVP) bool {
	if a.Code != s.code || a.VendorID != s.vendor {
		return false
	}
	if !s.filter {
		return true
	}
	it := a.Group()
	for it.Next() {
		c := it.AVP()
		if c.Code == s.fcode && c.VendorID == s.fvendor && bytes.Equal(c.Data, s.fvalue) {
			return true
		}
	}
	return false
}

func compilePath(p configs.AVPPath) []avpStep {
	out := make([]avpStep, len(p))
	for i, s := range p {
		out[i] = avpStep{code: s.Code, vendor: s.Vendor}
		if f := s.Filter; f != nil {
			out[i].filter, out[i].fcode, out[i].fvendor, out[i].fvalue = true, f.Code, f.Vendor, f.Value
		}
	}
	return out
}

type avpCond struct {
	path     []avpStep
	value    []byte
	hasValue bool
	absent   bool
	label    string // the AVP as configured, for dry runs
}

// present reports whether the condition's AVP (with its value, if set)
// occurs in m.
func (c *avpCond) present(m wire.Msg) bool { return findPath(m.Body(), c.path, c.value, c.hasValue) }

// findPath reports whether an AVP at path (relative to the AVPs in b)
// exists, with data val when hasVal.
func findPath(b []byte, path []avpStep, val []byte, hasVal bool) bool {
	st := &path[0]
	it := wire.NewIter(b)
	for it.Next() {
		a := it.AVP()
		if !st.is(a) {
			continue
		}
		if len(path) == 1 {
			if !hasVal || bytes.Equal(a.Data, val) {
				return true
			}
			continue
		}
		if findPath(a.Data, path[1:], val, hasVal) {
			return true
		}
	}
	return false
}

type actKind uint8

const (
	actAdd actKind = iota
	actRemove
	actReplace
)

// avpAct is one action. path runs from the top level to the AVP acted on
// (for add: the AVP added, inside every occurrence of path's parent).
type avpAct struct {
	kind  actKind
	path  []avpStep
	flags uint8
	data  []byte
	label string // "replace Subscription-Id/Subscription-Id-Data", for dry runs
}

func compileAVPRules(cs []configs.AVPRule) ([]avpRule, error) {
	var out []avpRule
	for i, c := range cs {
		f := fmt.Sprintf("avp_rules[%d]", i)
		r := avpRule{
			name: c.Name, onReq: c.Direction != "answer", onAns: c.Direction == "answer" || c.Direction == "both",
			ingress: compilePatterns(c.When.IngressPeers), egress: compilePatterns(c.When.EgressPeers),
			origin: compilePatterns(c.When.OriginRealms), dest: compilePatterns(c.When.DestinationRealms),
			apps: c.When.Applications, cmds: c.When.Commands,
		}
		if r.name == "" {
			r.name = f
		}
		if w := c.When.AVP; w != nil {
			p, err := w.Target()
			if err != nil {
				return nil, fmt.Errorf("policy: %s.when.avp.%w", f, err)
			}
			r.cond = &avpCond{path: compilePath(p), absent: w.Absent, label: avpLabel(w.Code, w.Vendor, w.Path)}
			if w.Value != "" || w.Type != "" {
				v, err := p.EncodeValue(w.Type, w.Value)
				if err != nil {
					return nil, fmt.Errorf("policy: %s.when.avp: %w", f, err)
				}
				r.cond.value, r.cond.hasValue = v, true
				r.cond.label += " = " + w.Value
			}
		}
		if len(c.Actions) == 0 {
			return nil, fmt.Errorf("policy: %s: no actions", f)
		}
		for j, a := range c.Actions {
			p, err := a.Target()
			if err != nil {
				return nil, fmt.Errorf("policy: %s.actions[%d].%w", f, j, err)
			}
			act := avpAct{path: compilePath(p), label: a.Action + " " + avpLabel(a.Code, a.Vendor, a.Path)}
			if a.Mandatory == nil || *a.Mandatory {
				act.flags = wire.AVPFlagMandatory
			}
			switch a.Action {
			case "add":
				act.kind = actAdd
			case "remove":
				act.kind = actRemove
			case "replace":
				act.kind = actReplace
			default:
				return nil, fmt.Errorf("policy: %s.actions[%d].action: %q is not one of add, remove, replace", f, j, a.Action)
			}
			if act.kind != actRemove {
				v, err := p.EncodeValue(a.Type, a.Value)
				if err != nil {
					return nil, fmt.Errorf("policy: %s.actions[%d]: %w", f, j, err)
				}
				act.data = v
				act.label += " = " + a.Value
			}
			r.acts = append(r.acts, act)
		}
		out = append(out, r)
	}
	return out, nil
}

func avpLabel(code, vendor uint32, path string) string {
	switch {
	case path != "":
		return path
	case vendor != 0:
		return fmt.Sprintf("%d@%d", code, vendor)
	}
	return fmt.Sprint(code)
}

// msgView is what AVP rules and topology hiding know about a message:
// its direction, the request's path and the request's Destination-Realm.
type msgView struct {
	request         bool
	ingress, egress string // peer identities; "" when there is none
	destRealm       []byte // the request's Destination-Realm
}

// miss is the first condition of a rule that a message fails (hit: none).
type miss uint8

const (
	hit miss = iota
	missDirection
	missApplication
	missCommand
	missIngress
	missEgress
	missDestRealm
	missOriginRealm
	missAVP
)

func (r *avpRule) matches(m wire.Msg, v *msgView) bool { return r.check(m, v) == hit }

// check returns the first condition of r that m in view v fails.
func (r *avpRule) check(m wire.Msg, v *msgView) miss {
	if v.request && !r.onReq || !v.request && !r.onAns {
		return missDirection
	}
	if !r.apps.allows(m.AppID()) {
		return missApplication
	}
	if !r.cmds.allows(m.Code()) {
		return missCommand
	}
	if len(r.ingress) > 0 && !r.ingress.matchString(v.ingress) {
		return missIngress
	}
	if len(r.egress) > 0 && !r.egress.matchString(v.egress) {
		return missEgress
	}
	if len(r.dest) > 0 && !r.dest.match(v.destRealm) {
		return missDestRealm
	}
	if len(r.origin) > 0 {
		a, ok := m.Find(wire.AVPOriginRealm, 0)
		if !ok || !r.origin.match(a.Data) {
			return missOriginRealm
		}
	}
	if c := r.cond; c != nil && c.present(m) == c.absent {
		return missAVP
	}
	return hit
}

// applyAVPRules runs every matching rule on m, which must own its buffer,
// and returns the resulting message. trace, when not nil, receives what
// every rule did (dry runs).
func applyAVPRules(rules []avpRule, m wire.Msg, v *msgView, trace *[]RuleResult) wire.Msg {
	for i := range rules {
		r := &rules[i]
		why := r.check(m, v)
		if trace != nil {
			*trace = append(*trace, RuleResult{Name: r.name, Matched: why == hit, Why: r.explain(why, m, v)})
		}
		if why != hit {
			continue
		}
		for j := range r.acts {
			var n int
			m, n = r.acts[j].apply(m)
			if trace != nil {
				res := &(*trace)[len(*trace)-1]
				res.Actions = append(res.Actions, ActionResult{Action: r.acts[j].label, Count: n})
			}
		}
	}
	return m
}

// apply runs the action on m and returns the resulting message and the
// number of AVPs removed, replaced or added.
func (act *avpAct) apply(m wire.Msg) (wire.Msg, int) {
	if act.kind == actAdd && len(act.path) == 1 {
		leaf := &act.path[0]
		return m.AppendAVP(leaf.code, act.flags, leaf.vendor, act.data), 1
	}
	return editPath(m, act)
}
