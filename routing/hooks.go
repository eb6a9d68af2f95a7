package routing

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// Hooks are policy callbacks at the points of a request's way that the
// middleware chain does not reach: the route chosen, each candidate next
// hop, the copy sent to it, and the answer going back. They are part of a
// generation (Options.Hooks) like the middleware. A nil *Hooks, or a nil
// field, costs one comparison. Hooks run on connection reader goroutines,
// timers and workers: they must not block. A panic in a hook is recovered
// and costs only the request it ran for (5012 for an Egress or Answer
// panic; a Peer panic makes that peer ineligible), counted in
// Stats.Panics.
type Hooks struct {
	// Route runs once realm routing has chosen r's route (r.Route()). A
	// non-zero code answers r with that Result-Code and msg as
	// Error-Message instead of forwarding it.
	Route func(r *Request) (code uint32, msg string)
	// Peer is asked about every otherwise eligible next hop of r; false
	// skips that peer (an overloaded peer: pending cap, DOIC abatement).
	// When every candidate was skipped the request is answered 3004
	// DIAMETER_TOO_BUSY rather than 3002.
	Peer func(r *Request, a *peers.Active) bool
	// Egress may rewrite out, the copy of r's message about to be sent to
	// a (Route-Record already added, hop-by-hop not yet set). It returns
	// the message to send: out itself, or a new pool buffer after
	// releasing out with wire.PutBuf. r.Msg is not changed, so that a
	// resend to an alternate starts from the original again.
	Egress func(r *Request, a *peers.Active, out wire.Msg) wire.Msg
	// Answer sees every answer to r before the router acts on it: from is
	// the peer that sent it, nil for an answer the agent produced itself.
	// It returns the answer to continue with, with the same buffer rules
	// as Egress.
	Answer func(r *Request, from *peers.Peer, ans wire.Msg) wire.Msg
}

func (h *Hooks) route(r *Request) (uint32, string) {
	if h == nil || h.Route == nil {
		return 0, ""
	}
	return h.Route(r)
}

// Hooks run on reader goroutines, timers and PeerDown, where no recoverer
// stands between them and the process: each call below recovers a panic,
// counts it (Stats.Panics), logs it with its stack and fails closed for
// that request only. (The Route hook runs inside the chain, whose
// recoverer answers 5012.)

// errHookPanic is send's error when the Egress hook panicked.
var errHookPanic = errors.New("routing: policy hook panicked")

// hookPanicked counts and logs a panic recovered from a hook.
func (rt *Router) hookPanicked(r *Request, hook string, v any) {
	rt.stats.Panics.Add(1)
	rt.log.ErrorContext(r.context(), "panic in policy hook", "hook", hook, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
}

// peerOK asks the Peer hook about a and remembers a refusal. A panic
// makes a ineligible (not a refusal: no 3004 for it).
func (rt *Router) peerOK(r *Request, a *peers.Active) (ok bool) {
	h := r.gen.opts.Hooks
	if h == nil || h.Peer == nil {
		return true
	}
	defer func() {
		if v := recover(); v != nil {
			rt.hookPanicked(r, "peer", v)
			ok = false
		}
	}()
	if h.Peer(r, a) {
		return true
	}
	r.skipped = true
	return false
}

// egress runs the Egress hook on out. After a panic out is in an unknown
// state (rewritten, released...): it is left to the garbage collector and
// errHookPanic returned, for which the request is answered 5012.
func (rt *Router) egress(r *Request, a *peers.Active, out wire.Msg) (_ wire.Msg, err error) {
	h := r.gen.opts.Hooks
	if h == nil || h.Egress == nil {
		return out, nil
	}
	defer func() {
		if v := recover(); v != nil {
			rt.hookPanicked(r, "egress", v)
			err = errHookPanic
		}
	}()
	return h.Egress(r, a, out), nil
}

// answer runs the Answer hook on ans. After a panic ans is in an unknown
// state, and delivering it as it came could reveal what the hook hides
// (topology hiding): the requester gets the agent's 5012
// DIAMETER_UNABLE_TO_COMPLY instead, and ok is false.
func (rt *Router) answer(r *Request, from *peers.Peer, ans wire.Msg) (out wire.Msg, ok bool) {
	h := r.gen.opts.Hooks
	if h == nil || h.Answer == nil {
		return ans, true
	}
	defer func() {
		if v := recover(); v != nil {
			rt.hookPanicked(r, "answer", v)
			out, ok = rt.errorAnswer(r, wire.ResultUnableToComply, "internal error"), false
		}
	}()
	return h.Answer(r, from, ans), true
}

// SetMsg replaces r's message with m, a rewritten copy (the caller has
// released the old buffer or will), and re-reads the routing AVPs, so that
// the routing decision sees the rewrite. For middleware only: once r is
// forwarded its message belongs to the answer path.
func (r *Request) SetMsg(m wire.Msg) error {
	r.Msg = m
	r.where = [nRoutingAVPs]span{}
	_, err := r.parse()
	return err
}

// Tried reports how many peers r was sent to so far.
func (r *Request) Tried() int { return r.ntried }
