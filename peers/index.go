package peers

import "sync"

// index is the peer lookup used on the forwarding path: sharded so that
// readers on different cores rarely share a lock, and updated in place so
// that admitting thousands of peers stays linear.
type index struct {
	shards [64]struct {
		mu sync.RWMutex
		m  map[string]*Peer
	}
}

func newIndex() *index {
	ix := &index{}
	for i := range ix.shards {
		ix.shards[i].m = map[string]*Peer{}
	}
	return ix
}

// shard picks a shard by FNV-1a of the (lower-case) key.
func (ix *index) shard(key []byte) int { return shardOf(key, len(ix.shards)) }

func shardOf[T string | []byte](key T, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % uint32(n))
}

func (ix *index) get(key []byte) *Peer {
	s := &ix.shards[ix.shard(key)]
	s.mu.RLock()
	p := s.m[string(key)]
	s.mu.RUnlock()
	return p
}

func (ix *index) getString(key string) *Peer {
	s := &ix.shards[shardOf(key, len(ix.shards))]
	s.mu.RLock()
	p := s.m[key]
	s.mu.RUnlock()
	return p
}

func (ix *index) put(key string, p *Peer) {
	s := &ix.shards[ix.shard([]byte(key))]
	s.mu.Lock()
	s.m[key] = p
	s.mu.Unlock()
}

func (ix *index) remove(key string, p *Peer) {
	s := &ix.shards[ix.shard([]byte(key))]
	s.mu.Lock()
	if s.m[key] == p {
		delete(s.m, key)
	}
	s.mu.Unlock()
}
