package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/wire"
)

// Options configure a Router.
type Options struct {
	// Timeout is the default Tx: how long a forwarded request waits for
	// its answer before it is failed over.
	Timeout time.Duration
	// Retries is the default number of alternate peers a request may be
	// resent to.
	Retries int
	// FailoverOnBusy resends a request answered 3004 DIAMETER_TOO_BUSY to
	// an alternate peer (RFC 6733 §7.1.3).
	FailoverOnBusy bool
	// FollowRedirects resends a request answered 3006
	// DIAMETER_REDIRECT_INDICATION to the host the redirect names, and
	// caches the redirect as its Redirect-Host-Usage says.
	FollowRedirects bool
	// Local serves requests the agent terminates itself (route action
	// local, or Destination-Host naming the agent), by application id.
	Local map[uint32]Handler
	// LocalPools sizes the workers of each local application (by
	// application id; absent: the defaults). Each application has its
	// own, so that a slow one cannot hold up another; they are created
	// on first use and keep their size until the router is closed.
	LocalPools map[uint32]LocalPool
	// Middleware runs before the routing decision, outermost first
	// (policy stages).
	Middleware []Middleware
	// Hooks are the policy callbacks after the routing decision
	// (routing/hooks.go); nil: none.
	Hooks  *Hooks
	Logger *slog.Logger
}

// Router is the peers.Handler that routes every application message.
type Router struct {
	peers      *peers.Manager
	local      *peers.Local
	log        *slog.Logger
	gen        atomic.Pointer[generation]
	wheel      *wheel
	stats      Stats
	traffic    Traffic
	sampler    atomic.Pointer[sampler] // nil: tracing off
	e2e        atomic.Uint32           // End-to-End ids of originated requests
	redir      *redirectCache
	localPools localPools
	shed       shedding // shed.go
	cancel     context.CancelFunc
}

// generation is one configuration's routing state; a request keeps the
// generation it arrived in until it is answered.
type generation struct {
	table *realm.Table
	opts  Options
	chain Handler
	known *known // what the traffic counters count by name
}

var _ peers.Handler = (*Router)(nil)

// New builds a router with an initial routing table. The router is the
// peer manager's Handler, so it is created first and attached to the
// manager with Attach before the manager starts.
func New(table *realm.Table, opts Options) *Router {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rt := &Router{log: opts.Logger, redir: newRedirectCache()}
	rt.shed.init()
	rt.e2e.Store(uint32(time.Now().Unix())<<20 | uint32(time.Now().UnixNano())&0xfffff)
	ctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	rt.wheel = newWheel(ctx, wheelResolution, rt.expired)
	go rt.redir.sweepEvery(ctx, redirectSweep)
	rt.Update(table, opts)
	return rt
}

// Attach sets the peer manager once it exists (the manager needs the router
// as its Handler, so one of them is created first).
func (rt *Router) Attach(m *peers.Manager) {
	rt.peers = m
	rt.local = m.Local()
	rt.traffic.attach(m)
}

// Update publishes a new routing table and options. Requests already
// received keep the generation they started with.
func (rt *Router) Update(table *realm.Table, opts Options) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = rt.log
	}
	g := &generation{table: table, opts: opts, known: newKnown(table, opts.Local)}
	g.chain = Chain(HandlerFunc(rt.decide), append([]Middleware{rt.recoverer, rt.validate, rt.counted}, opts.Middleware...)...)
	rt.gen.Store(g)
}

// Table returns the routing table in use.
func (rt *Router) Table() *realm.Table { return rt.gen.Load().table }

// Close stops the router's timer and local application workers. Call it
// after the peers are shut down.
func (rt *Router) Close() {
	rt.cancel()
	rt.stopLocal()
}

// Stats returns the router's counters.
func (rt *Router) Stats() *Stats { return &rt.stats }

// Traffic returns the router's per-application, per-peer counters and
// latency histograms.
func (rt *Router) Traffic() *Traffic { return &rt.traffic }

// SetTracing turns tracing on, changes its sampling, or turns it off (a
// nil Tracer or a zero Ratio). Requests already received keep their
// decision.
func (rt *Router) SetTracing(t Tracing) {
	s := newSampler(t)
	if s.tracer == nil {
		rt.sampler.Store(nil)
		return
	}
	rt.sampler.Store(&s)
}

// HandleMessage implements peers.Handler.
func (rt *Router) HandleMessage(p *peers.Peer, c *peers.Conn, m wire.Msg) {
	if m.IsRequest() {
		rt.serveRequest(p, c, m)
		return
	}
	rt.serveAnswer(p, c, m)
}

func (rt *Router) serveRequest(p *peers.Peer, c *peers.Conn, m wire.Msg) {
	rt.stats.Requests.Add(1)
	r := getRequest()
	r.Msg, r.Ingress, r.IngressConn, r.via = m, p, c, c
	c.BeginInbound()
	r.Received = time.Now()
	r.origHBH = m.HopByHop()
	r.gen = rt.gen.Load()
	ans, err := rt.serve(r)
	if err != nil && ans == nil {
		// r.Msg, not m: a stage may have moved the message to another
		// buffer and released m's.
		rt.log.ErrorContext(r.context(), "request failed", "err", err, "peer", p.Identity(), "code", r.Msg.Code(), "app", r.Msg.AppID())
		ans = rt.errorAnswer(r, wire.ResultUnableToComply, "internal error")
	}
	if ans == nil {
		return // forwarded: the answer, a failover or a timeout finishes it
	}
	rt.reply(r, ans)
	r.release()
}

// Originate routes a request the agent originates itself (a local
// application's RAR or ASR toward a client) exactly like a received one,
// without a Route-Record, and calls done with its answer: the peer's, or
// the error answer the agent produced (3002, 3003, ...). done owns the
// answer and runs on a connection goroutine or the caller's: it must not
// block. The caller fills Origin-Host/Realm, Destination-Host/Realm and
// Session-Id; End-to-End is set here when zero.
func (rt *Router) Originate(m wire.Msg, done func(wire.Msg)) {
	if m.EndToEnd() == 0 {
		m.SetEndToEnd(rt.e2e.Add(1))
	}
	rt.stats.Originated.Add(1)
	r := getRequest()
	r.Msg, r.done = m, done
	r.Received = time.Now()
	r.origHBH = m.HopByHop()
	r.gen = rt.gen.Load()
	ans, err := rt.serve(r)
	if err != nil && ans == nil {
		ans = rt.errorAnswer(r, wire.ResultUnableToComply, "internal error")
	}
	if ans != nil {
		rt.reply(r, ans)
		r.release()
	}
}

// serve runs r through its generation's chain, inside a trace when r is
// sampled.
func (rt *Router) serve(r *Request) (Answer, error) {
	if s := rt.sampler.Load(); s != nil && s.sample() {
		rt.startTrace(r, s)
		return rt.serveChain(r)
	}
	return r.gen.chain.ServeDiameter(context.Background(), r)
}

// context is the context of r's trace (its server span), or Background.
func (r *Request) context() context.Context {
	if r.tr != nil {
		return r.tr.ctx
	}
	return context.Background()
}

// answered records r's answer in the traffic counters and closes its
// trace; it runs just before the answer leaves. code is the answer's
// Result-Code; relayed is false for answers the agent produced.
func (rt *Router) answered(r *Request, code uint32, relayed bool) {
	now := time.Now()
	total := now.Sub(r.Received)
	added := total
	var from *peers.Peer
	if relayed {
		added -= now.Sub(r.sentAt)
		if r.ntried > 0 {
			from = r.tried[r.ntried-1]
		}
	}
	rt.traffic.answer(r.gen.known, r.Msg.AppID(), r.Msg.Code(), code, from, total, added, relayed)
	if r.tr != nil {
		r.endTrace(code, relayed, now)
	}
}

// deliver hands an answer to whoever waits for it: the requesting peer, or
// the local originator.
func (rt *Router) deliver(r *Request, ans wire.Msg) error {
	if r.done != nil {
		rt.callDone(r, ans)
		return nil
	}
	err := r.IngressConn.SendVia(ans, r.via)
	r.IngressConn.EndInbound() // after the answer is queued: a drain then sends DPR behind it
	return err
}

// callDone hands ans to the originator of r. It runs on reader goroutines
// and timers, where a panic would end the process: one is recovered,
// counted and logged.
func (rt *Router) callDone(r *Request, ans wire.Msg) {
	defer func() {
		if v := recover(); v != nil {
			rt.stats.Panics.Add(1)
			rt.log.ErrorContext(r.context(), "panic in the originator's answer callback", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	r.done(ans)
}

// reply sends an answer the agent produced to the requesting peer.
func (rt *Router) reply(r *Request, ans Answer) {
	ans, _ = rt.answer(r, nil, ans)
	rt.answered(r, rt.stats.countLocal(ans), false)
	rt.deliverOrDrop(r, ans)
}

// deliverOrDrop delivers ans, or counts and releases it when the requester
// is gone.
func (rt *Router) deliverOrDrop(r *Request, ans wire.Msg) {
	if err := rt.deliver(r, ans); err != nil {
		rt.stats.AnswersDropped.Add(1)
		wire.PutBuf(ans)
	}
}

// recoverer turns a panic in any stage into 5012 DIAMETER_UNABLE_TO_COMPLY
// for that request only.
func (rt *Router) recoverer(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, r *Request) (ans Answer, err error) {
		defer func() {
			if v := recover(); v != nil {
				rt.stats.Panics.Add(1)
				rt.log.Error("panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				ans, err = rt.errorAnswer(r, wire.ResultUnableToComply, "internal error"), nil
			}
		}()
		return next.ServeDiameter(ctx, r)
	})
}

// errorAnswer builds an answer from the agent to r (RFC 6733 §6.2, §7):
// Session-Id and Proxy-Info kept, E bit for protocol errors, the request's
// own Hop-by-Hop Identifier.
func (rt *Router) errorAnswer(r *Request, code uint32, msg string) Answer {
	return rt.errorAnswerAVP(r, code, msg, nil)
}

func (rt *Router) errorAnswerAVP(r *Request, code uint32, msg string, failed []byte) Answer {
	a := wire.ErrorAnswer(r.Msg, wire.ErrorSpec{
		OriginHost: rt.local.OriginHost, OriginRealm: rt.local.OriginRealm,
		ResultCode: code, Message: msg, FailedAVP: failed,
	})
	a.SetHopByHop(r.origHBH)
	return a
}

// ErrNoRoute is returned by stages that cannot route a request.
var ErrNoRoute = errors.New("routing: no route")
