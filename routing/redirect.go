package routing

import (
	"bytes"
	"strconv"
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

// redirectCache remembers followed redirects per Redirect-Host-Usage.
type redirectCache struct {
	n  atomic.Int64 // entries, so that lookups are free while empty
	mu sync.Mutex
	m  map[string]redirectEntry
}

type redirectEntry struct {
	host    string
	expires time.Time
}

func newRedirectCache() *redirectCache { return &redirectCache{m: map[string]redirectEntry{}} }

func (c *redirectCache) active() bool { return c.n.Load() > 0 }

// keys lists the cache keys a request can match, most specific first.
func redirectKeys(r *Request) []string {
	app := strconv.FormatUint(uint64(r.Msg.AppID()), 10)
	keys := []string{
		"s|" + string(r.SessionID()),
		"h|" + string(r.DestHost()),
		"ra|" + string(bytes.ToLower(r.DestRealm())) + "|" + app,
		"r|" + string(bytes.ToLower(r.DestRealm())),
		"a|" + app,
	}
	if u, ok := r.Msg.Find(wire.AVPUserName, 0); ok {
		keys = append([]string{"u|" + string(u.Data)}, keys...)
	}
	return keys
}

func (c *redirectCache) store(r *Request, usage uint32, host string, ttl time.Duration) {
	var key string
	app := strconv.FormatUint(uint64(r.Msg.AppID()), 10)
	switch usage {
	case realm.UsageAllSession:
		key = "s|" + string(r.SessionID())
	case realm.UsageAllRealm:
		key = "r|" + string(bytes.ToLower(r.DestRealm()))
	case realm.UsageRealmAndApplication:
		key = "ra|" + string(bytes.ToLower(r.DestRealm())) + "|" + app
	case realm.UsageAllApplication:
		key = "a|" + app
	case realm.UsageAllHost:
		key = "h|" + string(r.DestHost())
	case realm.UsageAllUser:
		u, ok := r.Msg.Find(wire.AVPUserName, 0)
		if !ok {
			return
		}
		key = "u|" + string(u.Data)
	default:
		return
	}
	c.mu.Lock()
	if _, ok := c.m[key]; !ok {
		c.n.Add(1)
	}
	c.m[key] = redirectEntry{host: host, expires: time.Now().Add(ttl)}
	c.mu.Unlock()
}

// lookup returns the usable peer a cached redirect names for r.
func (c *redirectCache) lookup(rt *Router, r *Request) *peers.Active {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range redirectKeys(r) {
		e, ok := c.m[k]
		if !ok {
			continue
		}
		if now.After(e.expires) {
			delete(c.m, k)
			c.n.Add(-1)
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
