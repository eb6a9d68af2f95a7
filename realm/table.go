package realm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Table is an immutable routing table. Lookups are safe for concurrent use
// and do not allocate.
type Table struct {
	exact  map[string][]*Route // lower-case realm
	suffix map[string][]*Route // "example.net" for the pattern "*.example.net"
	def    []*Route            // "*"
	routes []*Route
}

// ErrInvalid is wrapped by every Build error.
var ErrInvalid = errors.New("realm: invalid routing table")

// Build validates routes and arranges them for lookup. The routes are
// copied: later changes to the argument do not affect the table.
func Build(routes []Route) (*Table, error) {
	t := &Table{exact: map[string][]*Route{}, suffix: map[string][]*Route{}}
	var errs []error
	bad := func(i int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: routes[%d]: %s", ErrInvalid, i, fmt.Sprintf(format, args...)))
	}
	seen := map[string]int{}
	for i := range routes {
		r := routes[i] // copy
		r.order = i
		r.Realm = strings.ToLower(strings.TrimSpace(r.Realm))
		r.OriginRealm = strings.ToLower(r.OriginRealm)
		r.OriginHost = strings.ToLower(r.OriginHost)
		r.Commands = slices.Clone(r.Commands)
		slices.Sort(r.Commands)
		r.Peers = slices.Clone(r.Peers)
		r.RedirectHosts = slices.Clone(r.RedirectHosts)
		if r.Name == "" {
			r.Name = fmt.Sprintf("route%d", i)
		}
		if err := checkPattern(r.Realm); err != nil {
			bad(i, "realm: %v", err)
			continue
		}
		if r.SharedBinding && r.Action != Relay && r.Action != Proxy {
			bad(i, "shared_binding needs action relay or proxy, not %s", r.Action)
		}
		switch {
		case r.BindingTTL < 0 || (r.BindingTTL > 0 && r.BindingTTL < time.Second):
			bad(i, "binding_ttl %s is below 1s", r.BindingTTL)
		case r.BindingTTL == 0:
			r.BindingTTL = DefaultBindingTTL
		}
		switch r.Action {
		case Relay, Proxy:
			if len(r.Peers) == 0 {
				bad(i, "action %s needs at least one peer", r.Action)
			}
		case Redirect:
			if len(r.RedirectHosts) == 0 {
				bad(i, "action redirect needs redirect hosts")
			}
			if r.RedirectUsage > maxRedirectHostUsage {
				bad(i, "redirect usage %d is not an RFC 6733 Redirect-Host-Usage", r.RedirectUsage)
			}
			if r.RedirectMaxCache == 0 {
				r.RedirectMaxCache = time.Duration(defaultRedirectMaxCacheSec) * time.Second
			}
		case Local:
		default:
			bad(i, "missing or unknown action")
		}
		if r.Action != Relay && r.Action != Proxy && len(r.Peers) > 0 {
			bad(i, "peers are only used by relay and proxy routes")
		}
		hosts := map[string]bool{}
		for j := range r.Peers {
			p := &r.Peers[j]
			p.Host = strings.ToLower(strings.TrimSpace(p.Host))
			if p.Host == "" {
				bad(i, "peers[%d]: empty host", j)
			}
			if hosts[strings.ToLower(p.Host)] {
				bad(i, "peers[%d]: %s listed twice", j, p.Host)
			}
			hosts[strings.ToLower(p.Host)] = true
			if p.Weight < 0 {
				bad(i, "peers[%d]: negative weight", j)
			}
			if p.Weight == 0 {
				p.Weight = 1
			}
		}
		if r.Timeout < 0 {
			bad(i, "negative timeout")
		}
		key := routeKey(&r)
		if j, dup := seen[key]; dup {
			bad(i, "matches exactly the same requests as routes[%d]", j)
		}
		seen[key] = i
		r.groups = groups(r.Peers)
		rp := &r
		t.routes = append(t.routes, rp)
		switch {
		case r.Realm == "*":
			t.def = append(t.def, rp)
		case strings.HasPrefix(r.Realm, "*."):
			t.suffix[r.Realm[2:]] = append(t.suffix[r.Realm[2:]], rp)
		default:
			t.exact[r.Realm] = append(t.exact[r.Realm], rp)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, m := range []map[string][]*Route{t.exact, t.suffix} {
		for _, rs := range m {
			sortSpecific(rs)
		}
	}
	sortSpecific(t.def)
	return t, nil
}

// Routes returns the table's routes in configuration order.
func (t *Table) Routes() []*Route { return t.routes }

// Len is the number of routes.
func (t *Table) Len() int { return len(t.routes) }

// Result says how a lookup ended.
type Result uint8

// Lookup results.
const (
	// Found: a route matches.
	Found Result = iota
	// NoRealm: no route serves the realm (3003 DIAMETER_REALM_NOT_SERVED).
	NoRealm
	// NoApp: routes serve the realm, but not this application or command
	// (3007 DIAMETER_APPLICATION_UNSUPPORTED).
	NoApp
)

// Query is what a lookup matches on. Byte slices point into the request.
type Query struct {
	Realm       []byte
	AppID       uint32
	Command     uint32
	OriginHost  []byte
	OriginRealm []byte
}

// Lookup finds the most specific route for q: exact realm, then the
// longest matching suffix pattern, then the default route; within a realm
// routes narrowed by origin, application and command win over broader ones.
func (t *Table) Lookup(q *Query) (*Route, Result) {
	var buf [256]byte
	if len(q.Realm) > len(buf) {
		return nil, NoRealm
	}
	realm := buf[:len(q.Realm)]
	for i, c := range q.Realm {
		realm[i] = lowerASCII(c)
	}
	res := NoRealm
	if rs, ok := t.exact[string(realm)]; ok {
		if r := match(rs, q); r != nil {
			return r, Found
		}
		res = NoApp
	}
	for i := 0; i < len(realm); i++ {
		if realm[i] != '.' {
			continue
		}
		if rs, ok := t.suffix[string(realm[i+1:])]; ok {
			if r := match(rs, q); r != nil {
				return r, Found
			}
			res = NoApp
		}
	}
	if r := match(t.def, q); r != nil {
		return r, Found
	}
	if len(t.def) > 0 {
		res = NoApp
	}
	return nil, res
}

func match(rs []*Route, q *Query) *Route {
	for _, r := range rs {
		if !r.AnyApp && r.AppID != q.AppID {
			continue
		}
		if len(r.Commands) > 0 {
			if _, ok := slices.BinarySearch(r.Commands, q.Command); !ok {
				continue
			}
		}
		if r.OriginHost != "" && !bytes.EqualFold(q.OriginHost, []byte(r.OriginHost)) {
			continue
		}
		if r.OriginRealm != "" && !bytes.EqualFold(q.OriginRealm, []byte(r.OriginRealm)) {
			continue
		}
		return r
	}
	return nil
}

// sortSpecific orders routes of one realm key most specific first, then in
// configuration order.
func sortSpecific(rs []*Route) {
	slices.SortStableFunc(rs, func(a, b *Route) int {
		if d := specificity(b) - specificity(a); d != 0 {
			return d
		}
		return a.order - b.order
	})
}

func specificity(r *Route) int {
	s := 0
	if r.OriginHost != "" {
		s += 8
	}
	if r.OriginRealm != "" {
		s += 4
	}
	if !r.AnyApp {
		s += 2
	}
	if len(r.Commands) > 0 {
		s++
	}
	return s
}

func routeKey(r *Route) string {
	app := fmt.Sprint(r.AppID)
	if r.AnyApp {
		app = "*"
	}
	return fmt.Sprintf("%s|%s|%v|%s|%s", r.Realm, app, r.Commands, r.OriginHost, r.OriginRealm)
}

func groups(peers []PeerRef) []Group {
	ps := slices.Clone(peers)
	slices.SortStableFunc(ps, func(a, b PeerRef) int { return a.Priority - b.Priority })
	var gs []Group
	for _, p := range ps {
		if len(gs) == 0 || gs[len(gs)-1].Priority != p.Priority {
			gs = append(gs, Group{Priority: p.Priority})
		}
		g := &gs[len(gs)-1]
		g.Peers = append(g.Peers, p)
		g.TotalWeight += p.Weight
	}
	return gs
}

// checkPattern validates a realm or realm pattern.
func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty")
	}
	if p == "*" {
		return nil
	}
	name := strings.TrimPrefix(p, "*.")
	if strings.Contains(name, "*") {
		return fmt.Errorf("%q: only a leading \"*.\" or a lone \"*\" is allowed", p)
	}
	if len(name) > 255 {
		return fmt.Errorf("%q: longer than 255 octets", p)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q: empty or over-long label", p)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q: character %q", p, c)
			}
		}
	}
	return nil
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
