//go:build !race

package routing

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/dra-project/dra/realm"
)

// Once the redirect cache holds anything every routed request looks it
// up: the lookup must not allocate.
func TestRedirectLookupDoesNotAllocate(t *testing.T) {
	rt := &Router{redir: newRedirectCache()}
	fillRedirects(t, rt.redir)
	r := redirectRequest(t, "not cached")
	if n := testing.AllocsPerRun(1000, func() { rt.redir.lookup(rt, r) }); n != 0 {
		t.Fatalf("%v allocations per lookup", n)
	}
}

// fillRedirects caches redirects of every usage for other sessions, users
// and realms than redirectRequest's.
func fillRedirects(tb testing.TB, c *redirectCache) {
	for i := range 1000 {
		other := redirectRequest(tb, fmt.Sprintf("s;%d", i))
		c.store(other, realm.UsageAllSession, "hss.a.test", time.Hour)
	}
	other := redirectRequest(tb, "x")
	binary.BigEndian.PutUint32(other.Msg[8:12], 4) // another application
	c.store(other, realm.UsageAllApplication, "hss.a.test", time.Hour)
}

// BenchmarkRedirectLookupParallel is the cost a non-empty redirect cache
// adds to every routed request, on every core at once.
func BenchmarkRedirectLookupParallel(b *testing.B) {
	rt := &Router{redir: newRedirectCache()}
	fillRedirects(b, rt.redir)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := redirectRequest(b, "not cached")
		for pb.Next() {
			rt.redir.lookup(rt, r)
		}
	})
}
