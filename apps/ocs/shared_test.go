package ocs

import (
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"

	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/state"
)

// sharedTimeout bounds one Redis operation in the tests (loaded machine,
// -race).
const sharedTimeout = 2 * time.Second

// node is one OCS of a test with its own Diameter stack; stop may be
// called before the test's end.
type node struct {
	*stack
	once sync.Once
}

func (n *node) stop() { n.once.Do(n.stack.stop) }

// backend starts OCS instances on one store.
type backend struct {
	name  string
	start func(t *testing.T, cfg Config) *node
}

// startNode starts an OCS built by newOCS and stops it at the test's end.
func startNode(t *testing.T, newOCS func(Originator) (*Server, error)) *node {
	t.Helper()
	st, err := startAgentWith(newOCS, quietLogger(testWriter{t}), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{stack: st}
	t.Cleanup(n.stop)
	return n
}

// sharedNode starts an OCS on the shared store at addrs (one: standalone,
// several: Cluster), with its own Redis client as another agent would
// have.
func sharedNode(t *testing.T, cfg Config, addrs ...string) *node {
	t.Helper()
	log := quietLogger(testWriter{t})
	r, err := state.NewRedis(state.RedisConfig{Addrs: addrs, KeyPrefix: "t:", Timeout: sharedTimeout}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return startNode(t, func(orig Originator) (*Server, error) {
		return NewShared(cfg, Identity{OriginHost: agentHost, OriginRealm: agentRealm}, orig, r, log)
	})
}

// backends are the two stores: embedded (one data directory), redis (one
// redis-server with AOF) and redis-cluster (three nodes).
func backends(t *testing.T) []backend {
	return []backend{
		{"embedded", func(t *testing.T, cfg Config) *node {
			return startNode(t, func(orig Originator) (*Server, error) {
				return New(cfg, Identity{OriginHost: agentHost, OriginRealm: agentRealm}, orig, quietLogger(testWriter{t}))
			})
		}},
		{"redis", func(t *testing.T, cfg Config) *node { return sharedNode(t, cfg, redisOf(t).Addr) }},
		{"redis-cluster", func(t *testing.T, cfg Config) *node { return sharedNode(t, cfg, clusterOf(t).Addrs()...) }},
	}
}

var (
	redisMu       sync.Mutex
	redisByTest   = map[*testing.T]*redistest.Server{}
	clusterByTest = map[*testing.T]*redistest.Cluster{}
)

// clusterOf returns the test's Redis Cluster, started on first use.
func clusterOf(t *testing.T) *redistest.Cluster {
	redisMu.Lock()
	defer redisMu.Unlock()
	c := clusterByTest[t]
	if c == nil {
		c = redistest.StartCluster(t, 3, redistest.Options{})
		clusterByTest[t] = c
		t.Cleanup(func() {
			redisMu.Lock()
			delete(clusterByTest, t)
			redisMu.Unlock()
		})
	}
	return c
}

// redisOf returns the test's redis-server, started on first use.
func redisOf(t *testing.T) *redistest.Server {
	redisMu.Lock()
	defer redisMu.Unlock()
	r := redisByTest[t]
	if r == nil {
		r = redistest.Start(t, redistest.Options{AOF: true})
		redisByTest[t] = r
		t.Cleanup(func() {
			redisMu.Lock()
			delete(redisByTest, t)
			redisMu.Unlock()
		})
	}
	return r
}

// grantedOctets is the top-level Granted-Service-Unit's octets.
func grantedOctets(m *diam.Message) uint64 {
	a, err := m.FindAVP(avp.GrantedServiceUnit, 0)
	if err != nil {
		return 0
	}
	return parseServiceUnit(a).amt[unitOctets]
}

func errorMessage(m *diam.Message) string {
	if a, err := m.FindAVP(avp.ErrorMessage, 0); err == nil {
		return str(a)
	}
	return ""
}

func debit(sid string, num uint32, n uint64) *diam.Message {
	return ccrMsg(sid, requestEvent, num, subAVP(0, msisdn2), requestedAction(actionDirectDebiting), octets(avp.RequestedServiceUnit, n))
}

// TestCreditStoreContract runs one sequence of requests against each
// store, with restarts between them: the same answers, the same balances,
// retransmissions answered as the first time and charged once, a number
// below the last one 5012.
func TestCreditStoreContract(t *testing.T) {
	const sid, esid = "pgw;contract;1", "pgw;contract;ev"
	type step struct {
		name    string
		msg     func() *diam.Message
		code    uint32
		granted uint64
		same    string // the step whose answer this one repeats
		restart bool   // stop the OCS and start a new one on the store first
		// avail and used are msisdn's octets after the step; avail2 msisdn2's.
		avail, used, avail2 uint64
	}
	const start = 500_000_000
	steps := []step{
		{name: "CCR-I", msg: func() *diam.Message {
			return ccrMsg(sid, requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 300_000))
		}, code: 2001, granted: 300_000, avail: start - 300_000, avail2: start},
		{name: "CCR-U", msg: func() *diam.Message { return ccrU(sid, requestUpdate, 1, 250_000, true) },
			code: 2001, granted: 100_000, avail: start - 350_000, used: 250_000, avail2: start},
		{name: "CCR-U resent", msg: func() *diam.Message { return retransmit(ccrU(sid, requestUpdate, 1, 250_000, true)) },
			code: 2001, same: "CCR-U", avail: start - 350_000, used: 250_000, avail2: start},
		{name: "CCR-U resent after restart", restart: true, msg: func() *diam.Message { return retransmit(ccrU(sid, requestUpdate, 1, 250_000, true)) },
			code: 2001, same: "CCR-U", avail: start - 350_000, used: 250_000, avail2: start},
		{name: "CCR-U below the last number", msg: func() *diam.Message { return ccrU(sid, requestUpdate, 0, 1_000, true) },
			code: 5012, avail: start - 350_000, used: 250_000, avail2: start},
		{name: "CCR-U over the reservation", msg: func() *diam.Message { return ccrU(sid, requestUpdate, 2, 150_000, true) },
			code: 2001, granted: 100_000, avail: start - 500_000, used: 400_000, avail2: start},
		{name: "CCR-T", msg: func() *diam.Message { return ccrU(sid, requestTermination, 3, 60_000, false) },
			code: 2001, avail: start - 460_000, used: 460_000, avail2: start},
		{name: "CCR-T resent", msg: func() *diam.Message { return retransmit(ccrU(sid, requestTermination, 3, 60_000, false)) },
			code: 2001, same: "CCR-T", avail: start - 460_000, used: 460_000, avail2: start},
		{name: "CCR-T resent after restart", restart: true, msg: func() *diam.Message { return retransmit(ccrU(sid, requestTermination, 3, 60_000, false)) },
			code: 2001, same: "CCR-T", avail: start - 460_000, used: 460_000, avail2: start},
		{name: "CCR-U after CCR-T", msg: func() *diam.Message { return ccrU(sid, requestUpdate, 4, 1, true) },
			code: 5002, avail: start - 460_000, used: 460_000, avail2: start},
		{name: "EVENT", msg: func() *diam.Message { return debit(esid, 0, 7_000) },
			code: 2001, granted: 7_000, avail: start - 460_000, used: 460_000, avail2: start - 7_000},
		{name: "EVENT resent after restart", restart: true, msg: func() *diam.Message { return retransmit(debit(esid, 0, 7_000)) },
			code: 2001, same: "EVENT", avail: start - 460_000, used: 460_000, avail2: start - 7_000},
		{name: "CCR-I unknown subscriber", msg: func() *diam.Message {
			return ccrMsg("pgw;contract;unknown", requestInitial, 0, subAVP(0, "49170999"), octets(avp.RequestedServiceUnit, 1))
		}, code: 5030, avail: start - 460_000, used: 460_000, avail2: start - 7_000},
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg := resendConfig(t.TempDir())
			n := b.start(t, cfg)
			c := newClient(t, n.addr)
			answers := map[string]*diam.Message{}
			for _, s := range steps {
				if s.restart {
					n.stop()
					n = b.start(t, cfg)
					c = newClient(t, n.addr)
				}
				a := c.call(t, s.msg())
				if got := resultCode(a); got != s.code {
					t.Fatalf("%s: Result-Code %d, want %d (%s)", s.name, got, s.code, errorMessage(a))
				}
				if got := grantedOctets(a); s.same == "" && got != s.granted {
					t.Errorf("%s: granted %d, want %d", s.name, got, s.granted)
				}
				if s.same != "" {
					sameAnswer(t, s.name, answers[s.same], a)
				}
				answers[s.name] = a
				acct, ok := n.srv.Account(0, msisdn)
				acct2, ok2 := n.srv.Account(0, msisdn2)
				if !ok || !ok2 {
					t.Fatalf("%s: accounts not found", s.name)
				}
				if acct.Available.Octets != s.avail || acct.Used.Octets != s.used || acct2.Available.Octets != s.avail2 {
					t.Errorf("%s: available %d used %d, second account available %d; want %d, %d, %d", s.name,
						acct.Available.Octets, acct.Used.Octets, acct2.Available.Octets, s.avail, s.used, s.avail2)
				}
			}
		})
	}
}

// TestSharedProvisionKeepsBalance: an account already in Redis keeps its
// balance when an OCS starts with another configured balance; Blocked is
// taken from configuration.
func TestSharedProvisionKeepsBalance(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	cfg := resendConfig(t.TempDir())
	a := sharedNode(t, cfg, r.Addr)
	c := newClient(t, a.addr)
	if ans := c.call(t, debit("pgw;prov;1", 0, 1_000)); resultCode(ans) != 2001 {
		t.Fatalf("EVENT: %d", resultCode(ans))
	}
	a.stop()
	cfg.Accounts[1].Balance.Octets = 42
	cfg.Accounts[1].Blocked = true
	b := sharedNode(t, cfg, r.Addr)
	info, ok := b.srv.Account(0, msisdn2)
	if !ok || info.Available.Octets != 500_000_000-1_000 || info.Used.Octets != 1_000 || !info.Blocked {
		t.Fatalf("account after restart with another configured balance: %+v (found %v); want the balance kept and blocked", info, ok)
	}
}

// TestSharedRedisDownAtStart: an OCS started while Redis is down starts,
// answers 5012 with an Error-Message, and once Redis is up serves the
// configured accounts with their configured balance.
func TestSharedRedisDownAtStart(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	r.Kill()
	n := sharedNode(t, resendConfig(t.TempDir()), r.Addr)
	c := newClient(t, n.addr)
	ini := func() *diam.Message {
		return ccrMsg("pgw;down;1", requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 100_000))
	}
	if a := c.call(t, ini()); resultCode(a) != 5012 || errorMessage(a) != "credit store unavailable" {
		t.Fatalf("CCR-I with Redis down: %d %q; want 5012 \"credit store unavailable\"", resultCode(a), errorMessage(a))
	}
	r.Restart()
	if a := c.call(t, retransmit(ini())); resultCode(a) != 2001 || grantedOctets(a) != 100_000 {
		t.Fatalf("CCR-I resent with Redis up: %d granted %d", resultCode(a), grantedOctets(a))
	}
	if info, ok := n.srv.Account(0, msisdn); !ok || info.Available.Octets != 500_000_000-100_000 {
		t.Fatalf("account: %+v (found %v); want the configured balance less the grant", info, ok)
	}
}

// TestSharedRedisPausedCommitLost: Redis stops answering (SIGSTOP) while
// a CCR-U's commit is on its way; the OCS answers 5012 after the timeout.
// Whether or not Redis runs the commit it had received once resumed, the
// resent CCR-U (twice) is answered 2001 and charged once.
func TestSharedRedisPausedCommitLost(t *testing.T) {
	const sid = "pgw;paused;1"
	r := redistest.Start(t, redistest.Options{})
	n := sharedNode(t, resendConfig(t.TempDir()), r.Addr)
	c := newClient(t, n.addr)
	if a := c.call(t, ccrMsg(sid, requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 100_000))); resultCode(a) != 2001 {
		t.Fatalf("CCR-I: %d", resultCode(a))
	}
	r.Pause()
	a := c.call(t, ccrU(sid, requestUpdate, 1, 150_000, true))
	r.Resume()
	if resultCode(a) != 5012 || errorMessage(a) != "credit store unavailable" {
		t.Fatalf("CCR-U with Redis paused: %d %q; want 5012", resultCode(a), errorMessage(a))
	}
	for range 2 {
		if a := c.call(t, retransmit(ccrU(sid, requestUpdate, 1, 150_000, true))); resultCode(a) != 2001 || grantedOctets(a) != 100_000 {
			t.Fatalf("CCR-U resent: %d granted %d", resultCode(a), grantedOctets(a))
		}
	}
	if info, ok := n.srv.Account(0, msisdn); !ok || info.Used.Octets != 150_000 || info.Available.Octets != 500_000_000-250_000 {
		t.Fatalf("account: %+v (found %v); want 150000 used once, 100000 reserved", info, ok)
	}
}
