package realm

import (
	"fmt"
	"time"
)

// Action is what the agent does with a request that matches a route (RFC
// 6733 §2.7 Local Action).
type Action uint8

// Route actions.
const (
	Local Action = iota + 1
	Relay
	Proxy
	Redirect
)

func (a Action) String() string {
	switch a {
	case Local:
		return "local"
	case Relay:
		return "relay"
	case Proxy:
		return "proxy"
	case Redirect:
		return "redirect"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// ParseAction reads an action name.
func ParseAction(s string) (Action, error) {
	for _, a := range []Action{Local, Relay, Proxy, Redirect} {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("realm: unknown action %q (local, relay, proxy, redirect)", s)
}

// Redirect-Host-Usage values (RFC 6733 §6.13).
const (
	UsageDontCache             uint32 = 0
	UsageAllSession            uint32 = 1
	UsageAllRealm              uint32 = 2
	UsageRealmAndApplication   uint32 = 3
	UsageAllApplication        uint32 = 4
	UsageAllHost               uint32 = 5
	UsageAllUser               uint32 = 6
	maxRedirectHostUsage       uint32 = UsageAllUser
	defaultRedirectMaxCacheSec uint32 = 3600
)

// Route is one entry of the routing table.
type Route struct {
	// Realm is an exact realm ("example.net"), a suffix pattern
	// ("*.example.net" matches any realm under example.net, not
	// example.net itself) or "*" for the default route.
	Realm string
	// AppID is the application the route serves; AnyApp matches all.
	AppID  uint32
	AnyApp bool
	// Commands, when non-empty, narrows the route to these command codes.
	Commands []uint32
	// OriginRealm and OriginHost, when set, narrow the route to requests
	// from that origin.
	OriginRealm string
	OriginHost  string

	Action Action
	// Peers are the next hops for relay and proxy, in priority groups.
	Peers []PeerRef
	// Timeout is Tx: how long a forwarded request waits for its answer
	// before it is failed over. Zero means the router's default.
	Timeout time.Duration
	// Retries is how many alternate peers a request may be resent to
	// (failover, 3004 TOO_BUSY). Negative means the router's default.
	Retries int
	// Sticky keeps the requests of one Session-Id on one peer while it is
	// up (weighted rendezvous hashing over the eligible peers).
	Sticky bool
	// SharedBinding binds each Session-Id to the peer its first request
	// went to, in the state store (Redis: for every agent), for
	// BindingTTL refreshed on use; later requests follow the binding
	// while that peer is usable, and are bound again otherwise. Relay and
	// proxy routes only.
	SharedBinding bool
	BindingTTL    time.Duration

	// Redirect answers (action redirect).
	RedirectHosts    []string // DiameterURIs, e.g. "aaa://hss1.example.net:3868;transport=tcp"
	RedirectUsage    uint32
	RedirectMaxCache time.Duration

	// Name identifies the route in logs and metrics; default: its index.
	Name string

	// groups is Peers arranged by priority, filled by Build.
	groups []Group
	order  int
}

// DefaultBindingTTL is a shared binding's lifetime without use.
const DefaultBindingTTL = time.Hour

// PeerRef is one next hop of a route.
type PeerRef struct {
	Host     string // Diameter identity of a peer
	Priority int    // lower first; the next priority is used only when no peer of this one is eligible
	Weight   int    // share of the load within a priority
}

// Group is the peers of one priority.
type Group struct {
	Priority int
	Peers    []PeerRef
	// TotalWeight is the sum of the peers' weights.
	TotalWeight int
}

// Groups returns the route's peers by ascending priority.
func (r *Route) Groups() []Group { return r.groups }

// MatchesApp reports whether the route serves application id.
func (r *Route) MatchesApp(id uint32) bool { return r.AnyApp || r.AppID == id }
