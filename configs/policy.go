package configs

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/dict"
	"github.com/spf13/viper"
)

// Policy is the policy section: who may connect, who may use which route,
// how fast, how many requests may wait on one peer, AVP rewriting,
// topology hiding and DOIC overload control. Every part is off when empty.
type Policy struct {
	// PeerACL admits or refuses inbound connections by source address (at
	// accept) and by the identity announced in the CER.
	PeerACL PeerACL `mapstructure:"peer_acl"`
	// RouteACL restricts which origins may use a route; first matching
	// rule wins, requests matching no rule are admitted.
	RouteACL []RouteACL `mapstructure:"route_acl"`
	// RateLimits are token buckets; a request must pass every rule it
	// matches or it is answered 3004 DIAMETER_TOO_BUSY.
	RateLimits []RateLimit `mapstructure:"rate_limits"`
	// MaxPending caps the requests waiting for an answer on one egress
	// peer; a peer at its cap is skipped when choosing the next hop.
	// 0: no cap.
	MaxPending int `mapstructure:"max_pending"`
	// PendingCaps override MaxPending for the peers they name (first
	// match wins).
	PendingCaps []PendingCap `mapstructure:"pending_caps"`
	// AVPRules add, remove or replace AVPs in requests (as sent to the
	// next hop) and answers (as sent back), in order.
	AVPRules []AVPRule `mapstructure:"avp_rules"`
	// TopologyHiding hides internal host names from external peers.
	TopologyHiding []TopologyHiding `mapstructure:"topology_hiding"`
	// DOIC makes the agent an RFC 7683 reacting node.
	DOIC DOIC `mapstructure:"doic"`
}

// PeerACL screens inbound peers. Patterns are exact names or "*.example.net"
// (any name under example.net) or "*"; addresses are CIDR prefixes or
// single IPv4/IPv6 addresses. A deny match refuses; a non-empty allow list
// must match.
type PeerACL struct {
	AllowAddresses []string `mapstructure:"allow_addresses"`
	DenyAddresses  []string `mapstructure:"deny_addresses"`
	AllowHosts     []string `mapstructure:"allow_hosts"`
	DenyHosts      []string `mapstructure:"deny_hosts"`
	AllowRealms    []string `mapstructure:"allow_realms"`
	DenyRealms     []string `mapstructure:"deny_realms"`
	// ResultCode answers a refused CER (default 3010
	// DIAMETER_UNKNOWN_PEER).
	ResultCode uint32 `mapstructure:"result_code"`
}

// RouteACL is one per-route admission rule.
type RouteACL struct {
	// Route is a route name pattern ("*" or empty: every route).
	Route string `mapstructure:"route"`
	// Allow lists: when set, the request must match each of them.
	AllowOriginHosts  []string `mapstructure:"allow_origin_hosts"`
	AllowOriginRealms []string `mapstructure:"allow_origin_realms"`
	AllowIngressPeers []string `mapstructure:"allow_ingress_peers"`
	// Deny lists: a match refuses.
	DenyOriginHosts  []string `mapstructure:"deny_origin_hosts"`
	DenyOriginRealms []string `mapstructure:"deny_origin_realms"`
	DenyIngressPeers []string `mapstructure:"deny_ingress_peers"`
	// ResultCode answers a refused request (default 5003
	// DIAMETER_AUTHORIZATION_REJECTED); 3xxx codes set the E bit.
	ResultCode uint32 `mapstructure:"result_code"`
}

// RateLimit is one token-bucket rule.
type RateLimit struct {
	Name string `mapstructure:"name"`
	// Per is what one bucket counts: peer (each ingress peer), application
	// (each Application-Id) or peer_application (each pair).
	Per string `mapstructure:"per"`
	// Peers and Applications narrow the rule (empty: any).
	Peers        []string `mapstructure:"peers"`
	Applications []uint32 `mapstructure:"applications"`
	// Rate is the sustained rate in requests per second; Burst the number
	// of requests accepted at once.
	Rate  float64 `mapstructure:"rate"`
	Burst int     `mapstructure:"burst"`
	// OnUnavailable is what the rule does when its buckets are shared
	// (state.backend redis) and Redis cannot be reached: local (the
	// default) limits each agent with its own bucket of the same rate and
	// burst, allow admits every request, refuse answers 3004. Unused with
	// the embedded backend.
	OnUnavailable string `mapstructure:"on_unavailable"`
}

// Values of RateLimit.OnUnavailable.
const (
	OnUnavailableLocal  = "local"
	OnUnavailableAllow  = "allow"
	OnUnavailableRefuse = "refuse"
)

// PendingCap is a pending-request cap for the egress peers it names.
type PendingCap struct {
	Peers []string `mapstructure:"peers"`
	Max   int      `mapstructure:"max"`
}

// AVPRule is one AVP manipulation rule: when its conditions hold, its
// actions run in order.
type AVPRule struct {
	Name string `mapstructure:"name"`
	// Direction: request (default), answer or both.
	Direction string       `mapstructure:"direction"`
	When      AVPCondition `mapstructure:"when"`
	Actions   []AVPAction  `mapstructure:"actions"`
}

// AVPCondition selects messages; every field set must match. Ingress is
// the peer the request came from (the answer goes back to), egress the
// peer the request is sent to (the answer came from).
type AVPCondition struct {
	IngressPeers      []string  `mapstructure:"ingress_peers"`
	EgressPeers       []string  `mapstructure:"egress_peers"`
	OriginRealms      []string  `mapstructure:"origin_realms"`
	DestinationRealms []string  `mapstructure:"destination_realms"`
	Applications      []uint32  `mapstructure:"applications"`
	Commands          []uint32  `mapstructure:"commands"`
	AVP               *AVPValue `mapstructure:"avp"`
}

// AVPValue names an AVP and, optionally, its value: a top-level AVP by
// Code and Vendor, or any AVP by Path (see ParseAVPPath), not both. The
// condition holds when one occurrence matches.
type AVPValue struct {
	Code   uint32 `mapstructure:"code"`
	Vendor uint32 `mapstructure:"vendor"`
	Path   string `mapstructure:"path"`
	// Type encodes Value: string (UTF8String, OctetString,
	// DiameterIdentity), hex, unsigned32, unsigned64, integer32,
	// integer64, enumerated (a number, or an item name of the AVP's
	// dictionary entry), address. Empty: string for an AVP given by code,
	// the dictionary's type for an AVP given by path.
	Type  string `mapstructure:"type"`
	Value string `mapstructure:"value"`
	// Absent inverts a condition: the AVP must not be present.
	Absent bool `mapstructure:"absent"`
}

// AVPAction is add, remove or replace of an AVP: a top-level one by Code
// and Vendor, or one at any depth by Path (not both). replace rewrites
// every occurrence's value, keeping its flags (and adds none); remove
// drops every occurrence; add appends one at the top level, or one inside
// every occurrence of the path's parent (none when the parent is absent).
// Every enclosing Grouped AVP and the message header get their new
// lengths.
type AVPAction struct {
	Action string `mapstructure:"action"`
	Code   uint32 `mapstructure:"code"`
	Vendor uint32 `mapstructure:"vendor"`
	Path   string `mapstructure:"path"`
	// Mandatory sets the M bit on added AVPs (default true).
	Mandatory *bool  `mapstructure:"mandatory"`
	Type      string `mapstructure:"type"`
	Value     string `mapstructure:"value"`
}

// TopologyHiding hides internal hosts from external peers.
type TopologyHiding struct {
	Name string `mapstructure:"name"`
	// Peers are the external peers (identity patterns); Realms the
	// external realms (a request is external when its
	// Destination-Realm matches, a peer when its Origin-Realm does).
	Peers  []string `mapstructure:"peers"`
	Realms []string `mapstructure:"realms"`
	// InternalHosts are the host patterns to hide.
	InternalHosts []string `mapstructure:"internal_hosts"`
	// Pseudonym replaces an internal Origin-Host toward external peers.
	Pseudonym string `mapstructure:"pseudonym"`
	// OriginRealm, when set, replaces Origin-Realm too.
	OriginRealm string `mapstructure:"origin_realm"`
	// RouteRecord: strip (default) drops Route-Record entries naming
	// internal hosts; pseudonym rewrites them.
	RouteRecord string `mapstructure:"route_record"`
	// Sessions bounds the Session-Id -> internal host map used to restore
	// Destination-Host (default 100000).
	Sessions int `mapstructure:"sessions"`
}

// DOIC configures RFC 7683 overload control as a reacting node.
type DOIC struct {
	Enabled bool `mapstructure:"enabled"`
	// MaxValidity caps OC-Validity-Duration (default and RFC maximum:
	// 86400s).
	MaxValidity time.Duration `mapstructure:"max_validity"`
}

// namedList is a configuration list and its key, to validate in a fixed
// order.
type namedList struct {
	name string
	list []string
}

// Validate checks the policy section; every error names its field. It
// wraps ErrInvalid.
func (p *Policy) Validate() error {
	var v validator
	a := p.PeerACL
	v.cidrs("policy.peer_acl.allow_addresses", a.AllowAddresses)
	v.cidrs("policy.peer_acl.deny_addresses", a.DenyAddresses)
	for _, e := range []namedList{
		{"allow_hosts", a.AllowHosts}, {"deny_hosts", a.DenyHosts}, {"allow_realms", a.AllowRealms}, {"deny_realms", a.DenyRealms},
	} {
		v.patterns("policy.peer_acl."+e.name, e.list)
	}
	if a.ResultCode != 0 && (a.ResultCode < 3000 || a.ResultCode >= 6000 || a.ResultCode/1000 == 4) {
		v.add("policy.peer_acl.result_code", "%d is not a 3xxx or 5xxx Result-Code", a.ResultCode)
	}
	for i, r := range p.RouteACL {
		f := fmt.Sprintf("policy.route_acl[%d]", i)
		if r.Route != "" {
			v.patterns(f+".route", []string{r.Route})
		}
		for _, e := range []namedList{
			{"allow_origin_hosts", r.AllowOriginHosts}, {"allow_origin_realms", r.AllowOriginRealms}, {"allow_ingress_peers", r.AllowIngressPeers},
			{"deny_origin_hosts", r.DenyOriginHosts}, {"deny_origin_realms", r.DenyOriginRealms}, {"deny_ingress_peers", r.DenyIngressPeers},
		} {
			v.patterns(f+"."+e.name, e.list)
		}
		if r.ResultCode != 0 && (r.ResultCode < 3000 || r.ResultCode >= 6000) {
			v.add(f+".result_code", "%d is not a 3xxx, 4xxx or 5xxx Result-Code", r.ResultCode)
		}
	}
	for i, r := range p.RateLimits {
		f := fmt.Sprintf("policy.rate_limits[%d]", i)
		switch r.Per {
		case "peer", "application", "peer_application":
		default:
			v.add(f+".per", "%q is not one of peer, application, peer_application", r.Per)
		}
		if !(r.Rate > 0) || r.Rate > 1e9 {
			v.add(f+".rate", "%v must be positive and at most 1e9 requests per second", r.Rate)
		}
		if r.Burst < 1 || r.Burst > 1e9 {
			v.add(f+".burst", "%d is not between 1 and 1000000000", r.Burst)
		}
		switch r.OnUnavailable {
		case "", OnUnavailableLocal, OnUnavailableAllow, OnUnavailableRefuse:
		default:
			v.add(f+".on_unavailable", "%q is not one of local, allow, refuse", r.OnUnavailable)
		}
		v.patterns(f+".peers", r.Peers)
	}
	if p.MaxPending < 0 {
		v.add("policy.max_pending", "%d is negative", p.MaxPending)
	}
	for i, c := range p.PendingCaps {
		f := fmt.Sprintf("policy.pending_caps[%d]", i)
		if len(c.Peers) == 0 {
			v.add(f+".peers", "must name at least one peer pattern")
		}
		v.patterns(f+".peers", c.Peers)
		if c.Max < 1 {
			v.add(f+".max", "%d is below 1", c.Max)
		}
	}
	for i, r := range p.AVPRules {
		f := fmt.Sprintf("policy.avp_rules[%d]", i)
		switch r.Direction {
		case "", "request", "answer", "both":
		default:
			v.add(f+".direction", "%q is not one of request, answer, both", r.Direction)
		}
		w := r.When
		for _, e := range []namedList{
			{"ingress_peers", w.IngressPeers}, {"egress_peers", w.EgressPeers}, {"origin_realms", w.OriginRealms}, {"destination_realms", w.DestinationRealms},
		} {
			v.patterns(f+".when."+e.name, e.list)
		}
		if w.AVP != nil {
			path := v.avpTarget(f+".when.avp", w.AVP.Code, w.AVP.Vendor, w.AVP.Path, false)
			if path != nil && (w.AVP.Value != "" || w.AVP.Type != "") {
				if _, err := path.EncodeValue(w.AVP.Type, w.AVP.Value); err != nil {
					v.add(f+".when.avp.value", "%v", err)
				}
			}
		}
		if len(r.Actions) == 0 {
			v.add(f+".actions", "must list at least one action")
		}
		for j, act := range r.Actions {
			g := fmt.Sprintf("%s.actions[%d]", f, j)
			path := v.avpTarget(g, act.Code, act.Vendor, act.Path, act.Action == "add")
			switch act.Action {
			case "remove":
			case "add", "replace":
				if path == nil {
					break
				}
				if _, err := path.EncodeValue(act.Type, act.Value); err != nil {
					v.add(g+".value", "%v", err)
				}
			default:
				v.add(g+".action", "%q is not one of add, remove, replace", act.Action)
			}
			if act.Action == "remove" && act.Value != "" {
				v.add(g+".value", "remove takes no value")
			}
		}
	}
	for i, t := range p.TopologyHiding {
		f := fmt.Sprintf("policy.topology_hiding[%d]", i)
		if len(t.Peers) == 0 && len(t.Realms) == 0 {
			v.add(f, "names no external peer or realm")
		}
		v.patterns(f+".peers", t.Peers)
		v.patterns(f+".realms", t.Realms)
		if len(t.InternalHosts) == 0 {
			v.add(f+".internal_hosts", "must list the host patterns to hide")
		}
		v.patterns(f+".internal_hosts", t.InternalHosts)
		v.identity(f+".pseudonym", t.Pseudonym)
		if t.OriginRealm != "" {
			v.identity(f+".origin_realm", t.OriginRealm)
		}
		switch t.RouteRecord {
		case "", "strip", "pseudonym":
		default:
			v.add(f+".route_record", "%q is not one of strip, pseudonym", t.RouteRecord)
		}
		if t.Sessions < 0 {
			v.add(f+".sessions", "%d is negative", t.Sessions)
		}
	}
	if d := p.DOIC.MaxValidity; d < 0 || d > 86400*time.Second {
		v.add("policy.doic.max_validity", "%s is not between 0 and 86400s", d)
	}
	return v.err()
}

// patterns checks host/realm patterns: an exact name, "*.suffix" or "*".
func (v *validator) patterns(field string, ps []string) {
	for i, p := range ps {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case p == "*":
		case strings.HasPrefix(p, "*."):
			v.identity(f, p[2:])
		case strings.Contains(p, "*"):
			v.add(f, "%q: '*' is allowed only alone or as a leading \"*.\" label", p)
		default:
			v.identity(f, p)
		}
	}
}

func (v *validator) cidrs(field string, l []string) {
	for i, s := range l {
		if _, err := ParsePrefix(s); err != nil {
			v.add(fmt.Sprintf("%s[%d]", field, i), "%v", err)
		}
	}
}

// ParsePrefix parses a CIDR prefix or a single address (a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not a CIDR prefix: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// EncodeAVPValue encodes a configured AVP value as AVP data for its type:
// string (the default), hex, unsigned32, unsigned64, integer32, integer64
// or address (RFC 6733 Address: family then octets).
func EncodeAVPValue(typ, val string) ([]byte, error) {
	switch typ {
	case "", "string":
		return []byte(val), nil
	case "hex":
		b, err := hex.DecodeString(strings.ReplaceAll(val, " ", ""))
		if err != nil {
			return nil, fmt.Errorf("%q is not hex: %w", val, err)
		}
		return b, nil
	case "unsigned32", "unsigned64", "integer32", "integer64", "enumerated":
		if typ == "enumerated" {
			typ = "integer32"
		}
		bits := 32
		if strings.HasSuffix(typ, "64") {
			bits = 64
		}
		var u uint64
		if strings.HasPrefix(typ, "unsigned") {
			x, err := strconv.ParseUint(val, 0, bits)
			if err != nil {
				return nil, fmt.Errorf("%q is not an %s: %w", val, typ, err)
			}
			u = x
		} else {
			x, err := strconv.ParseInt(val, 0, bits)
			if err != nil {
				return nil, fmt.Errorf("%q is not an %s: %w", val, typ, err)
			}
			u = uint64(x)
		}
		b := make([]byte, bits/8)
		for i := range b {
			b[len(b)-1-i] = byte(u >> (8 * i))
		}
		return b, nil
	case "address":
		a, err := netip.ParseAddr(val)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address: %w", val, err)
		}
		a = a.Unmap()
		if a.Is4() {
			b := a.As4()
			return append([]byte{0, 1}, b[:]...), nil
		}
		b := a.As16()
		return append([]byte{0, 2}, b[:]...), nil
	}
	return nil, fmt.Errorf("type %q is not one of string, hex, unsigned32, unsigned64, integer32, integer64, enumerated, address", typ)
}

// MaxAVPPathDepth bounds the steps of an AVP path.
const MaxAVPPathDepth = 16

// AVPPath addresses AVPs at any depth: the Grouped AVPs from the top
// level down, then the AVP itself. See ParseAVPPath.
type AVPPath []AVPStep

// AVPStep is one step of an AVP path.
type AVPStep struct {
	Code, Vendor uint32
	// Name is the dictionary's name, "" for an AVP it does not know.
	Name string
	// Type is the EncodeAVPValue type the dictionary gives the AVP's data
	// ("" when unknown; "hex" for Grouped, Float and IP address types).
	Type string
	// Filter, when set, selects only the occurrences that hold a direct
	// child AVP with a given value.
	Filter *AVPFilter
}

// AVPFilter is a step's condition on a direct child AVP.
type AVPFilter struct {
	Code, Vendor uint32
	Value        []byte
}

// Target returns the AVP the condition looks for as a path: one step for
// a top-level AVP given by code.
func (a *AVPValue) Target() (AVPPath, error) { return avpTarget(a.Code, a.Vendor, a.Path) }

// Target returns the AVP the action works on as a path: one step for a
// top-level AVP given by code.
func (a *AVPAction) Target() (AVPPath, error) {
	p, err := avpTarget(a.Code, a.Vendor, a.Path)
	if err == nil && a.Action == "add" && p[len(p)-1].Filter != nil {
		return nil, fmt.Errorf("path: %q: the AVP added takes no filter", a.Path)
	}
	return p, err
}

// avpTarget is the AVP given by code and vendor (a one-step path whose
// values are strings by default) or by path. The error names the field
// at fault: code or path.
func avpTarget(code, vendor uint32, path string) (AVPPath, error) {
	if path == "" {
		if code == 0 {
			return nil, errors.New("code: must be set (or path)")
		}
		return AVPPath{{Code: code, Vendor: vendor}}, nil
	}
	if code != 0 || vendor != 0 {
		return nil, errors.New("path: give the AVP by code and vendor or by path, not both")
	}
	p, err := ParseAVPPath(path)
	if err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	return p, nil
}

// avpTarget checks an AVP given by code and vendor or by path and returns
// it (nil after an error, which names field.code or field.path).
func (v *validator) avpTarget(field string, code, vendor uint32, path string, add bool) AVPPath {
	a := AVPAction{Code: code, Vendor: vendor, Path: path}
	if add {
		a.Action = "add"
	}
	p, err := a.Target()
	if err != nil {
		f, msg, _ := strings.Cut(err.Error(), ": ")
		v.add(field+"."+f, "%s", msg)
		return nil
	}
	return p
}

// Last returns the step of the AVP the path addresses.
func (p AVPPath) Last() AVPStep { return p[len(p)-1] }

// EncodeValue encodes a value for the AVP the path addresses: with typ
// when set, else with the dictionary's type (string when the AVP was given
// by code or is unknown). An enumerated value may be an item name of the
// AVP's dictionary entry.
func (p AVPPath) EncodeValue(typ, val string) ([]byte, error) {
	return p.Last().encode(typ, val)
}

func (s AVPStep) encode(typ, val string) ([]byte, error) {
	if typ == "" {
		typ = s.Type
	}
	if typ == "enumerated" {
		if d, ok := LookupAVP(s.Code, s.Vendor); ok {
			if n, ok := d.EnumValue(val); ok {
				return EncodeAVPValue("integer32", strconv.Itoa(int(n)))
			}
		}
	}
	return EncodeAVPValue(typ, val)
}

// ParseAVPPath parses an AVP path: steps separated by "/", from a
// top-level AVP down, each a name from go-diameter's dictionary
// (Subscription-Id; case-insensitive), a code (443, vendor 0) or
// CODE@VENDOR (874@10415). A Grouped step may carry a filter
// [CHILD=VALUE] selecting the occurrences that hold a direct child CHILD
// (name, code or CODE@VENDOR) with that value, encoded by the child's
// dictionary type (an Enumerated by number or item name); a value holding
// "]" is written as a double-quoted Go string:
//
//	Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data
//	456[432=100]/446/421
//
// Every step but the last must be Grouped when the dictionary knows it.
func ParseAVPPath(s string) (AVPPath, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty AVP path")
	}
	var p AVPPath
	rest := s
	for {
		i := strings.IndexAny(rest, "/[")
		name := rest
		if i >= 0 {
			name, rest = rest[:i], rest[i:]
		} else {
			rest = ""
		}
		st, err := parseAVPStep(name)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		if strings.HasPrefix(rest, "[") {
			if !isGrouped(st) {
				return nil, fmt.Errorf("%q: %s is not Grouped: it has no child to filter on", s, st.label())
			}
			var f AVPFilter
			if f, rest, err = parseAVPFilter(rest[1:]); err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
			st.Filter = &f
		}
		p = append(p, st)
		if len(p) > MaxAVPPathDepth {
			return nil, fmt.Errorf("%q: more than %d steps", s, MaxAVPPathDepth)
		}
		if rest == "" {
			break
		}
		if rest[0] != '/' {
			return nil, fmt.Errorf("%q: unexpected %q after a filter", s, rest)
		}
		rest = rest[1:]
	}
	for _, st := range p[:len(p)-1] {
		if st.Name != "" && !isGrouped(st) {
			return nil, fmt.Errorf("%q: %s is not Grouped: it holds no AVP", s, st.label())
		}
	}
	return p, nil
}

// parseAVPFilter parses "CHILD=VALUE]..." and returns the rest after "]".
func parseAVPFilter(s string) (AVPFilter, string, error) {
	child, s, ok := strings.Cut(s, "=")
	if !ok || strings.Contains(child, "]") {
		return AVPFilter{}, "", errors.New("a filter is [AVP=VALUE]")
	}
	cs, err := parseAVPStep(child)
	if err != nil {
		return AVPFilter{}, "", fmt.Errorf("filter: %w", err)
	}
	var val string
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return AVPFilter{}, "", fmt.Errorf("filter value %s: %w", s, err)
		}
		val, _ = strconv.Unquote(q)
		s = s[len(q):]
		if !strings.HasPrefix(s, "]") {
			return AVPFilter{}, "", errors.New("filter: missing ] after the quoted value")
		}
	} else {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return AVPFilter{}, "", errors.New("filter: missing ]")
		}
		val, s = s[:j], s[j:]
	}
	b, err := cs.encode("", val)
	if err != nil {
		return AVPFilter{}, "", fmt.Errorf("filter %s: %w", cs.label(), err)
	}
	return AVPFilter{Code: cs.Code, Vendor: cs.Vendor, Value: b}, s[1:], nil
}

// parseAVPStep parses a name, CODE or CODE@VENDOR.
func parseAVPStep(s string) (AVPStep, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return AVPStep{}, errors.New("empty step")
	}
	if c := s[0]; c < '0' || c > '9' {
		d, ok := LookupAVPName(s)
		if !ok {
			return AVPStep{}, fmt.Errorf("%q is not an AVP name of the dictionary (give CODE or CODE@VENDOR)", s)
		}
		return d.step(), nil
	}
	cs, vs, hasVendor := strings.Cut(s, "@")
	code, err := strconv.ParseUint(cs, 10, 32)
	if err != nil || code == 0 {
		return AVPStep{}, fmt.Errorf("%q is not an AVP code (1 to 4294967295, with @VENDOR when vendor-specific)", s)
	}
	var vendor uint64
	if hasVendor {
		if vendor, err = strconv.ParseUint(vs, 10, 32); err != nil {
			return AVPStep{}, fmt.Errorf("%q: vendor %q is not a number", s, vs)
		}
	}
	if d, ok := LookupAVP(uint32(code), uint32(vendor)); ok {
		return d.step(), nil
	}
	return AVPStep{Code: uint32(code), Vendor: uint32(vendor)}, nil
}

func isGrouped(s AVPStep) bool {
	d, ok := LookupAVP(s.Code, s.Vendor)
	return !ok || d.Type == "Grouped"
}

func (s AVPStep) label() string {
	if s.Name != "" {
		return s.Name
	}
	if s.Vendor != 0 {
		return fmt.Sprintf("%d@%d", s.Code, s.Vendor)
	}
	return strconv.FormatUint(uint64(s.Code), 10)
}

// AVPDef is an AVP of go-diameter's dictionary (base, credit control, Gx,
// NASREQ, 3GPP Rf/Ro, Rx, S6a, S13, SWx).
type AVPDef struct {
	Name         string
	Code, Vendor uint32
	// Type is the dictionary's data type: Unsigned32, Grouped, ...
	Type  string
	enums []*dict.Enum
}

// EnumName returns the item name of an Enumerated value ("" if none).
func (d AVPDef) EnumName(n int32) string {
	for _, e := range d.enums {
		if e.Code == n {
			return e.Name
		}
	}
	return ""
}

// EnumValue returns the value of an Enumerated item name.
func (d AVPDef) EnumValue(name string) (int32, bool) {
	for _, e := range d.enums {
		if strings.EqualFold(e.Name, name) {
			return e.Code, true
		}
	}
	return 0, false
}

// step is the path step of d: its code, vendor, name and value type.
func (d AVPDef) step() AVPStep {
	t := "hex"
	switch d.Type {
	case "Address":
		t = "address"
	case "DiameterIdentity", "DiameterURI", "OctetString", "UTF8String", "IPFilterRule", "QoSFilterRule":
		t = "string"
	case "Enumerated":
		t = "enumerated"
	case "Integer32":
		t = "integer32"
	case "Integer64":
		t = "integer64"
	case "Unsigned32", "Time":
		t = "unsigned32"
	case "Unsigned64":
		t = "unsigned64"
	}
	return AVPStep{Code: d.Code, Vendor: d.Vendor, Name: d.Name, Type: t}
}

type avpKey struct{ code, vendor uint32 }

// avpIndex is go-diameter's dictionary by (code, vendor) and by lower-case
// name, across every application (the first definition wins).
var avpIndex = sync.OnceValue(func() (ix struct {
	byCode map[avpKey]AVPDef
	byName map[string]AVPDef
}) {
	ix.byCode, ix.byName = map[avpKey]AVPDef{}, map[string]AVPDef{}
	for _, app := range dict.Default.Apps() {
		for _, a := range app.AVP {
			d := AVPDef{Name: a.Name, Code: a.Code, Vendor: a.VendorID, Type: a.Data.TypeName, enums: a.Data.Enum}
			k := avpKey{a.Code, a.VendorID}
			if _, ok := ix.byCode[k]; !ok {
				ix.byCode[k] = d
			}
			if n := strings.ToLower(a.Name); n != "" {
				if _, ok := ix.byName[n]; !ok {
					ix.byName[n] = d
				}
			}
		}
	}
	return ix
})

// LookupAVP returns the dictionary entry of an AVP by code and vendor.
func LookupAVP(code, vendor uint32) (AVPDef, bool) {
	d, ok := avpIndex().byCode[avpKey{code, vendor}]
	return d, ok
}

// LookupAVPName returns the dictionary entry of an AVP by name, ASCII
// case-insensitively.
func LookupAVPName(name string) (AVPDef, bool) {
	d, ok := avpIndex().byName[strings.ToLower(name)]
	return d, ok
}

// MessageSpec is a Diameter message written by hand, in YAML or JSON: what
// `dra policy test` tries the AVP rules on.
//
//	command: CCR            # code, or a command of the dictionary: Credit-Control, CCR, CCA
//	application: 4
//	flags: [request, proxiable]
//	avps:
//	  - {name: Session-Id, value: "mme.example.net;1"}
//	  - name: Subscription-Id
//	    avps:
//	      - {name: Subscription-Id-Type, value: END_USER_IMSI}
//	      - {name: Subscription-Id-Data, value: "001010123456789"}
//	  - {code: 1000, vendor: 10415, type: unsigned32, value: 1}
type MessageSpec struct {
	Command     string `mapstructure:"command"`
	Application uint32 `mapstructure:"application"`
	// Flags: request, proxiable, error, retransmit. Default: request and
	// proxiable, or proxiable alone for a command written as an answer
	// (CCA).
	Flags    []string  `mapstructure:"flags"`
	HopByHop uint32    `mapstructure:"hop_by_hop"`
	EndToEnd uint32    `mapstructure:"end_to_end"`
	AVPs     []AVPSpec `mapstructure:"avps"`
}

// AVPSpec is one AVP of a MessageSpec: by dictionary name, or by code and
// vendor; a Grouped AVP lists its AVPs, any other has a value encoded as
// AVPValue.Type says (default: the dictionary's type, string when
// unknown).
type AVPSpec struct {
	Name   string `mapstructure:"name"`
	Code   uint32 `mapstructure:"code"`
	Vendor uint32 `mapstructure:"vendor"`
	Type   string `mapstructure:"type"`
	Value  string `mapstructure:"value"`
	// Mandatory sets the M bit (default true).
	Mandatory *bool     `mapstructure:"mandatory"`
	AVPs      []AVPSpec `mapstructure:"avps"`
}

// ParseMessageSpec decodes a YAML (or JSON) message description; unknown
// keys are errors.
func ParseMessageSpec(b []byte) (*MessageSpec, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("configs: message: %w", err)
	}
	var s MessageSpec
	if err := v.UnmarshalExact(&s); err != nil {
		return nil, fmt.Errorf("configs: message: %w", err)
	}
	return &s, nil
}

// Step returns the path step of the AVP the spec names (its code, vendor
// and value type), from the dictionary when it knows the AVP.
func (a *AVPSpec) Step() (AVPStep, error) {
	switch {
	case a.Name != "" && a.Code != 0:
		return AVPStep{}, errors.New("give name or code, not both")
	case a.Name != "":
		d, ok := LookupAVPName(a.Name)
		if !ok {
			return AVPStep{}, fmt.Errorf("name: %q is not an AVP of the dictionary (give code and vendor)", a.Name)
		}
		if a.Vendor != 0 && a.Vendor != d.Vendor {
			return AVPStep{}, fmt.Errorf("vendor: %s is an AVP of vendor %d", d.Name, d.Vendor)
		}
		return d.step(), nil
	case a.Code == 0:
		return AVPStep{}, errors.New("code: give name or code")
	}
	if d, ok := LookupAVP(a.Code, a.Vendor); ok {
		return d.step(), nil
	}
	return AVPStep{Code: a.Code, Vendor: a.Vendor}, nil
}

// Encode encodes the spec's value for its AVP step.
func (a *AVPSpec) Encode(s AVPStep) ([]byte, error) { return s.encode(a.Type, a.Value) }
