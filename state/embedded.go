package state

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Default bounds of the embedded store.
const (
	DefaultMaxBindings = 1 << 20
	DefaultMaxBuckets  = 1 << 16
)

const embeddedShards = 64

// EmbeddedOptions bound the embedded store.
type EmbeddedOptions struct {
	// MaxBindings bounds the bindings held (default DefaultMaxBindings).
	// When full, expired bindings are dropped first, then arbitrary ones:
	// a dropped binding only costs its session its stickiness.
	MaxBindings int
	// MaxBuckets bounds the buckets held (default DefaultMaxBuckets).
	// When full, buckets that have refilled (and so equal a new bucket)
	// are dropped first, then arbitrary ones.
	MaxBuckets int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Embedded is the in-process store: bounded, expiring, private to one
// agent.
type Embedded struct {
	bind  [embeddedShards]bindShard
	buck  [embeddedShards]bucketShard
	seed  maphash.Seed
	now   func() time.Time
	maxBi int // per shard
	maxBu int // per shard
}

var (
	_ Store    = (*Embedded)(nil)
	_ Bindings = (*embeddedBindings)(nil)
	_ Buckets  = (*embeddedBuckets)(nil)
)

type binding struct {
	peer    string
	expires time.Time
}

type bindShard struct {
	mu sync.Mutex
	m  map[string]binding
}

type bucket struct {
	tokens float64
	last   time.Time
	full   time.Time // when the bucket is full again
}

type bucketShard struct {
	mu sync.Mutex
	m  map[string]bucket
}

// NewEmbedded returns an empty embedded store.
func NewEmbedded(o EmbeddedOptions) *Embedded {
	if o.MaxBindings <= 0 {
		o.MaxBindings = DefaultMaxBindings
	}
	if o.MaxBuckets <= 0 {
		o.MaxBuckets = DefaultMaxBuckets
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Embedded{
		seed:  maphash.MakeSeed(),
		now:   o.Now,
		maxBi: max(1, o.MaxBindings/embeddedShards),
		maxBu: max(1, o.MaxBuckets/embeddedShards),
	}
	for i := range e.bind {
		e.bind[i].m = map[string]binding{}
		e.buck[i].m = map[string]bucket{}
	}
	return e
}

func (e *Embedded) shard(key string) int {
	return int(maphash.String(e.seed, key) % embeddedShards)
}

// Bindings returns the store's session bindings.
func (e *Embedded) Bindings() Bindings { return (*embeddedBindings)(e) }

// Buckets returns the store's token buckets.
func (e *Embedded) Buckets() Buckets { return (*embeddedBuckets)(e) }

// Ping always succeeds.
func (e *Embedded) Ping(context.Context) error { return nil }

// Backend returns "embedded".
func (e *Embedded) Backend() string { return BackendEmbedded }

// Close does nothing.
func (e *Embedded) Close() error { return nil }

type embeddedBindings Embedded

func (b *embeddedBindings) Get(_ context.Context, session string) (string, bool, error) {
	sh := &b.bind[(*Embedded)(b).shard(session)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[session]
	if !ok {
		return "", false, nil
	}
	if !b.now().Before(v.expires) {
		delete(sh.m, session)
		return "", false, nil
	}
	return v.peer, true, nil
}

func (b *embeddedBindings) Bind(_ context.Context, session, peer string, ttl time.Duration) (string, bool, error) {
	if err := checkBind(session, peer, ttl); err != nil {
		return "", false, err
	}
	sh := &b.bind[(*Embedded)(b).shard(session)]
	now := b.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := sh.m[session]; ok && now.Before(v.expires) {
		return v.peer, false, nil
	}
	if len(sh.m) >= b.maxBi {
		evict(sh.m, b.maxBi, func(v binding) bool { return !now.Before(v.expires) })
	}
	sh.m[session] = binding{peer: peer, expires: now.Add(ttl)}
	return peer, true, nil
}

func (b *embeddedBindings) Refresh(_ context.Context, session string, ttl time.Duration) (bool, error) {
	if err := checkBind(session, "-", ttl); err != nil {
		return false, err
	}
	sh := &b.bind[(*Embedded)(b).shard(session)]
	now := b.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[session]
	if !ok || !now.Before(v.expires) {
		delete(sh.m, session)
		return false, nil
	}
	v.expires = now.Add(ttl)
	sh.m[session] = v
	return true, nil
}

func (b *embeddedBindings) Delete(_ context.Context, session string) error {
	sh := &b.bind[(*Embedded)(b).shard(session)]
	sh.mu.Lock()
	delete(sh.m, session)
	sh.mu.Unlock()
	return nil
}

// evict makes room in m, which holds limit or more: it drops the entries
// stale says may go and, if that freed nothing, arbitrary ones (Go's map
// order) down to 15/16 of limit, so that the sweep is paid once per
// limit/16 inserts.
func evict[V any](m map[string]V, limit int, stale func(V) bool) {
	for k, v := range m {
		if stale(v) {
			delete(m, k)
		}
	}
	if len(m) < limit {
		return
	}
	target := limit - max(1, limit/16)
	for k := range m {
		if len(m) <= target {
			return
		}
		delete(m, k)
	}
}

type embeddedBuckets Embedded

func (b *embeddedBuckets) Take(_ context.Context, key string, rate float64, burst, n int) (bool, time.Duration, error) {
	if err := checkTake(key, rate, burst, n); err != nil {
		return false, 0, err
	}
	sh := &b.buck[(*Embedded)(b).shard(key)]
	now := b.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[key]
	if !ok {
		if len(sh.m) >= b.maxBu {
			evict(sh.m, b.maxBu, func(v bucket) bool { return !now.Before(v.full) })
		}
		v = bucket{tokens: float64(burst), last: now}
	} else if d := now.Sub(v.last); d > 0 {
		v.tokens = math.Min(float64(burst), v.tokens+d.Seconds()*rate)
		v.last = now
	}
	allowed, wait := false, time.Duration(0)
	if v.tokens >= float64(n) {
		v.tokens -= float64(n)
		allowed = true
	} else {
		wait = time.Duration(math.Ceil((float64(n) - v.tokens) / rate * 1e9))
	}
	v.full = v.last.Add(time.Duration((float64(burst) - v.tokens) / rate * 1e9))
	sh.m[key] = v
	return allowed, wait, nil
}
