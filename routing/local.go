package routing

import (
	"cmp"
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dra-project/dra/wire"
)

// Local applications answer only once their state is durable (an fsync), so
// they must not run on a connection's reader goroutine: that would hold up
// every other request on the connection, relayed ones included. Each local
// application runs on its own pool of workers instead, so that a slow one
// (the AAA checking PBKDF2 passwords at ~100 ms each) cannot hold up the
// others (the OCS answering CCRs within Tx). Within a pool the worker is
// chosen by Session-Id, so that the requests of one session keep their
// order while different sessions proceed in parallel. A request that finds
// its worker's queue full is answered 3004 DIAMETER_TOO_BUSY at once: the
// reader never waits for a worker.

// LocalPool sizes the workers of one local application.
type LocalPool struct {
	// Workers is how many requests of the application are served at once;
	// 0 means DefaultLocalWorkers.
	Workers int
	// Queue is how many more may wait for them, shared evenly between the
	// workers (a session always waits for the same one); 0 means
	// DefaultLocalQueue.
	Queue int
}

// Defaults of LocalPool: the 64 workers the three applications used to
// share, each. The applications wait mostly for their journal's
// group-committed fsync, so many requests in flight make large commits
// (the AAA with 32 workers answered a load generator's 400 in flight at
// three quarters of the rate, with some 3004s).
const (
	DefaultLocalWorkers = 64
	DefaultLocalQueue   = 4096
)

// withDefaults is s with the defaults for what is not set.
func (s LocalPool) withDefaults() LocalPool {
	if s.Workers <= 0 {
		s.Workers = DefaultLocalWorkers
	}
	if s.Queue <= 0 {
		s.Queue = DefaultLocalQueue
	}
	return s
}

// depth is the queue of each worker.
func (s LocalPool) depth() int { return (s.Queue + s.Workers - 1) / s.Workers }

type localJob struct {
	r *Request
	h Handler
}

// localPool is the workers of one application.
type localPool struct {
	app    uint32
	size   LocalPool
	queues []chan localJob
	busy   atomic.Uint64 // requests refused with 3004
}

// localPools are the pools by application, created on first use with the
// sizes of the generation that first uses them (the local applications
// need a restart to change).
type localPools struct {
	pools  atomic.Pointer[map[uint32]*localPool]
	mu     sync.RWMutex // held for reading while submitting; stopLocal takes it
	create sync.Mutex
	closed bool
}

// pool returns app's pool, starting it when it is new.
func (rt *Router) pool(app uint32, size LocalPool) *localPool {
	ps := &rt.localPools
	if m := ps.pools.Load(); m != nil {
		if p := (*m)[app]; p != nil {
			return p
		}
	}
	ps.create.Lock()
	defer ps.create.Unlock()
	old := ps.pools.Load()
	if old != nil {
		if p := (*old)[app]; p != nil {
			return p
		}
	}
	size = size.withDefaults()
	p := &localPool{app: app, size: size, queues: make([]chan localJob, size.Workers)}
	depth := size.depth()
	for i := range p.queues {
		p.queues[i] = make(chan localJob, depth)
		go rt.localWorker(p.queues[i])
	}
	m := map[uint32]*localPool{app: p}
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	ps.pools.Store(&m)
	return p
}

// submitLocal queues r for h on its application's pool; false when the
// worker's queue is full (r is answered 3004) or the router is closed.
func (rt *Router) submitLocal(r *Request, h Handler) bool {
	app := r.Msg.AppID()
	ps := &rt.localPools
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	if ps.closed {
		return false
	}
	p := rt.pool(app, r.gen.opts.LocalPools[app])
	q := p.queues[fnv64(fnvOffset, r.SessionID())%uint64(len(p.queues))]
	select {
	case q <- localJob{r, h}:
		return true
	default:
	}
	p.busy.Add(1) // counted as shed, and logged, by the caller
	return false
}

func (rt *Router) localWorker(q chan localJob) {
	for j := range q {
		rt.serveLocalJob(j)
	}
}

func (rt *Router) serveLocalJob(j localJob) {
	r := j.r
	ans, err := func() (ans Answer, err error) {
		defer func() {
			if v := recover(); v != nil {
				rt.stats.Panics.Add(1)
				rt.log.Error("panic in local application", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				ans, err = nil, fmt.Errorf("panic: %v", v)
			}
		}()
		if r.tr == nil {
			return j.h.ServeDiameter(context.Background(), r)
		}
		ctx, span := r.localSpan()
		defer span.End()
		return j.h.ServeDiameter(ctx, r)
	}()
	if ans == nil {
		if err != nil {
			rt.log.ErrorContext(r.context(), "local application failed", "err", err, "app", r.Msg.AppID(), "code", r.Msg.Code())
		}
		ans = rt.errorAnswer(r, wire.ResultUnableToComply, "local application failed")
	}
	rt.reply(r, ans)
	r.release()
}

// stopLocal ends the workers (after Close, nothing is submitted).
func (rt *Router) stopLocal() {
	ps := &rt.localPools
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return
	}
	ps.closed = true
	ps.create.Lock()
	defer ps.create.Unlock()
	if m := ps.pools.Load(); m != nil {
		for _, p := range *m {
			for _, q := range p.queues {
				close(q)
			}
		}
	}
}

// LocalQueue is the state of one local application's workers.
type LocalQueue struct {
	App     uint32
	Workers int
	// Capacity is how many requests may wait (the configured queue,
	// rounded up to a multiple of Workers); Queued how many do.
	Capacity, Queued int
	// Busy counts the requests answered 3004 because their worker's queue
	// was full.
	Busy uint64
}

// LocalQueues returns the state of every local application's workers, by
// application id (those that have not served a request yet are started
// on the first one, and shown idle).
func (rt *Router) LocalQueues() []LocalQueue {
	ps := &rt.localPools
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	if ps.closed {
		return nil
	}
	var out []LocalQueue
	m := ps.pools.Load()
	if m != nil {
		for _, p := range *m {
			l := LocalQueue{App: p.app, Workers: len(p.queues), Busy: p.busy.Load()}
			for _, q := range p.queues {
				l.Capacity += cap(q)
				l.Queued += len(q)
			}
			out = append(out, l)
		}
	}
	if g := rt.gen.Load(); g != nil {
		for app := range g.opts.Local {
			if m != nil && (*m)[app] != nil {
				continue
			}
			s := g.opts.LocalPools[app].withDefaults()
			out = append(out, LocalQueue{App: app, Workers: s.Workers, Capacity: s.depth() * s.Workers})
		}
	}
	slices.SortFunc(out, func(a, b LocalQueue) int { return cmp.Compare(a.App, b.App) })
	return out
}

// LocalQueued is the number of requests waiting for a local application
// worker.
func (rt *Router) LocalQueued() int {
	n := 0
	for _, q := range rt.LocalQueues() {
		n += q.Queued
	}
	return n
}
