package routing

import (
	"fmt"
	"testing"
	"time"

	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/wire"
)

// redirectRequest is a request of session sid, parsed as validate would.
func redirectRequest(t testing.TB, sid string) *Request {
	m := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, 316, 16777251, 0, 1)
	m = m.AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, sid)
	m = m.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "mme.client.test")
	m = m.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "client.test")
	m = m.AppendStringAVP(wire.AVPDestinationRealm, wire.AVPFlagMandatory, 0, "A.Test")
	m = m.AppendStringAVP(wire.AVPUserName, wire.AVPFlagMandatory, 0, "alice")
	r := &Request{Msg: m}
	if _, err := r.parse(); err != nil {
		t.Fatal(err)
	}
	return r
}

func redirectEntries(c *redirectCache) int {
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	return n
}

// The cache holds at most maxRedirects entries, however many sessions are
// redirected.
func TestRedirectCacheBounded(t *testing.T) {
	c := newRedirectCache()
	for i := range maxRedirects + 5000 {
		c.store(redirectRequest(t, fmt.Sprintf("s;%d", i)), realm.UsageAllSession, "hss.a.test", time.Hour)
	}
	if n := redirectEntries(c); n > maxRedirects || int64(n) != c.n.Load() {
		t.Fatalf("%d entries (counted %d), at most %d wanted", n, c.n.Load(), maxRedirects)
	}
}

// Expired entries are dropped by the sweep and by the lookup that meets
// them; once none is left lookups are skipped again.
func TestRedirectCachePrunesExpired(t *testing.T) {
	rt := &Router{redir: newRedirectCache()}
	c := rt.redir
	for i := range 100 {
		c.store(redirectRequest(t, fmt.Sprintf("s;%d", i)), realm.UsageAllSession, "hss.a.test", time.Millisecond)
	}
	c.store(redirectRequest(t, "x"), realm.UsageRealmAndApplication, "hss.a.test", time.Millisecond)
	time.Sleep(2 * time.Millisecond) // the entries' lifetime, not a synchronisation
	if a := c.lookup(rt, redirectRequest(t, "s;7")); a != nil {
		t.Fatal("expired redirect used")
	}
	if n := redirectEntries(c); n != 99 {
		t.Errorf("%d entries after the lookups, want 99: the expired ones met were not dropped", n)
	}
	c.sweep()
	if n := redirectEntries(c); n != 0 || c.active() {
		t.Fatalf("%d entries left after the sweep, active %v", n, c.active())
	}
	for k := range c.kinds {
		if n := c.kinds[k].Load(); n != 0 {
			t.Errorf("kind %d: %d entries counted", k, n)
		}
	}
}

// Keys are case-insensitive where the AVP is (realms, hosts) and exact
// where it is not (Session-Id, User-Name).
func TestRedirectCacheKeys(t *testing.T) {
	c := newRedirectCache()
	r := redirectRequest(t, "Sess;1")
	for _, u := range []uint32{realm.UsageAllSession, realm.UsageAllRealm, realm.UsageRealmAndApplication, realm.UsageAllApplication, realm.UsageAllUser, realm.UsageAllHost, realm.UsageDontCache, 99} {
		c.store(r, u, "hss.a.test", time.Hour)
	}
	var keys []string
	for i := range c.shards {
		for k := range c.shards[i].m {
			keys = append(keys, fmt.Sprintf("%q", k))
		}
	}
	// No Destination-Host: ALL_HOST caches nothing.
	if len(keys) != 5 {
		t.Fatalf("keys %v", keys)
	}
	want := map[string]bool{
		"\x01Sess;1": true, "\x04a.test": true, "\x03\x01\x00\x00\x23a.test": true, "\x05\x01\x00\x00\x23": true, "\x00alice": true,
	}
	for i := range c.shards {
		for k := range c.shards[i].m {
			if !want[k] {
				t.Errorf("unexpected key %q", k)
			}
		}
	}
}
