package policy

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/configs"
)

// bucket is a token bucket kept as GCRA (generic cell rate algorithm)
// state: one atomic theoretical arrival time, updated by compare-and-swap,
// so that concurrent requests never take a lock. Each bucket has its own
// cache line.
type bucket struct {
	tat atomic.Int64 // unix nanos
	_   [56]byte
}

// take admits one request at now (unix nanos) for a bucket emitting one
// token every interval with room for burst tokens (limit = burst*interval).
func (b *bucket) take(now, interval, limit int64) bool {
	for {
		old := b.tat.Load()
		t := max(old, now)
		next := t + interval
		if next-now > limit {
			return false
		}
		if b.tat.CompareAndSwap(old, next) {
			return true
		}
	}
}

// bucketKey names one bucket of a rule: the ingress peer, the application,
// or both, as the rule's per says.
type bucketKey struct {
	peer string
	app  uint32
}

// limiter is one rate-limit rule's buckets. It outlives policy generations:
// a reload with the same rule (same settings) keeps the buckets' state.
// Lookups read an immutable map through an atomic pointer; a new key
// copies the map under mu (rare: a new peer or application).
type limiter struct {
	interval, limit int64
	perPeer, perApp bool
	m               atomic.Pointer[map[bucketKey]*bucket]
	mu              sync.Mutex
}

// maxBuckets bounds one rule's buckets; past it, new keys share one
// overflow bucket rather than growing without bound.
const maxBuckets = 65536

func (l *limiter) bucket(k bucketKey) *bucket {
	if b := (*l.m.Load())[k]; b != nil {
		return b
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := *l.m.Load()
	if b := old[k]; b != nil {
		return b
	}
	if len(old) >= maxBuckets {
		k = bucketKey{peer: "\x00overflow"}
		if b := old[k]; b != nil {
			return b
		}
	}
	next := make(map[bucketKey]*bucket, len(old)+1)
	for kk, v := range old {
		next[kk] = v
	}
	b := new(bucket)
	next[k] = b
	l.m.Store(&next)
	return b
}

// rateRule is a compiled rate-limit rule of one generation.
type rateRule struct {
	name  string
	peers patterns
	apps  u32set
	lim   *limiter
	msg   string

	// shared, when set, holds the rule's buckets (state.backend redis);
	// lim is then the fallback of on_unavailable local.
	shared      *Shared
	rate        float64
	burst       int
	unavailable string // configs.OnUnavailable*
	unavailMsg  string
}

// Limits holds the limiters shared by successive policy generations, keyed
// by their rule's settings: a reload that keeps a rule keeps its buckets.
type Limits struct {
	mu sync.Mutex
	m  map[string]*limiter
}

// NewLimits returns an empty limiter store.
func NewLimits() *Limits { return &Limits{m: map[string]*limiter{}} }

func (s *Limits) get(c configs.RateLimit) *limiter {
	key := fmt.Sprintf("%s|%q|%v|%v|%d|%s", c.Per, c.Peers, c.Applications, c.Rate, c.Burst, c.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.m[key]; l != nil {
		return l
	}
	interval := int64(math.Round(float64(time.Second) / c.Rate))
	interval = max(interval, 1)
	l := &limiter{
		interval: interval, limit: interval * int64(c.Burst),
		perPeer: c.Per == "peer" || c.Per == "peer_application",
		perApp:  c.Per == "application" || c.Per == "peer_application",
	}
	empty := map[bucketKey]*bucket{}
	l.m.Store(&empty)
	s.m[key] = l
	return l
}

// prune drops limiters no rule of the current generation uses.
func (s *Limits) prune(keep map[*limiter]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, l := range s.m {
		if !keep[l] {
			delete(s.m, k)
		}
	}
}

// allow checks every matching rule for a request from peer for app at now;
// it returns the refusing rule's message, or "".
func allowRate(ctx context.Context, rules []rateRule, peer string, app uint32, now int64) string {
	for i := range rules {
		r := &rules[i]
		if !r.apps.allows(app) || (len(r.peers) > 0 && !r.peers.matchString(peer)) {
			continue
		}
		var k bucketKey
		if r.lim.perPeer {
			k.peer = peer
		}
		if r.lim.perApp {
			k.app = app
		}
		if r.shared != nil {
			allowed, ok := r.shared.takeShared(ctx, r, k, now)
			if ok {
				if !allowed {
					return r.msg
				}
				continue
			}
			r.shared.Unavailable.Add(1)
			switch r.unavailable {
			case configs.OnUnavailableAllow:
				continue
			case configs.OnUnavailableRefuse:
				return r.unavailMsg
			}
		}
		if !r.lim.bucket(k).take(now, r.lim.interval, r.lim.limit) {
			return r.msg
		}
	}
	return ""
}
