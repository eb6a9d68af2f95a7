package routing

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/wire"
)

// decide is the last stage: the RFC 6733 §6.1 routing decision.
func (rt *Router) decide(ctx context.Context, r *Request) (Answer, error) {
	// Overload: a peer that does not read the answers it is owed gets
	// 3004 before any work is done for it (peers/conn_overload.go).
	if c := r.IngressConn; c != nil && c.Backlogged() {
		return rt.shedAnswer(r, ShedIngressBacklog, "answers to this peer are backing up: it reads them too slowly"), nil
	}
	m := r.Msg
	app := m.AppID()
	// §6.1.4: requests for this agent, or that cannot be proxied, are
	// processed locally.
	if (len(r.DestHost()) > 0 && bytes.EqualFold(r.DestHost(), []byte(rt.local.OriginHost))) || !m.IsProxiable() {
		return rt.serveLocal(ctx, r)
	}
	// §6.1.5: a Destination-Host that is a peer is delivered directly.
	if len(r.DestHost()) > 0 {
		if p := rt.peers.PeerByIdentity(r.DestHost()); p != nil {
			a := p.Active()
			if a == nil || !a.Apps.Supports(app) || m.HasRouteRecordString(p.Identity()) {
				return rt.errorAnswer(r, wire.ResultUnableToDeliver, "Destination-Host "+p.Identity()+" is not reachable for this application"), nil
			}
			return rt.forwardTo(r, a), nil
		}
	}
	if len(r.DestRealm()) == 0 {
		return rt.errorAnswerAVP(r, wire.ResultMissingAVP, "proxiable request without Destination-Realm",
			wire.AppendAVP(nil, wire.AVPDestinationRealm, wire.AVPFlagMandatory, 0, nil)), nil
	}
	if rt.redir.active() && r.gen.opts.FollowRedirects {
		if a := rt.redir.lookup(rt, r); a != nil {
			return rt.forwardTo(r, a), nil
		}
	}
	route, res := r.gen.table.Lookup(&realm.Query{
		Realm: r.DestRealm(), AppID: app, Command: m.Code(), OriginHost: r.OriginHost(), OriginRealm: r.OriginRealm(),
	})
	switch res {
	case realm.NoRealm:
		return rt.errorAnswer(r, wire.ResultRealmNotServed, "realm "+string(r.DestRealm())+" is not served"), nil
	case realm.NoApp:
		return rt.errorAnswer(r, wire.ResultApplicationUnsupported, "application not routed for realm "+string(r.DestRealm())), nil
	}
	r.route = route
	if r.tr != nil {
		r.tr.route = route
	}
	if code, msg := r.gen.opts.Hooks.route(r); code != 0 {
		return rt.errorAnswer(r, code, msg), nil
	}
	switch route.Action {
	case realm.Local:
		return rt.serveLocal(ctx, r)
	case realm.Redirect:
		return rt.redirectAnswer(r, route), nil
	}
	return rt.forward(r), nil
}

// serveLocal hands a request to the local application serving it.
func (rt *Router) serveLocal(ctx context.Context, r *Request) (Answer, error) {
	if h, ok := r.gen.opts.Local[r.Msg.AppID()]; ok {
		r.via = nil // the worker is another goroutine
		if r.tr != nil {
			r.tr.local = true
		}
		if !rt.submitLocal(r, h) {
			return rt.shedAnswer(r, ShedLocalQueue, "local application overloaded"), nil
		}
		return nil, nil // answered by a worker
	}
	if !r.Msg.IsProxiable() && !(len(r.DestHost()) > 0 && bytes.EqualFold(r.DestHost(), []byte(rt.local.OriginHost))) {
		return rt.errorAnswer(r, wire.ResultCommandUnsupported, "non-proxiable request for an application the agent does not serve"), nil
	}
	return rt.errorAnswer(r, wire.ResultApplicationUnsupported, "application not served locally"), nil
}

// forward sends r to the best eligible peer of its route, trying the next
// one when a send fails; it returns 3002 when none is left, or 3004 when
// those left were passed over as overloaded.
func (rt *Router) forward(r *Request) Answer {
	r.congested = false // this attempt's finding, not an earlier one's
	for {
		a := rt.pick(r)
		if a == nil && r.congested {
			return rt.shedAnswer(r, ShedEgressQueue, "the write queue of every eligible peer for route "+r.route.Name+" is full")
		}
		if a == nil && r.skipped {
			return rt.shedAnswer(r, ShedPeerRefused, "every eligible peer for route "+r.route.Name+" is overloaded")
		}
		if a == nil {
			msg := "no eligible peer for route " + r.route.Name
			if r.ntried > 0 {
				msg = "no alternate peer for route " + r.route.Name
			}
			return rt.errorAnswer(r, wire.ResultUnableToDeliver, msg)
		}
		err := rt.send(r, a)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errHookPanic):
			return rt.errorAnswer(r, wire.ResultUnableToComply, "internal error")
		case errors.Is(err, peers.ErrQueueFull):
			r.congested = true
		}
	}
}

// forwardTo sends r to one chosen peer (Destination-Host, redirect).
func (rt *Router) forwardTo(r *Request, a *peers.Active) Answer {
	if r.retries == 0 && a.Conn.Congested() {
		return rt.shedAnswer(r, ShedEgressQueue, "the write queue of peer "+a.Peer.Identity()+" is full")
	}
	if !rt.peerOK(r, a) {
		if !r.skipped {
			return rt.errorAnswer(r, wire.ResultUnableToComply, "internal error")
		}
		return rt.shedAnswer(r, ShedPeerRefused, "peer "+a.Peer.Identity()+" is overloaded")
	}
	switch err := rt.send(r, a); {
	case errors.Is(err, errHookPanic):
		return rt.errorAnswer(r, wire.ResultUnableToComply, "internal error")
	case errors.Is(err, peers.ErrQueueFull):
		return rt.shedAnswer(r, ShedEgressQueue, "the write queue of peer "+a.Peer.Identity()+" is full")
	case err != nil:
		return rt.errorAnswer(r, wire.ResultUnableToDeliver, "peer "+a.Peer.Identity()+": "+err.Error())
	}
	return nil
}

// send appends our Route-Record (once), records the attempt and queues a
// copy of r's message on a's connection under a fresh hop-by-hop id: r
// keeps its own bytes for a resend, and the writer recycles the copy. After
// a successful send r belongs to the answer path: the caller must not
// touch it.
func (rt *Router) send(r *Request, a *peers.Active) error {
	if !r.rrAdded && r.Ingress != nil {
		// RFC 6733 §6.1.8: relays and proxies add the identity of the peer
		// the request came from.
		r.Msg = r.Msg.AppendRouteRecord(r.Ingress.Identity())
		r.rrAdded = true
	}
	if r.ntried < maxAttempts {
		r.tried[r.ntried] = a.Peer
		r.ntried++
	}
	r.egress = a.Conn
	tx := r.gen.opts.Timeout
	if r.route != nil && r.route.Timeout > 0 {
		tx = r.route.Timeout
	}
	r.sentAt = time.Now()
	deadline := r.sentAt.Add(tx)
	out := wire.Msg(wire.GetBuf(len(r.Msg)))
	copy(out, r.Msg)
	out, err := rt.egress(r, a, out)
	if err != nil {
		return err
	}
	r.beginAttempt(a.Peer)
	hbh, err := a.Conn.SendRequestVia(out, r, r.via)
	if err != nil {
		r.endAttempt("send failed: "+err.Error(), 0, true)
		wire.PutBuf(out)
		return err
	}
	rt.stats.Forwarded.Add(1)
	rt.wheel.add(a.Conn, hbh, deadline)
	return nil
}

// pick chooses the next hop: the first priority group with an eligible
// peer (open, watchdog OKAY, application negotiated, not yet tried, not in
// Route-Record), then by weight, sticky per Session-Id when the route says
// so. It makes one pass over the group and keeps no list of candidates, so
// a group of any size costs no allocation and every peer in it can be
// chosen.
func (rt *Router) pick(r *Request) *peers.Active {
	route := r.route
	if route == nil {
		return nil
	}
	app := r.Msg.AppID()
	sid := r.SessionID()
	sticky := route.Sticky && len(sid) > 0
	for _, g := range route.Groups() {
		var (
			best   *peers.Active
			bestW  int
			total  int
			scored bool
			top    float64
			hsid   uint64
		)
		for _, ref := range g.Peers {
			p := rt.peers.Peer(ref.Host)
			// Never back to the peer the request came from: that is a
			// loop in the making (RFC 6733 §6.1.7).
			if p == nil || p == r.Ingress || r.triedPeer(p) {
				continue
			}
			a := p.Active()
			if a == nil || !a.Apps.Supports(app) || r.Msg.HasRouteRecordString(p.Identity()) {
				continue
			}
			// A new request is not queued behind a nearly full write
			// queue; a resend of one already accepted may use the rest.
			if r.retries == 0 && a.Conn.Congested() {
				r.congested = true
				continue
			}
			if !rt.peerOK(r, a) {
				continue
			}
			switch {
			case best == nil:
				best, bestW, total = a, ref.Weight, ref.Weight
			case sticky:
				// Weighted rendezvous hashing: the highest score wins.
				// The first candidate is scored only once a second one
				// shows up.
				if !scored {
					hsid = fnv64(fnvOffset, sid)
					top, scored = rendezvousScore(hsid, best, bestW), true
				}
				if s := rendezvousScore(hsid, a, ref.Weight); s > top {
					best, top = a, s
				}
			default:
				// Weighted reservoir sampling of one: the k-th candidate
				// replaces the choice with probability w_k / (w_1+...+w_k),
				// which leaves each chosen with probability w / total.
				total += ref.Weight
				if rand.IntN(total) < ref.Weight {
					best = a
				}
			}
		}
		if best != nil {
			return best
		}
	}
	return nil
}

// rendezvousScore is a's score for a session whose Session-Id hashes to
// hsid under weighted rendezvous hashing: every (session, peer) pair gets a
// score and the highest wins, so a session stays on its peer while that
// peer is eligible, and the same on every agent instance.
func rendezvousScore(hsid uint64, a *peers.Active, w int) float64 {
	h := mix64(fnv64(hsid, a.Peer.Identity()))
	u := (float64(h>>11) + 0.5) / (1 << 53) // uniform in (0,1)
	return float64(w) / -math.Log(u)
}

const fnvOffset = 14695981039346656037

func fnv64[T string | []byte](h uint64, b T) uint64 {
	for i := 0; i < len(b); i++ {
		h = (h ^ uint64(lowerASCII(b[i]))) * 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finalizer: FNV alone clusters similar inputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// serveAnswer routes an answer back: match it to its pending request on
// the connection it came from, restore the hop-by-hop id and send it on the
// request's ingress connection.
func (rt *Router) serveAnswer(p *peers.Peer, c *peers.Conn, m wire.Msg) {
	e, ok := c.TakePending(m.HopByHop())
	if !ok {
		rt.stats.UnknownAnswers.Add(1)
		wire.PutBuf(m)
		return
	}
	r := e.(*Request)
	r.via = c // this is c's reader goroutine now
	m, ok = rt.answer(r, p, m)
	if !ok {
		rt.answered(r, rt.stats.countLocal(m), false)
		rt.deliverOrDrop(r, m)
		r.release()
		return
	}
	opts := &r.gen.opts
	code, ok := resultCode(m)
	if ok {
		switch {
		case code == wire.ResultTooBusy && opts.FailoverOnBusy && r.route != nil:
			rt.stats.Busy.Add(1)
			wire.PutBuf(m)
			r.endAttempt("busy", code, true)
			rt.retry(r)
			return
		case code == wire.ResultRedirectIndication && opts.FollowRedirects:
			r.endAttempt("redirected", code, false)
			if rt.followRedirect(r, m) {
				wire.PutBuf(m)
				return
			}
		}
	}
	m.SetHopByHop(r.origHBH)
	rt.stats.Answered.Add(1)
	rt.answered(r, code, true)
	rt.deliverOrDrop(r, m)
	r.release()
}

// PeerDown implements peers.Handler: every request pending on the
// connection is failed over or answered.
func (rt *Router) PeerDown(p *peers.Peer, c *peers.Conn) {
	for _, e := range c.DrainPending() {
		r := e.(*Request)
		r.endAttempt("peer down", 0, true)
		rt.retry(r)
	}
}

// expired is the wheel's callback: Tx passed for (c, hbh).
func (rt *Router) expired(c *peers.Conn, hbh uint32) {
	if e, ok := c.TakePending(hbh); ok {
		rt.stats.Timeouts.Add(1)
		r := e.(*Request)
		r.endAttempt("timeout", 0, true)
		rt.retry(r)
	}
}

// retry resends r to an alternate peer with the T flag (RFC 6733 §5.5.4),
// or answers 3002 when the route allows no more attempts.
func (rt *Router) retry(r *Request) {
	r.via = nil // timers, PeerDown and answers call this: wake writers at once
	rt.stats.Failovers.Add(1)
	max := r.gen.opts.Retries
	if r.route != nil && r.route.Retries >= 0 {
		max = r.route.Retries // a negative value leaves it to the router
	}
	if r.route == nil || r.retries >= max {
		rt.reply(r, rt.errorAnswer(r, wire.ResultUnableToDeliver, "no answer from the next hop and no retry left"))
		r.release()
		return
	}
	r.retries++
	r.Msg.SetFlags(r.Msg.Flags() | wire.FlagRetransmit)
	rt.stats.Retransmits.Add(1)
	if ans := rt.forward(r); ans != nil {
		rt.reply(r, ans)
		r.release()
	}
}
