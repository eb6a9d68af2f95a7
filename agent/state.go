package agent

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/state"
)

// StateCheckInterval is how often the agent pings its state store for
// /readyz and the dra.state.backend_up metric.
const StateCheckInterval = time.Second

// stateStore is the agent's state store and its last known health. The
// Redis store logs its own transitions (one warning when Redis is lost,
// one line when it is back); the health loop only drives them when no
// request does.
type stateStore struct {
	s      state.Store
	up     atomic.Bool
	reason atomic.Pointer[string] // why the store is down
	stop   chan struct{}
	done   sync.WaitGroup
	closed sync.Once
	err    error // Close's
	binder *binder
}

// openState opens the store cfg.State configures (embedded: in process,
// nothing to reach) and, for Redis, starts checking its health.
func (a *Agent) openState(cfg *configs.Config) error {
	timeout := cfg.State.Redis.Timeout
	if timeout <= 0 {
		timeout = state.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := state.Open(ctx, cfg.State, a.log)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	st := &stateStore{s: s, stop: make(chan struct{}), binder: &binder{b: s.Bindings()}}
	st.set(state.Check(ctx, s))
	if s.Backend() != state.BackendEmbedded {
		st.done.Add(1)
		go st.watch(StateCheckInterval)
	}
	a.state = st
	return nil
}

func (st *stateStore) set(h state.Health) {
	if h.Err != nil {
		r := h.Err.Error()
		st.reason.Store(&r)
	}
	st.up.Store(h.Up)
}

// watch pings the store every interval until close.
func (st *stateStore) watch(interval time.Duration) {
	defer st.done.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-t.C:
			st.set(state.Check(context.Background(), st.s))
		}
	}
}

// ready reports whether the store is up, and why not.
func (st *stateStore) ready() (bool, string) {
	if st == nil || st.up.Load() {
		return true, ""
	}
	why := "no answer"
	if r := st.reason.Load(); r != nil {
		why = *r
	}
	return false, "state backend " + st.s.Backend() + " unavailable: " + why
}

// close stops the health checks and closes the store; closing again
// (Shutdown twice) returns the first close's error.
func (st *stateStore) close() error {
	if st == nil {
		return nil
	}
	st.closed.Do(func() {
		close(st.stop)
		st.done.Wait()
		st.err = st.s.Close()
	})
	return st.err
}

// counts feeds the dra.state.* metrics.
func (st *stateStore) counts() (backend string, up bool, unavailable uint64) {
	if u, ok := st.s.(interface{ Unavailable() uint64 }); ok {
		unavailable = u.Unavailable()
	}
	return st.s.Backend(), st.up.Load(), unavailable
}

// State returns the agent's state store, opened once at start from the
// state section and closed at shutdown: the embedded store, or Redis
// shared with the other agents configured with it. Local applications and
// the policy use this one store.
func (a *Agent) State() state.Store { return a.state.s }

// bindingRetry is how long routes with shared_binding leave a store that
// failed alone before asking it again: meanwhile they pick as if the
// binding were off, so that an unreachable Redis costs one timeout a
// second, not one per request.
const bindingRetry = time.Second

// binder gives the router the store's session bindings (routes with
// shared_binding).
type binder struct {
	b       state.Bindings
	retryAt atomic.Int64 // unix nanos; 0 while the store answers
}

var _ routing.Binder = (*binder)(nil)

func (b *binder) Swap(ctx context.Context, session, old, peer string, ttl time.Duration) (string, bool, error) {
	now := time.Now().UnixNano()
	if at := b.retryAt.Load(); at != 0 && now < at {
		return "", false, errBindingsResting
	}
	bound, ok, err := b.b.Swap(ctx, session, old, peer, ttl)
	if err != nil {
		b.retryAt.Store(now + int64(bindingRetry))
		return "", false, err
	}
	if b.retryAt.Load() != 0 {
		b.retryAt.Store(0)
	}
	return bound, ok, nil
}

// errBindingsResting is the binder's error while it leaves a failed store
// alone.
var errBindingsResting = fmt.Errorf("agent: session bindings not asked for %s after a failure: %w", bindingRetry, state.ErrUnavailable)
