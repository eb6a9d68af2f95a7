package cdf

import (
	"context"
	"fmt"
	"log/slog"
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

// sharedNode is one CDF on Redis with its own journal, Redis client and
// Diameter stack, as one agent of several.
type sharedNode struct {
	srv    *Server
	ag     *agent
	cl     *client
	dir    string
	host   string
	st     *state.Redis
	closed bool
}

// startShared starts a CDF named host on the Redis at addr, journaling in
// dir, and stops it at the test's end (or at stop).
func startShared(t *testing.T, cfg Config, addr, host, dir string) *sharedNode {
	t.Helper()
	return startSharedOn(t, cfg, []string{addr}, host, dir)
}

// startSharedOn is startShared on the Redis at addrs (several: Cluster).
func startSharedOn(t *testing.T, cfg Config, addrs []string, host, dir string) *sharedNode {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := state.NewRedis(state.RedisConfig{Addrs: addrs, KeyPrefix: "t:", Timeout: sharedTimeout}, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	srv, err := NewShared(cfg, Identity{OriginHost: host, OriginRealm: "lab.test"}, nil, st, log)
	if err != nil {
		t.Fatal(err)
	}
	ag, err := startAgent(srv)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := dial(ag.Addr, "pgw.client.test")
	if err != nil {
		t.Fatal(err)
	}
	n := &sharedNode{srv: srv, ag: ag, cl: cl, dir: dir, host: host, st: st}
	t.Cleanup(n.stop)
	return n
}

// stop closes the node as a clean shutdown would.
func (n *sharedNode) stop() {
	if n.closed {
		return
	}
	n.closed = true
	n.cl.close()
	n.ag.stop()
	n.srv.Close()
	n.st.Close()
}

type testLog struct{ t testing.TB }

func (w testLog) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// call sends m to n and returns the answer's Result-Code and
// Error-Message.
func (n *sharedNode) call(t testing.TB, m *diam.Message) (uint32, string) {
	t.Helper()
	a, err := n.cl.call(m)
	if err != nil {
		t.Fatalf("%s: %v", n.host, err)
	}
	return answerCode(a), errMsg(a)
}

func errMsg(m *diam.Message) string {
	if a := top(m, avp.ErrorMessage); a != nil {
		s, _ := avpString(a)
		return s
	}
	return ""
}

// resend sets the T flag.
func resend(m *diam.Message) *diam.Message {
	m.Header.CommandFlags |= diam.RetransmittedFlag
	return m
}

// countCDRs counts the CDRs of every journal by record.
func countCDRs(t testing.TB, dirs ...string) map[recordKey]int {
	t.Helper()
	count := map[recordKey]int{}
	for _, d := range dirs {
		for _, r := range readAll(t, d) {
			count[recordKey{r.SessionID, r.RecordNumber}]++
		}
	}
	return count
}

// sharedPair starts two CDFs on one Redis.
func sharedPair(t *testing.T, cfg Config, r *redistest.Server) (a, b *sharedNode) {
	return startShared(t, cfg, r.Addr, "cdf-a.lab.test", t.TempDir()),
		startShared(t, cfg, r.Addr, "cdf-b.lab.test", t.TempDir())
}

// TestSharedSessionAcrossServers: two CDFs, each with its own journal, on
// one Redis. A session's records arrive at either; each record and its
// retransmission (T flag) to the other server are answered 2001 and make
// exactly one CDR across both journals; the state machine is one per
// session (INTERIM after a STOP on the other server is 5002). On one
// redis-server and on a three-node Redis Cluster.
func TestSharedSessionAcrossServers(t *testing.T) {
	for _, backend := range []struct {
		name  string
		addrs func(t *testing.T) []string
	}{
		{"redis", func(t *testing.T) []string { return []string{redistest.Start(t, redistest.Options{}).Addr} }},
		{"redis-cluster", func(t *testing.T) []string { return redistest.StartCluster(t, 3, redistest.Options{}).Addrs() }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			addrs := backend.addrs(t)
			cfg := testConfig(t)
			testSessionAcross(t,
				startSharedOn(t, cfg, addrs, "cdf-a.lab.test", t.TempDir()),
				startSharedOn(t, cfg, addrs, "cdf-b.lab.test", t.TempDir()))
		})
	}
}

func testSessionAcross(t *testing.T, a, b *sharedNode) {
	const sid = "pgw;shared;1"
	steps := []struct {
		name     string
		first    *sharedNode
		typ, num uint32
		want     uint32
	}{
		{"START on A", a, StartRecord, 0, 2001},
		{"INTERIM on B", b, InterimRecord, 1, 2001},
		{"INTERIM on A", a, InterimRecord, 2, 2001},
		{"STOP on B", b, StopRecord, 3, 2001},
		{"INTERIM after STOP on A", a, InterimRecord, 4, 5002},
		{"START after STOP on A", a, StartRecord, 5, 5002},
	}
	for _, st := range steps {
		if code, msg := st.first.call(t, newACR(sid, st.typ, st.num)); code != st.want {
			t.Fatalf("%s: %d %q, want %d", st.name, code, msg, st.want)
		}
		if st.want != 2001 {
			continue
		}
		other := a
		if st.first == a {
			other = b
		}
		for _, n := range []*sharedNode{other, st.first, other} {
			if code, msg := n.call(t, resend(newACR(sid, st.typ, st.num))); code != 2001 {
				t.Errorf("%s resent to %s: %d %q", st.name, n.host, code, msg)
			}
		}
	}
	if code, _ := b.call(t, newACR("pgw;never;started", InterimRecord, 1)); code != 5002 {
		t.Errorf("INTERIM without START: %d, want 5002", code)
	}
	a.stop()
	b.stop()
	count := countCDRs(t, a.dir, b.dir)
	if len(count) != 4 {
		t.Errorf("CDRs of %d records, want 4: %v", len(count), count)
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s #%d: %d CDRs across both journals", k.sid, k.num, n)
		}
	}
	if n := len(readAll(t, a.dir)); n != 2 {
		t.Errorf("A's journal holds %d CDRs, want its 2 (START, INTERIM 2)", n)
	}
}

// TestSharedConcurrentRetransmissions: copies of one record sent at once
// to both servers (several to each) are all answered 2001 and make
// exactly one CDR.
func TestSharedConcurrentRetransmissions(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	a, b := sharedPair(t, testConfig(t), r)
	const sessions, copies = 20, 3
	var wg sync.WaitGroup
	errs := make(chan string, sessions*4*2*copies)
	for i := range sessions {
		wg.Go(func() {
			sid := fmt.Sprintf("pgw;race;%d", i)
			for num, typ := range []uint32{StartRecord, InterimRecord, InterimRecord, StopRecord} {
				var rw sync.WaitGroup
				for c := range 2 * copies {
					n := a
					if c%2 == 1 {
						n = b
					}
					rw.Go(func() {
						m := newACR(sid, typ, uint32(num))
						if c >= 2 {
							resend(m)
						}
						ans, err := n.cl.call(m)
						if err != nil {
							errs <- err.Error()
							return
						}
						if code := answerCode(ans); code != 2001 {
							errs <- fmt.Sprintf("%s #%d on %s: %d %q", sid, num, n.host, code, errMsg(ans))
						}
					})
				}
				rw.Wait()
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	a.stop()
	b.stop()
	count := countCDRs(t, a.dir, b.dir)
	if len(count) != sessions*4 {
		t.Errorf("CDRs of %d records, want %d", len(count), sessions*4)
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s #%d: %d CDRs", k.sid, k.num, n)
		}
	}
}

// setMarker overwrites record num's marker of session sid, as the crash
// of its claimer leaves it.
func setMarker(t *testing.T, r *redistest.Server, sid string, num uint32, marker string) {
	t.Helper()
	st, err := state.NewRedis(state.RedisConfig{Addrs: []string{r.Addr}, KeyPrefix: "t:", Timeout: sharedTimeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Client().HSet(ctx, state.Key("t:", "cdf", sid), fmt.Sprintf("r:%d", num), marker).Err(); err != nil {
		t.Fatal(err)
	}
}

// pending is a claim marker of owner made now.
func pending(owner string) string {
	return fmt.Sprintf("p|%s|%d", owner, time.Now().UnixMilli())
}

// TestSharedSessionTimeout: the session timeout runs from the session's
// last record, whichever server accepted it: a session kept alive by
// INTERIMs on B is still open on A past the timeout counted from its
// START on A, and released once no server saw a record for the timeout.
func TestSharedSessionTimeout(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	cfg := testConfig(t)
	cfg.SessionTimeout = 1500 * time.Millisecond
	a, b := sharedPair(t, cfg, r)
	const sid = "pgw;timeout;1"
	start := time.Now()
	if code, _ := a.call(t, newACR(sid, StartRecord, 0)); code != 2001 {
		t.Fatalf("START on A: %d", code)
	}
	time.Sleep(time.Second) // time passing, not a wait for an event
	if code, _ := b.call(t, newACR(sid, InterimRecord, 1)); code != 2001 {
		t.Fatalf("INTERIM on B: %d", code)
	}
	time.Sleep(time.Until(start.Add(cfg.SessionTimeout + 200*time.Millisecond)))
	if code, _ := a.call(t, newACR(sid, InterimRecord, 2)); code != 2001 {
		t.Fatalf("INTERIM on A past the timeout from START, within it from B's INTERIM: %d", code)
	}
	time.Sleep(cfg.SessionTimeout + 200*time.Millisecond)
	for _, n := range []*sharedNode{a, b} {
		if code, _ := n.call(t, newACR(sid, InterimRecord, 3)); code != 5002 {
			t.Errorf("INTERIM on %s after the timeout: %d, want 5002", n.host, code)
		}
	}
}
