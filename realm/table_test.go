package realm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func relay(realm string, app uint32, peers ...string) Route {
	r := Route{Realm: realm, AppID: app, Action: Relay}
	for _, p := range peers {
		r.Peers = append(r.Peers, PeerRef{Host: p})
	}
	return r
}

func testTable(t *testing.T) *Table {
	t.Helper()
	any := relay("example.net", 0, "any.example.net")
	any.AnyApp = true
	any.Name = "example-any"
	gy := relay("example.net", 4, "ocs1.example.net")
	gy.Name = "example-gy"
	gyFromMME := relay("example.net", 4, "ocs2.example.net")
	gyFromMME.OriginHost = "MME1.visited.net"
	gyFromMME.Name = "example-gy-mme1"
	ccrUpdate := relay("example.net", 4, "ocs3.example.net")
	ccrUpdate.Commands = []uint32{272}
	ccrUpdate.OriginRealm = "partner.net"
	ccrUpdate.Name = "example-gy-partner"
	sub := relay("*.example.net", 3, "cdf.example.net")
	sub.Name = "sub-rf"
	deep := relay("*.ims.example.net", 3, "cdf-ims.example.net")
	deep.Name = "ims-rf"
	local := Route{Realm: "dra.test", AnyApp: true, Action: Local, Name: "local"}
	redirect := Route{Realm: "old.net", AnyApp: true, Action: Redirect, RedirectHosts: []string{"aaa://new.net"}, Name: "moved"}
	def := relay("*", 16777251, "hss.default.net")
	def.Name = "default-s6a"
	tb, err := Build([]Route{any, gy, gyFromMME, ccrUpdate, sub, deep, local, redirect, def})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestLookup(t *testing.T) {
	tb := testTable(t)
	tests := []struct {
		name        string
		realm       string
		app, cmd    uint32
		originHost  string
		originRealm string
		want        string
		res         Result
	}{
		{"exact app", "example.net", 4, 272, "", "", "example-gy", Found},
		{"case-insensitive realm", "EXAMPLE.Net", 4, 272, "", "", "example-gy", Found},
		{"any app", "example.net", 1, 265, "", "", "example-any", Found},
		{"origin host wins", "example.net", 4, 272, "mme1.VISITED.net", "", "example-gy-mme1", Found},
		{"origin realm and command", "example.net", 4, 272, "x", "partner.net", "example-gy-partner", Found},
		{"origin realm, other command", "example.net", 4, 258, "x", "partner.net", "example-gy", Found},
		{"suffix", "a.example.net", 3, 271, "", "", "sub-rf", Found},
		{"longest suffix first", "x.ims.example.net", 3, 271, "", "", "ims-rf", Found},
		{"suffix does not match the bare realm", "ims.example.net", 3, 271, "", "", "sub-rf", Found},
		{"suffix realm, other app, falls to default", "a.example.net", 16777251, 316, "", "", "default-s6a", Found},
		{"suffix realm, app nowhere", "a.example.net", 4, 272, "", "", "", NoApp},
		{"default route", "elsewhere.org", 16777251, 316, "", "", "default-s6a", Found},
		{"default route, other app", "elsewhere.org", 4, 272, "", "", "", NoApp},
		{"local", "dra.test", 4, 272, "", "", "local", Found},
		{"redirect", "old.net", 1, 1, "", "", "moved", Found},
		{"over-long realm", strings.Repeat("a", 300), 4, 272, "", "", "", NoRealm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, res := tb.Lookup(&Query{Realm: []byte(tt.realm), AppID: tt.app, Command: tt.cmd, OriginHost: []byte(tt.originHost), OriginRealm: []byte(tt.originRealm)})
			if res != tt.res {
				t.Fatalf("result %d, want %d", res, tt.res)
			}
			got := ""
			if r != nil {
				got = r.Name
			}
			if got != tt.want {
				t.Errorf("route %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNoDefaultMeansRealmNotServed(t *testing.T) {
	tb, err := Build([]Route{relay("example.net", 4, "p")})
	if err != nil {
		t.Fatal(err)
	}
	if _, res := tb.Lookup(&Query{Realm: []byte("other.net"), AppID: 4}); res != NoRealm {
		t.Fatalf("result %d, want NoRealm", res)
	}
	if _, res := tb.Lookup(&Query{Realm: []byte("example.net"), AppID: 3}); res != NoApp {
		t.Fatalf("result %d, want NoApp", res)
	}
}

func TestGroupsByPriority(t *testing.T) {
	r := Route{Realm: "x.net", AnyApp: true, Action: Proxy, Peers: []PeerRef{
		{Host: "b", Priority: 2, Weight: 10}, {Host: "a1", Priority: 1, Weight: 3}, {Host: "a2", Priority: 1},
	}}
	tb, err := Build([]Route{r})
	if err != nil {
		t.Fatal(err)
	}
	gs := tb.Routes()[0].Groups()
	if len(gs) != 2 || gs[0].Priority != 1 || len(gs[0].Peers) != 2 || gs[0].TotalWeight != 4 || gs[1].Peers[0].Host != "b" {
		t.Fatalf("groups %+v", gs)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name  string
		route Route
		want  string
	}{
		{"empty realm", Route{Action: Local, AnyApp: true}, "realm"},
		{"bad pattern", Route{Realm: "a.*.net", Action: Local}, "only a leading"},
		{"bad char", Route{Realm: "a b.net", Action: Local}, "character"},
		{"no action", Route{Realm: "a.net"}, "action"},
		{"relay without peers", Route{Realm: "a.net", Action: Relay}, "at least one peer"},
		{"redirect without hosts", Route{Realm: "a.net", Action: Redirect}, "redirect hosts"},
		{"peers on local", Route{Realm: "a.net", Action: Local, Peers: []PeerRef{{Host: "p"}}}, "only used by relay"},
		{"negative weight", Route{Realm: "a.net", Action: Relay, Peers: []PeerRef{{Host: "p", Weight: -1}}}, "negative weight"},
		{"duplicate peer", Route{Realm: "a.net", Action: Relay, Peers: []PeerRef{{Host: "p"}, {Host: "P"}}}, "twice"},
		{"bad usage", Route{Realm: "a.net", Action: Redirect, RedirectHosts: []string{"aaa://x"}, RedirectUsage: 9}, "Redirect-Host-Usage"},
		{"shared binding on local", Route{Realm: "a.net", Action: Local, SharedBinding: true}, "shared_binding needs action relay"},
		{"short binding ttl", Route{Realm: "a.net", Action: Relay, Peers: []PeerRef{{Host: "p"}}, SharedBinding: true, BindingTTL: time.Millisecond}, "binding_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build([]Route{tt.route})
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	_, err := Build([]Route{relay("a.net", 4, "p"), relay("A.net", 4, "q")})
	if err == nil || !strings.Contains(err.Error(), "same requests as routes[0]") {
		t.Fatalf("duplicate route: %v", err)
	}
}

func TestBuildCopies(t *testing.T) {
	rs := []Route{relay("a.net", 4, "p")}
	tb, _ := Build(rs)
	rs[0].Peers[0].Host = "changed"
	if tb.Routes()[0].Peers[0].Host != "p" {
		t.Fatal("table shares memory with its input")
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tb := testTable(t)
	q := &Query{Realm: []byte("x.IMS.example.net"), AppID: 3, Command: 271, OriginHost: []byte("h"), OriginRealm: []byte("r")}
	if n := testing.AllocsPerRun(100, func() { tb.Lookup(q) }); n != 0 {
		t.Fatalf("%v allocations per lookup", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	tb := manyRoutes(b, 100000)
	q := &Query{Realm: []byte("r77777.example.net"), AppID: 4, Command: 272}
	b.ReportAllocs()
	for b.Loop() {
		if _, res := tb.Lookup(q); res != Found {
			b.Fatal("no route")
		}
	}
}

// BenchmarkBuild100k is the cost of building (reloading) a table of
// 100,000 routes.
func BenchmarkBuild100k(b *testing.B) {
	rs := routesN(100000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(rs); err != nil {
			b.Fatal(err)
		}
	}
}

func routesN(n int) []Route {
	rs := make([]Route, n)
	for i := range rs {
		rs[i] = Route{Realm: fmt.Sprintf("r%d.example.net", i), AppID: 4, Action: Relay, Peers: []PeerRef{{Host: "p1", Weight: 2}, {Host: "p2", Priority: 1}}}
	}
	return rs
}

func manyRoutes(b *testing.B, n int) *Table {
	tb, err := Build(routesN(n))
	if err != nil {
		b.Fatal(err)
	}
	return tb
}
