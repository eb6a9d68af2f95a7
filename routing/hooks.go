package routing

import (
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// Hooks are policy callbacks at the points of a request's way that the
// middleware chain does not reach: the route chosen, each candidate next
// hop, the copy sent to it, and the answer going back. They are part of a
// generation (Options.Hooks) like the middleware. A nil *Hooks, or a nil
// field, costs one comparison. Hooks run on connection reader goroutines,
// timers and workers: they must not block.
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

// peerOK asks the Peer hook about a and remembers a refusal.
func (h *Hooks) peerOK(r *Request, a *peers.Active) bool {
	if h == nil || h.Peer == nil || h.Peer(r, a) {
		return true
	}
	r.skipped = true
	return false
}

func (h *Hooks) egress(r *Request, a *peers.Active, out wire.Msg) wire.Msg {
	if h == nil || h.Egress == nil {
		return out
	}
	return h.Egress(r, a, out)
}

func (h *Hooks) answer(r *Request, from *peers.Peer, ans wire.Msg) wire.Msg {
	if h == nil || h.Answer == nil {
		return ans
	}
	return h.Answer(r, from, ans)
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
