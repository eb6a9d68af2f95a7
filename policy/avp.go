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

type avpCond struct {
	code, vendor uint32
	value        []byte
	hasValue     bool
	absent       bool
}

type actKind uint8

const (
	actAdd actKind = iota
	actRemove
	actReplace
)

type avpAct struct {
	kind         actKind
	code, vendor uint32
	flags        uint8
	data         []byte
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
			r.cond = &avpCond{code: w.Code, vendor: w.Vendor, absent: w.Absent}
			if w.Value != "" || w.Type != "" {
				v, err := configs.EncodeAVPValue(w.Type, w.Value)
				if err != nil {
					return nil, fmt.Errorf("policy: %s.when.avp: %w", f, err)
				}
				r.cond.value, r.cond.hasValue = v, true
			}
		}
		if len(c.Actions) == 0 {
			return nil, fmt.Errorf("policy: %s: no actions", f)
		}
		for j, a := range c.Actions {
			act := avpAct{code: a.Code, vendor: a.Vendor}
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
				v, err := configs.EncodeAVPValue(a.Type, a.Value)
				if err != nil {
					return nil, fmt.Errorf("policy: %s.actions[%d]: %w", f, j, err)
				}
				act.data = v
			}
			r.acts = append(r.acts, act)
		}
		out = append(out, r)
	}
	return out, nil
}

// msgView is what AVP rules and topology hiding know about a message:
// its direction, the request's path and the request's Destination-Realm.
type msgView struct {
	request         bool
	ingress, egress string // peer identities; "" when there is none
	destRealm       []byte // the request's Destination-Realm
}

func (r *avpRule) matches(m wire.Msg, v *msgView) bool {
	if v.request && !r.onReq || !v.request && !r.onAns {
		return false
	}
	if !r.apps.allows(m.AppID()) || !r.cmds.allows(m.Code()) {
		return false
	}
	if len(r.ingress) > 0 && !r.ingress.matchString(v.ingress) {
		return false
	}
	if len(r.egress) > 0 && !r.egress.matchString(v.egress) {
		return false
	}
	if len(r.dest) > 0 && !r.dest.match(v.destRealm) {
		return false
	}
	if len(r.origin) > 0 {
		a, ok := m.Find(wire.AVPOriginRealm, 0)
		if !ok || !r.origin.match(a.Data) {
			return false
		}
	}
	if c := r.cond; c != nil {
		found := false
		it := m.AVPs()
		for it.Next() {
			a := it.AVP()
			if a.Code == c.code && a.VendorID == c.vendor && (!c.hasValue || bytes.Equal(a.Data, c.value)) {
				found = true
				break
			}
		}
		if found == c.absent {
			return false
		}
	}
	return true
}

// applyAVPRules runs every matching rule on m, which must own its buffer,
// and returns the resulting message. matched, when not nil, receives the
// names of the rules that ran.
func applyAVPRules(rules []avpRule, m wire.Msg, v *msgView, matched *[]string) wire.Msg {
	for i := range rules {
		r := &rules[i]
		if !r.matches(m, v) {
			continue
		}
		if matched != nil {
			*matched = append(*matched, r.name)
		}
		for j := range r.acts {
			m = r.acts[j].apply(m)
		}
	}
	return m
}

func (act *avpAct) apply(m wire.Msg) wire.Msg {
	switch act.kind {
	case actAdd:
		return m.AppendAVP(act.code, act.flags, act.vendor, act.data)
	case actRemove:
		return editMsg(m, func(a wire.AVP) (bool, []byte, bool) {
			return !is(a, act.code, act.vendor), nil, false
		})
	default:
		return editMsg(m, func(a wire.AVP) (bool, []byte, bool) {
			if is(a, act.code, act.vendor) {
				return true, act.data, true
			}
			return true, nil, false
		})
	}
}
