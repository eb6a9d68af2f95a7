package routing

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/dra-project/dra/wire"
)

// Local applications answer only once their state is durable (an fsync), so
// they must not run on a connection's reader goroutine: that would hold up
// every other request on the connection, relayed ones included. They run
// on a pool of workers instead, chosen by Session-Id, so that the requests
// of one session keep their order while different sessions proceed in
// parallel.
const (
	localWorkers    = 64
	localQueueDepth = 1024
)

type localJob struct {
	r *Request
	h Handler
}

type localPool struct {
	once   sync.Once
	mu     sync.RWMutex // held for reading while submitting; Close takes it
	closed bool
	queues [localWorkers]chan localJob
}

// submit queues r for h; false when the worker's queue is full.
func (rt *Router) submitLocal(r *Request, h Handler) bool {
	p := &rt.localPool
	p.once.Do(func() {
		for i := range p.queues {
			q := make(chan localJob, localQueueDepth)
			p.queues[i] = q
			go rt.localWorker(q)
		}
	})
	i := int(fnv64(fnvOffset, r.SessionID()) % localWorkers)
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	select {
	case p.queues[i] <- localJob{r, h}:
		return true
	default:
		return false
	}
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
	p := &rt.localPool
	p.once.Do(func() {})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, q := range p.queues {
		if q != nil {
			close(q)
		}
	}
}

// LocalQueued is the number of requests waiting for a local application
// worker.
func (rt *Router) LocalQueued() int {
	p := &rt.localPool
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for _, q := range p.queues {
		if q != nil {
			n += len(q)
		}
	}
	return n
}
