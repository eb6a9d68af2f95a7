package routing

import (
	"sync"
	"sync/atomic"
)

// countMap maps keys to counters. A lookup of a key already published is
// one atomic load and a map read, without a lock. A new key goes into a
// dirty map under the mutex; the dirty keys are merged into a new
// published map once the lookups that took the mutex since the last merge
// reach the size of the published map, so that a merge, which copies the
// whole map, costs O(1) per new key, amortized (sync.Map's scheme, with
// typed keys: a lookup converts nothing to an interface, so it does not
// allocate).
type countMap[K comparable, V any] struct {
	read atomic.Pointer[map[K]*V] // published: never modified

	mu     sync.Mutex
	dirty  map[K]*V // keys added since read was published
	misses int      // lookups under mu since read was published
}

// load returns k's value if it is published.
func (c *countMap[K, V]) load(k K) (*V, bool) {
	if m := c.read.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	return nil, false
}

// get returns k's value, adding a zero one when k is new.
func (c *countMap[K, V]) get(k K) *V {
	if v, ok := c.load(k); ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.lookupLocked(k)
	if !ok {
		v = new(V)
		c.storeLocked(k, v)
	}
	return v
}

// add stores v for k unless k is there already.
func (c *countMap[K, V]) add(k K, v *V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.lookupLocked(k); !ok {
		c.storeLocked(k, v)
	}
}

// lookupLocked is load, then the dirty keys.
func (c *countMap[K, V]) lookupLocked(k K) (*V, bool) {
	if v, ok := c.load(k); ok {
		return v, true
	}
	v, ok := c.dirty[k]
	if ok {
		c.missLocked()
	}
	return v, ok
}

// storeLocked adds k (absent) with v.
func (c *countMap[K, V]) storeLocked(k K, v *V) {
	if c.dirty == nil {
		c.dirty = map[K]*V{}
	}
	c.dirty[k] = v
	c.missLocked()
}

func (c *countMap[K, V]) missLocked() {
	c.misses++
	old := c.read.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if c.misses < n {
		return
	}
	m := make(map[K]*V, n+len(c.dirty))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	for k, v := range c.dirty {
		m[k] = v
	}
	c.read.Store(&m)
	c.dirty, c.misses = nil, 0
}

// deleteFunc removes the keys del reports; it copies the map, so it is
// for rare events (a peer gone).
func (c *countMap[K, V]) deleteFunc(del func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var m map[K]*V
	if old := c.read.Load(); old != nil {
		m = make(map[K]*V, len(*old))
		for k, v := range *old {
			if !del(k) {
				m[k] = v
			}
		}
	}
	for k := range c.dirty {
		if del(k) {
			delete(c.dirty, k)
		}
	}
	c.read.Store(&m)
}

// each calls f for every key.
func (c *countMap[K, V]) each(f func(K, *V)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.read.Load(); m != nil {
		for k, v := range *m {
			f(k, v)
		}
	}
	for k, v := range c.dirty {
		f(k, v)
	}
}

// len is the number of keys.
func (c *countMap[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.dirty)
	if m := c.read.Load(); m != nil {
		n += len(*m)
	}
	return n
}
