package aaa

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"

	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/state"
	"github.com/dra-project/dra/wire"
)

// sharedTimeout bounds one Redis operation in the tests.
const sharedTimeout = 500 * time.Millisecond

// sharedAgent is an agent whose server keeps its sessions in the Redis
// at addrs, under prefix.
func sharedAgent(t testing.TB, cfg Config, prefix string, addrs ...string) *agent {
	t.Helper()
	r, err := state.NewRedis(state.RedisConfig{Addrs: addrs, KeyPrefix: prefix, Timeout: sharedTimeout}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	a := startAgentWith(t, "127.0.0.1:0", func(orig Originator) (*Server, error) {
		return NewShared(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, orig, r, testLogger(t))
	})
	t.Cleanup(func() { r.Close() }) // after the agent's stop (cleanups run last first)
	return a
}

// storeBackend builds an agent on one store; each call a fresh one
// (another data directory, another key prefix).
type storeBackend struct {
	name  string
	start func(t *testing.T, cfg Config) *agent
}

// storeBackends starts Redis (and a three-node Cluster) once, for the
// whole of parent.
func storeBackends(parent *testing.T) []storeBackend {
	var (
		once    sync.Once
		r       *redistest.Server
		cluster *redistest.Cluster
		onceC   sync.Once
		n       int
		mu      sync.Mutex
	)
	prefix := func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("t%d:", n)
	}
	return []storeBackend{
		{"embedded", func(t *testing.T, cfg Config) *agent { return startAgent(t, cfg, "127.0.0.1:0") }},
		{"redis", func(t *testing.T, cfg Config) *agent {
			once.Do(func() { r = redistest.Start(parent, redistest.Options{AOF: true}) })
			return sharedAgent(t, cfg, prefix(), r.Addr)
		}},
		{"redis-cluster", func(t *testing.T, cfg Config) *agent {
			onceC.Do(func() { cluster = redistest.StartCluster(parent, 3, redistest.Options{}) })
			return sharedAgent(t, cfg, prefix(), cluster.Addrs()...)
		}},
	}
}

// TestSessionStoreContract: what a NAS sees is the same on every store.
func TestSessionStoreContract(t *testing.T) {
	inPool := netip.MustParsePrefix("10.9.0.0/24")
	backends := storeBackends(t)
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		run  func(t *testing.T, a *agent, n *nas)
	}{
		{"resent AAR gets the same address", nil, func(t *testing.T, a *agent, n *nas) {
			first := n.call(t, n.aar("c;1", LabUser, 3, pap("demo")))
			again := n.call(t, retransmit(n.aar("c;1", LabUser, 3, pap("demo"))))
			if resultOf(first) != 2001 || resultOf(again) != 2001 {
				t.Fatalf("AARs answered %s, %s", describe(first), describe(again))
			}
			if ip := framedAddr(first); !inPool.Contains(ip) || framedAddr(again) != ip {
				t.Fatalf("addresses %v then %v", ip, framedAddr(again))
			}
			s, ok := a.srv.Session("c;1")
			if !ok || s.Addr != framedAddr(first).String() || s.User != LabUser || s.NASHost != n.host {
				t.Fatalf("session %+v, %v", s, ok)
			}
			if all := a.srv.Sessions(); len(all) != 1 {
				t.Fatalf("%d sessions", len(all))
			}
		}},
		{"session of another user", nil, func(t *testing.T, a *agent, n *nas) {
			if rc := resultOf(n.call(t, n.aar("c;2", LabUser, 3, pap("demo")))); rc != 2001 {
				t.Fatalf("AAR: %d", rc)
			}
			if _, err := a.srv.authorize("c;2", "mallory", n.host, nasRealm); !errors.Is(err, errUserMismatch) {
				t.Fatalf("authorize as another user: %v", err)
			}
		}},
		{"STR ends; resent STR gets the STA; late AAR 5012", nil, func(t *testing.T, a *agent, n *nas) {
			n.call(t, n.aar("c;3", LabUser, 3, pap("demo")))
			for i, m := range []*diam.Message{n.str("c;3"), retransmit(n.str("c;3"))} {
				if ans := n.call(t, m); resultOf(ans) != 2001 || str(find(ans.AVP, 1)) != LabUser {
					t.Fatalf("STR %d: %s, User-Name %q", i, describe(ans), str(find(ans.AVP, 1)))
				}
			}
			if _, ok := a.srv.Session("c;3"); ok {
				t.Fatal("session still held")
			}
			ans := n.call(t, retransmit(n.aar("c;3", LabUser, 3, pap("demo"))))
			if resultOf(ans) != wire.ResultUnableToComply || framedAddr(ans).IsValid() {
				t.Fatalf("late AAR: %s, address %v", describe(ans), framedAddr(ans))
			}
			if rc := resultOf(n.call(t, n.str("c;never"))); rc != wire.ResultUnknownSessionID {
				t.Fatalf("STR of an unknown session: %d", rc)
			}
		}},
		{"pool exhausted, then released", func(c *Config) { c.Pool = "10.9.0.0/30" }, func(t *testing.T, a *agent, n *nas) {
			got := map[netip.Addr]string{}
			for i := range 2 {
				sid := fmt.Sprintf("c;p%d", i)
				ans := n.call(t, n.aar(sid, LabUser, 3, pap("demo")))
				if resultOf(ans) != 2001 {
					t.Fatalf("AAR %d: %s", i, describe(ans))
				}
				got[framedAddr(ans)] = sid
			}
			if len(got) != 2 {
				t.Fatalf("addresses %v", got)
			}
			ans := n.call(t, n.aar("c;p2", LabUser, 3, pap("demo")))
			if resultOf(ans) != wire.ResultUnableToComply || !strings.Contains(describe(ans), "exhausted") {
				t.Fatalf("third AAR: %s", describe(ans))
			}
			n.call(t, n.str("c;p0"))
			ans = n.call(t, n.aar("c;p3", LabUser, 3, pap("demo")))
			if resultOf(ans) != 2001 || got[framedAddr(ans)] != "c;p0" {
				t.Fatalf("AAR after STR: %s, address %v", describe(ans), framedAddr(ans))
			}
		}},
		{"expiry releases", func(c *Config) { c.SessionTimeout = time.Minute }, func(t *testing.T, a *agent, n *nas) {
			n.call(t, n.aar("c;e", LabUser, 3, pap("demo")))
			s, ok := a.srv.Session("c;e")
			if exp, has := s.Expires(); !ok || !has || exp.Sub(time.Unix(0, s.Started)) != time.Minute {
				t.Fatalf("session %+v", s)
			}
			if got := a.srv.expire(time.Now().Add(2 * time.Minute)); got != 1 {
				t.Fatalf("expired %d sessions", got)
			}
			if _, ok := a.srv.Session("c;e"); ok {
				t.Fatal("session still held")
			}
			if rc := resultOf(n.call(t, n.str("c;e"))); rc != wire.ResultUnknownSessionID {
				t.Fatalf("STR of an expired session: %d", rc)
			}
		}},
		{"ASA 2001 ends the session", nil, func(t *testing.T, a *agent, n *nas) {
			n.call(t, n.aar("c;a", LabUser, 3, pap("demo")))
			if err := a.srv.Abort("c;a"); err != nil {
				t.Fatal(err)
			}
			if _, ok := a.srv.Session("c;a"); ok {
				t.Fatal("session still held")
			}
			if rc := resultOf(n.call(t, n.str("c;a"))); rc != 2001 {
				t.Fatalf("STR after ASA: %d", rc)
			}
			if err := a.srv.Abort("c;a"); !errors.Is(err, ErrUnknownSession) {
				t.Fatalf("second Abort: %v", err)
			}
		}},
	} {
		for _, b := range backends {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				cfg := testConfig(t)
				if tc.cfg != nil {
					tc.cfg(&cfg)
				}
				a := b.start(t, cfg)
				tc.run(t, a, dialNAS(t, a.addr(), "nas.client.test"))
			})
		}
	}
}
