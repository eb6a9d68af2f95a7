package admin

import (
	"strconv"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// PeerView is one peer as the API shows it.
type PeerView struct {
	Identity      string    `json:"identity"`
	Realm         string    `json:"realm"`
	Address       string    `json:"address"`
	Role          string    `json:"role"` // initiator or responder while open
	Configured    bool      `json:"configured"`
	TLS           bool      `json:"tls"`
	State         string    `json:"state"`    // RFC 6733 §5.6 state, e.g. "I-Open"
	Watchdog      string    `json:"watchdog"` // RFC 3539 state, e.g. "OKAY"
	Applications  []uint32  `json:"applications"`
	Product       string    `json:"product"`
	OriginStateID uint32    `json:"origin_state_id"`
	Since         time.Time `json:"since,omitzero"` // RFC 3339; when the peer entered State
	LastError     string    `json:"last_error"`
	// Removed: the peer left the configuration and is draining before its
	// DPR (it disappears once its connection ends).
	Removed bool `json:"removed,omitempty"`
}

// RouteView is one entry of the routing table as the API shows it.
type RouteView struct {
	Name        string   `json:"name"`
	Realm       string   `json:"realm"`
	Application string   `json:"application"` // "*" or the decimal Application-Id
	Commands    []uint32 `json:"commands"`    // empty: every command
	OriginHost  string   `json:"origin_host"`
	OriginRealm string   `json:"origin_realm"`
	Action      string   `json:"action"` // local, relay, proxy or redirect
	// Peers are the next hops, by ascending priority.
	Peers []RoutePeerView `json:"peers"`
	// Timeout is Tx as a Go duration ("1.5s"); "" means the router's default.
	Timeout string `json:"timeout"`
	// Retries is how many alternate peers a request may be resent to; null
	// means the router's default.
	Retries  *int          `json:"retries"`
	Sticky   bool          `json:"sticky"`
	Redirect *RedirectView `json:"redirect,omitempty"` // redirect routes only
}

// RoutePeerView is one next hop of a route.
type RoutePeerView struct {
	Host     string `json:"host"`
	Priority int    `json:"priority"`
	Weight   int    `json:"weight"`
}

// RedirectView is what a redirect route answers (RFC 6733 §6.13).
type RedirectView struct {
	Hosts        []string `json:"hosts"`
	Usage        uint32   `json:"usage"`          // Redirect-Host-Usage
	MaxCacheTime uint32   `json:"max_cache_time"` // Redirect-Max-Cache-Time, seconds
}

// StatsView is the router's counters.
type StatsView struct {
	Requests       uint64 `json:"requests"`
	Forwarded      uint64 `json:"forwarded"`
	Answered       uint64 `json:"answered"`
	LocalAnswers   uint64 `json:"local_answers"`
	UnknownAnswers uint64 `json:"unknown_answers"`
	AnswersDropped uint64 `json:"answers_dropped"`
	Failovers      uint64 `json:"failovers"`
	Retransmits    uint64 `json:"retransmits"`
	Timeouts       uint64 `json:"timeouts"`
	Busy           uint64 `json:"busy"`
	Redirects      uint64 `json:"redirects"`
	Loops          uint64 `json:"loops"`
	Malformed      uint64 `json:"malformed"`
	Panics         uint64 `json:"panics"`
	Originated     uint64 `json:"originated"`
	// LocalResults counts the answers the agent produced itself by
	// Result-Code (decimal keys), the rest under "other".
	LocalResults map[string]uint64 `json:"local_results"`
	// Reloads counts the configuration reloads.
	Reloads *ReloadsView `json:"reloads,omitempty"`
	// Refusals counts requests shed and connections refused.
	Refusals *RefusalsView `json:"refusals,omitempty"`
}

// RefusalsView counts what the agent refused, by reason.
type RefusalsView struct {
	// Shed are requests answered 3004 DIAMETER_TOO_BUSY under overload:
	// ingress_backlog, egress_queue, peer_refused, local_queue.
	Shed map[string]uint64 `json:"shed"`
	// Unopened are connections peers opened that closed before the peer
	// was open: connection_limit, address_refused, tls_handshake,
	// cer_timeout, closed_before_cer, frame_error, not_cer, cer_refused.
	Unopened map[string]uint64 `json:"connections_unopened"`
}

// ReloadsView counts configuration reloads since the agent started.
type ReloadsView struct {
	OK     uint64 `json:"ok"`
	Failed uint64 `json:"failed"`
	// Last is when the last reload was attempted; LastOK whether it was
	// applied.
	Last   time.Time `json:"last,omitzero"`
	LastOK bool      `json:"last_ok"`
	// LastError is why the last refused reload was refused.
	LastError string `json:"last_error,omitempty"`
}

// localResultCodes are the Result-Codes routing.Stats counts separately.
var localResultCodes = [...]uint32{
	wire.ResultSuccess, wire.ResultCommandUnsupported, wire.ResultUnableToDeliver, wire.ResultRealmNotServed,
	wire.ResultTooBusy, wire.ResultLoopDetected, wire.ResultRedirectIndication,
	wire.ResultApplicationUnsupported, wire.ResultInvalidHdrBits, wire.ResultMissingAVP,
	wire.ResultUnableToComply, wire.ResultInvalidAVPLength,
}

func newPeerView(p *peers.PeerInfo) PeerView {
	v := PeerView{
		Identity:      p.Identity,
		Realm:         p.Realm,
		Address:       p.Addr,
		Role:          p.Role,
		Configured:    p.Configured,
		TLS:           p.TLS,
		State:         p.State.String(),
		Watchdog:      p.Watchdog.String(),
		Applications:  append([]uint32{}, p.Apps...),
		Product:       p.ProductName,
		OriginStateID: p.OriginStateID,
		Since:         p.Since,
		LastError:     p.LastError,
		Removed:       p.Removed,
	}
	return v
}

func newRouteView(r *realm.Route) RouteView {
	v := RouteView{
		Name:        r.Name,
		Realm:       r.Realm,
		Application: "*",
		Commands:    append([]uint32{}, r.Commands...),
		OriginHost:  r.OriginHost,
		OriginRealm: r.OriginRealm,
		Action:      r.Action.String(),
		Peers:       []RoutePeerView{},
		Sticky:      r.Sticky,
	}
	if !r.AnyApp {
		v.Application = strconv.FormatUint(uint64(r.AppID), 10)
	}
	if gs := r.Groups(); len(gs) > 0 {
		for _, g := range gs {
			for _, p := range g.Peers {
				v.Peers = append(v.Peers, RoutePeerView{Host: p.Host, Priority: p.Priority, Weight: p.Weight})
			}
		}
	} else {
		for _, p := range r.Peers {
			v.Peers = append(v.Peers, RoutePeerView{Host: p.Host, Priority: p.Priority, Weight: p.Weight})
		}
	}
	if r.Timeout > 0 {
		v.Timeout = r.Timeout.String()
	}
	if r.Retries >= 0 {
		n := r.Retries
		v.Retries = &n
	}
	if r.Action == realm.Redirect {
		v.Redirect = &RedirectView{
			Hosts:        append([]string{}, r.RedirectHosts...),
			Usage:        r.RedirectUsage,
			MaxCacheTime: uint32(r.RedirectMaxCache / time.Second),
		}
	}
	return v
}

func newStatsView(s *routing.Stats) StatsView {
	v := StatsView{LocalResults: map[string]uint64{}}
	if s == nil {
		return v
	}
	v.Requests = s.Requests.Load()
	v.Forwarded = s.Forwarded.Load()
	v.Answered = s.Answered.Load()
	v.LocalAnswers = s.LocalAnswers.Load()
	v.UnknownAnswers = s.UnknownAnswers.Load()
	v.AnswersDropped = s.AnswersDropped.Load()
	v.Failovers = s.Failovers.Load()
	v.Retransmits = s.Retransmits.Load()
	v.Timeouts = s.Timeouts.Load()
	v.Busy = s.Busy.Load()
	v.Redirects = s.Redirects.Load()
	v.Loops = s.Loops.Load()
	v.Malformed = s.Malformed.Load()
	v.Panics = s.Panics.Load()
	v.Originated = s.Originated.Load()
	for _, c := range localResultCodes {
		v.LocalResults[strconv.FormatUint(uint64(c), 10)] = s.LocalResult(c)
	}
	v.LocalResults["other"] = s.LocalResult(0) // 0 is no Result-Code: the catch-all bucket
	return v
}
