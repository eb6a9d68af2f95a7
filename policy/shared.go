package policy

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/state"
)

// sharedRetry is how long the rate limits leave a store that failed alone
// before asking it again: meanwhile each rule applies its on_unavailable
// fallback at once, so that an unreachable Redis costs one timeout a
// second, not one per request.
const sharedRetry = time.Second

// Shared are the rate limits' shared buckets: the state store's, when the
// agent runs with state.backend redis, so that a limit is a limit for all
// the agents on that Redis together. A nil *Shared (the default) keeps
// every bucket in this agent.
type Shared struct {
	buckets state.Buckets
	// retryAt is when the store may be asked again after a failure (unix
	// nanos; 0 when it answered last).
	retryAt atomic.Int64
	// Unavailable counts the requests a rule judged without the store
	// (its on_unavailable fallback).
	Unavailable atomic.Uint64
}

// NewShared returns shared rate-limit buckets on b.
func NewShared(b state.Buckets) *Shared { return &Shared{buckets: b} }

// sharedKey names the shared bucket of rule name for key k: the same on
// every agent configured with the same rule.
func sharedKey(name string, k bucketKey, perPeer, perApp bool) string {
	b := make([]byte, 0, len("rl:")+len(name)+len(k.peer)+16)
	b = append(b, "rl:"...)
	b = append(b, name...)
	if perPeer {
		b = append(b, "|p="...)
		b = append(b, k.peer...)
	}
	if perApp {
		b = append(b, "|a="...)
		b = strconv.AppendUint(b, uint64(k.app), 10)
	}
	return string(b)
}

// takeShared takes one token of r's shared bucket for k. ok is false when
// the store could not judge (unreachable, or left alone after a failure):
// the caller then applies r's fallback.
func (s *Shared) takeShared(ctx context.Context, r *rateRule, k bucketKey, now int64) (allowed, ok bool) {
	if at := s.retryAt.Load(); at != 0 && now < at {
		return false, false
	}
	allowed, _, err := s.buckets.Take(ctx, sharedKey(r.name, k, r.lim.perPeer, r.lim.perApp), r.rate, r.burst, 1)
	if err != nil {
		s.retryAt.Store(now + int64(sharedRetry))
		return false, false
	}
	if s.retryAt.Load() != 0 {
		s.retryAt.Store(0)
	}
	return allowed, true
}

// onUnavailable maps the configured fallback (default local).
func onUnavailable(v string) string {
	if v == "" {
		return configs.OnUnavailableLocal
	}
	return v
}
