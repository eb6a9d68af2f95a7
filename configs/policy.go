package configs

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
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
}

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

// AVPValue names a top-level AVP and, optionally, its value.
type AVPValue struct {
	Code   uint32 `mapstructure:"code"`
	Vendor uint32 `mapstructure:"vendor"`
	// Type encodes Value: string (UTF8String, OctetString,
	// DiameterIdentity; the default), hex, unsigned32, unsigned64,
	// integer32, integer64, address.
	Type  string `mapstructure:"type"`
	Value string `mapstructure:"value"`
	// Absent inverts a condition: the AVP must not be present.
	Absent bool `mapstructure:"absent"`
}

// AVPAction is add, remove or replace of a top-level AVP (by code and
// vendor). replace rewrites every occurrence's value (and adds none);
// remove drops every occurrence; add appends one.
type AVPAction struct {
	Action string `mapstructure:"action"`
	Code   uint32 `mapstructure:"code"`
	Vendor uint32 `mapstructure:"vendor"`
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

// Validate checks the policy section; every error names its field. It
// wraps ErrInvalid.
func (p *Policy) Validate() error {
	var v validator
	a := p.PeerACL
	v.cidrs("policy.peer_acl.allow_addresses", a.AllowAddresses)
	v.cidrs("policy.peer_acl.deny_addresses", a.DenyAddresses)
	for f, l := range map[string][]string{
		"allow_hosts": a.AllowHosts, "deny_hosts": a.DenyHosts, "allow_realms": a.AllowRealms, "deny_realms": a.DenyRealms,
	} {
		v.patterns("policy.peer_acl."+f, l)
	}
	if a.ResultCode != 0 && (a.ResultCode < 3000 || a.ResultCode >= 6000 || a.ResultCode/1000 == 4) {
		v.add("policy.peer_acl.result_code", "%d is not a 3xxx or 5xxx Result-Code", a.ResultCode)
	}
	for i, r := range p.RouteACL {
		f := fmt.Sprintf("policy.route_acl[%d]", i)
		if r.Route != "" {
			v.patterns(f+".route", []string{r.Route})
		}
		for n, l := range map[string][]string{
			"allow_origin_hosts": r.AllowOriginHosts, "allow_origin_realms": r.AllowOriginRealms, "allow_ingress_peers": r.AllowIngressPeers,
			"deny_origin_hosts": r.DenyOriginHosts, "deny_origin_realms": r.DenyOriginRealms, "deny_ingress_peers": r.DenyIngressPeers,
		} {
			v.patterns(f+"."+n, l)
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
		for n, l := range map[string][]string{
			"ingress_peers": w.IngressPeers, "egress_peers": w.EgressPeers, "origin_realms": w.OriginRealms, "destination_realms": w.DestinationRealms,
		} {
			v.patterns(f+".when."+n, l)
		}
		if w.AVP != nil {
			if w.AVP.Code == 0 {
				v.add(f+".when.avp.code", "must be set")
			}
			if w.AVP.Value != "" || w.AVP.Type != "" {
				if _, err := EncodeAVPValue(w.AVP.Type, w.AVP.Value); err != nil {
					v.add(f+".when.avp.value", "%v", err)
				}
			}
		}
		if len(r.Actions) == 0 {
			v.add(f+".actions", "must list at least one action")
		}
		for j, act := range r.Actions {
			g := fmt.Sprintf("%s.actions[%d]", f, j)
			if act.Code == 0 {
				v.add(g+".code", "must be set")
			}
			switch act.Action {
			case "remove":
			case "add", "replace":
				if _, err := EncodeAVPValue(act.Type, act.Value); err != nil {
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
	case "unsigned32", "unsigned64", "integer32", "integer64":
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
	return nil, fmt.Errorf("type %q is not one of string, hex, unsigned32, unsigned64, integer32, integer64, address", typ)
}
