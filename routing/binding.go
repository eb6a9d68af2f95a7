package routing

import (
	"context"
	"strings"
	"time"

	"github.com/dra-project/dra/peers"
)

// Binder keeps session bindings (Session-Id -> next hop identity) shared
// by the agents on one state store, with the contract of
// state.Bindings.Swap: when session is bound to old ("" for none) it
// becomes bound to peer for ttl, when it is bound to peer its TTL is
// refreshed, and any other binding is left alone and returned. It is
// called on a connection's reader goroutine, only for routes with
// SharedBinding: it must answer quickly or fail.
type Binder interface {
	Swap(ctx context.Context, session, old, peer string, ttl time.Duration) (bound string, ok bool, err error)
}

// bound applies r's route's shared binding to a, the peer pick chose for
// r's first attempt: the session's binding is made (or refreshed) to a,
// or the peer it is bound to is used when it is usable here, or, when it
// is not, the binding is moved to a (compare-and-swap: if another agent
// moved it first, its choice is followed when usable). A store that
// fails leaves the choice to pick, like a route without binding.
func (rt *Router) bound(r *Request, a *peers.Active) *peers.Active {
	b := r.gen.opts.Binder
	sid := r.SessionID()
	if b == nil || len(sid) == 0 {
		return a
	}
	ctx, s, ttl, mine := r.context(), string(sid), r.route.BindingTTL, a.Peer.Identity()
	bound, ok, err := b.Swap(ctx, s, "", mine, ttl)
	if err != nil || ok {
		return a
	}
	if c := rt.usable(r, bound); c != nil {
		b.Swap(ctx, s, bound, bound, ttl) // refresh; a failure only shortens its life
		return c
	}
	now, ok, err := b.Swap(ctx, s, bound, mine, ttl)
	if err != nil || ok {
		return a
	}
	if c := rt.usable(r, now); c != nil {
		return c
	}
	return a
}

// usable returns the connection to the peer named id when pick could have
// chosen it for r: one of the route's peers, open, watchdog OKAY, the
// application negotiated, not the ingress, not tried, not in
// Route-Record, its write queue not nearly full, admitted by the Peer
// hook.
func (rt *Router) usable(r *Request, id string) *peers.Active {
	if id == "" {
		return nil
	}
	inRoute := false
	for _, g := range r.route.Groups() {
		for _, ref := range g.Peers {
			if strings.EqualFold(ref.Host, id) {
				id, inRoute = ref.Host, true
			}
		}
	}
	if !inRoute {
		return nil
	}
	p := rt.peers.Peer(id)
	if p == nil || p == r.Ingress || r.triedPeer(p) {
		return nil
	}
	a := p.Active()
	if a == nil || !a.Apps.Supports(r.Msg.AppID()) || r.Msg.HasRouteRecordString(p.Identity()) {
		return nil
	}
	if r.retries == 0 && a.Conn.Congested() {
		return nil
	}
	if !rt.peerOK(r, a) {
		return nil
	}
	return a
}
