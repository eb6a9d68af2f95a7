package routing

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/wire"
)

// redirectAnswer answers 3006 DIAMETER_REDIRECT_INDICATION for a redirect
// route (RFC 6733 §6.13): Redirect-Host, Redirect-Host-Usage and
// Redirect-Max-Cache-Time.
func (rt *Router) redirectAnswer(r *Request, route *realm.Route) Answer {
	a := wire.Msg(rt.errorAnswer(r, wire.ResultRedirectIndication, ""))
	for _, h := range route.RedirectHosts {
		a = a.AppendStringAVP(wire.AVPRedirectHost, wire.AVPFlagMandatory, 0, h)
	}
	a = a.AppendUint32AVP(wire.AVPRedirectHostUsage, wire.AVPFlagMandatory, 0, route.RedirectUsage)
	a = a.AppendUint32AVP(wire.AVPRedirectMaxCacheTime, wire.AVPFlagMandatory, 0, uint32(route.RedirectMaxCache/time.Second))
	return a
}

// followRedirect resends r to a host named in a 3006 answer, when one is an
// eligible peer, and caches the redirect as its usage says. It reports
// whether r was resent (or answered): false lets the 3006 go back.
func (rt *Router) followRedirect(r *Request, ans wire.Msg) bool {
	usage := realm.UsageDontCache
	if a, ok := ans.Find(wire.AVPRedirectHostUsage, 0); ok {
		usage, _ = a.Uint32()
	}
	maxCache := time.Duration(0)
	if a, ok := ans.Find(wire.AVPRedirectMaxCacheTime, 0); ok {
		v, _ := a.Uint32()
		maxCache = time.Duration(v) * time.Second
	}
	it := ans.AVPs()
	for it.Next() {
		a := it.AVP()
		if a.Code != wire.AVPRedirectHost || a.VendorID != 0 {
			continue
		}
		p := rt.peers.PeerByIdentity(uriHost(a.Data))
		if p == nil || r.triedPeer(p) {
			continue
		}
		act := p.Active()
		if act == nil || !act.Apps.Supports(r.Msg.AppID()) {
			continue
		}
		rt.stats.Redirects.Add(1)
		if usage != realm.UsageDontCache && maxCache > 0 {
			rt.redir.store(r, usage, p.Identity(), maxCache)
		}
		if ans := rt.forwardTo(r, act); ans != nil {
			rt.reply(r, ans)
			r.release()
		}
		return true
	}
	return false
}

// uriHost extracts the FQDN from a DiameterURI (RFC 6733 §4.3.1):
// "aaa://host:port;transport=tcp" or "aaas://host" -> host.
func uriHost(uri []byte) []byte {
	if i := bytes.Index(uri, []byte("://")); i >= 0 {
		uri = uri[i+3:]
	}
	if i := bytes.IndexAny(uri, ":;/"); i >= 0 {
		uri = uri[:i]
	}
	return uri
}

// Redirect cache bounds.
const (
	redirectShards = 16
	// maxRedirects bounds the cache. A store into a full shard first drops
	// the shard's expired entries, then an arbitrary one.
	maxRedirects = 1 << 16
	// redirectSweep is how often expired entries are dropped.
	redirectSweep = 30 * time.Second
)

// Redirect cache key kinds, in lookup order: most specific first. A key
// is its kind byte followed by the User-Name, Session-Id or lower-cased
// Destination-Host; the big-endian Application-Id and the lower-cased
// Destination-Realm; the Destination-Realm; the Application-Id.
const (
	kindUser = iota
	kindSession
	kindHost
	kindRealmApp
	kindRealm
	kindApp
	nKinds
)

// redirectCache remembers followed redirects per Redirect-Host-Usage
// (RFC 6733 §6.13). Lookups take only read locks, on the shards that
// hold their keys, and only for the kinds of key the cache holds: an
// empty cache costs one atomic load.
type redirectCache struct {
	n      atomic.Int64         // entries
	kinds  [nKinds]atomic.Int64 // entries by kind
	shards [redirectShards]redirectShard
}

type redirectShard struct {
	mu sync.RWMutex
	m  map[string]redirectEntry
}

type redirectEntry struct {
	host    string
	expires int64 // UnixNano
}

func newRedirectCache() *redirectCache {
	c := &redirectCache{}
	for i := range c.shards {
		c.shards[i].m = map[string]redirectEntry{}
	}
	return c
}

func (c *redirectCache) active() bool { return c.n.Load() > 0 }

// keyBuf holds a key being built; longer keys spill to the heap.
type keyBuf [320]byte

// redirectKey builds r's key of kind into buf; ok is false when r has
// nothing to key on (no User-Name, say).
func redirectKey(buf *keyBuf, r *Request, kind int) (key []byte, ok bool) {
	key = append(buf[:0], byte(kind))
	switch kind {
	case kindUser:
		u, found := r.Msg.Find(wire.AVPUserName, 0)
		if !found {
			return nil, false
		}
		return append(key, u.Data...), true
	case kindSession:
		sid := r.SessionID()
		return append(key, sid...), len(sid) > 0
	case kindHost:
		h := r.DestHost()
		return appendLower(key, h), len(h) > 0
	case kindRealmApp:
		key = binary.BigEndian.AppendUint32(key, r.Msg.AppID())
		return appendLower(key, r.DestRealm()), len(r.DestRealm()) > 0
	case kindRealm:
		return appendLower(key, r.DestRealm()), len(r.DestRealm()) > 0
	case kindApp:
		return binary.BigEndian.AppendUint32(key, r.Msg.AppID()), true
	}
	return nil, false
}

func appendLower(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, lowerASCII(c))
	}
	return dst
}

// usageKind is the key kind a Redirect-Host-Usage caches under; false for
// DONT_CACHE and unknown values.
func usageKind(usage uint32) (int, bool) {
	switch usage {
	case realm.UsageAllSession:
		return kindSession, true
	case realm.UsageAllRealm:
		return kindRealm, true
	case realm.UsageRealmAndApplication:
		return kindRealmApp, true
	case realm.UsageAllApplication:
		return kindApp, true
	case realm.UsageAllHost:
		return kindHost, true
	case realm.UsageAllUser:
		return kindUser, true
	}
	return 0, false
}

func (c *redirectCache) shard(key []byte) *redirectShard {
	return &c.shards[fnv64(fnvOffset, key)%redirectShards]
}

// store caches host for the requests r's usage names, for ttl.
func (c *redirectCache) store(r *Request, usage uint32, host string, ttl time.Duration) {
	kind, ok := usageKind(usage)
	if !ok {
		return
	}
	var buf keyBuf
	key, ok := redirectKey(&buf, r, kind)
	if !ok {
		return
	}
	now := time.Now().UnixNano()
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[string(key)]; !ok {
		if len(sh.m) >= maxRedirects/redirectShards {
			c.sweepLocked(sh, now)
		}
		if len(sh.m) >= maxRedirects/redirectShards {
			for k := range sh.m {
				c.deleteLocked(sh, k)
				break
			}
		}
		c.n.Add(1)
		c.kinds[kind].Add(1)
	}
	sh.m[string(key)] = redirectEntry{host: host, expires: now + int64(ttl)}
}

// lookup returns the usable peer a cached redirect names for r.
func (c *redirectCache) lookup(rt *Router, r *Request) *peers.Active {
	var now int64
	var buf keyBuf
	for kind := range nKinds {
		if c.kinds[kind].Load() == 0 {
			continue
		}
		key, ok := redirectKey(&buf, r, kind)
		if !ok {
			continue
		}
		sh := c.shard(key)
		sh.mu.RLock()
		e, found := sh.m[string(key)]
		sh.mu.RUnlock()
		if !found {
			continue
		}
		if now == 0 {
			now = time.Now().UnixNano()
		}
		if now > e.expires {
			sh.mu.Lock()
			if e, found := sh.m[string(key)]; found && now > e.expires {
				c.deleteLocked(sh, string(key))
			}
			sh.mu.Unlock()
			continue
		}
		if p := rt.peers.Peer(e.host); p != nil {
			if a := p.Active(); a != nil && a.Apps.Supports(r.Msg.AppID()) {
				return a
			}
		}
	}
	return nil
}

// deleteLocked removes key from sh, whose lock is held.
func (c *redirectCache) deleteLocked(sh *redirectShard, key string) {
	delete(sh.m, key)
	c.n.Add(-1)
	c.kinds[key[0]].Add(-1)
}

// sweepLocked drops sh's expired entries; sh's lock is held.
func (c *redirectCache) sweepLocked(sh *redirectShard, now int64) {
	for k, e := range sh.m {
		if now > e.expires {
			c.deleteLocked(sh, k)
		}
	}
}

// sweep drops every expired entry.
func (c *redirectCache) sweep() {
	if !c.active() {
		return
	}
	now := time.Now().UnixNano()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		c.sweepLocked(sh, now)
		sh.mu.Unlock()
	}
}

// sweepEvery sweeps the cache every d until ctx ends.
func (c *redirectCache) sweepEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.sweep()
		}
	}
}
