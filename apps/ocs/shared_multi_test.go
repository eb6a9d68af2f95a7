package ocs

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"

	"github.com/dra-project/dra/internal/redistest"
)

// spreadConfig is one account of total octets, grants of 100,000.
func spreadConfig(t *testing.T, total uint64) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.DefaultGrant.Octets = 100_000
	cfg.Accounts = []AccountConfig{{Type: "end_user_e164", Data: msisdn, Balance: Balance{Octets: total}}}
	return cfg
}

// TestSharedSessionsSpreadAcrossServers: three OCS servers on one Redis;
// one subscriber's sessions run concurrently, each request of a session
// sent to another server; every session reports as used what it was
// granted until the credit runs out. No grant is ever more than the
// balance holds: the sessions use exactly the whole balance, and the
// account ends with nothing available, nothing reserved, and used equal
// to what the 2001 answers acknowledged.
func TestSharedSessionsSpreadAcrossServers(t *testing.T) {
	const total, sessions = 5_000_000, 9
	r := redistest.Start(t, redistest.Options{})
	cfg := spreadConfig(t, total)
	nodes := []*node{sharedNode(t, cfg, r.Addr), sharedNode(t, cfg, r.Addr), sharedNode(t, cfg, r.Addr)}
	var used, granted atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		clients := make([]*client, len(nodes))
		for j, n := range nodes {
			c, err := dialClient(n.addr, fmt.Sprintf("pgw%d.client.test", i))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.conn.Close() })
			clients[j] = c
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runSession(clients, fmt.Sprintf("pgw;spread;%d", i), i, &used, &granted)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, n := range nodes {
		info, ok := n.srv.Account(0, msisdn)
		if !ok || info.Available.Octets != 0 || info.Reserved.Octets != 0 || info.Used.Octets != total || info.Sessions != 0 {
			t.Errorf("account: %+v (found %v); want all %d octets used, none reserved, no session", info, ok, total)
		}
	}
	if used.Load() != total || granted.Load() != total {
		t.Errorf("acknowledged use %d, grants %d; want %d each", used.Load(), granted.Load(), total)
	}
}

// runSession runs one session through clients in turn: CCR-I, CCR-Us
// reporting the last grant as used until no more is granted, CCR-T.
func runSession(clients []*client, sid string, first int, used, granted *atomic.Uint64) error {
	send := func(num uint32, m *diam.Message) (*diam.Message, error) {
		a, err := clients[(first+int(num))%len(clients)].send(m, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("%s #%d: %w", sid, num, err)
		}
		return a, nil
	}
	a, err := send(0, ccrMsg(sid, requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 100_000)))
	if err != nil {
		return err
	}
	if c := resultCode(a); c != 2001 && c != 4012 {
		return fmt.Errorf("%s CCR-I: %d %s", sid, c, errorMessage(a))
	}
	g := grantedOctets(a)
	granted.Add(g)
	num := uint32(1)
	for ; g > 0; num++ {
		a, err := send(num, ccrU(sid, requestUpdate, num, g, true))
		if err != nil {
			return err
		}
		switch c := resultCode(a); c {
		case 2001, 4012:
			used.Add(g)
			g = grantedOctets(a)
			granted.Add(g)
		default:
			return fmt.Errorf("%s CCR-U #%d: %d %s", sid, num, c, errorMessage(a))
		}
	}
	a, err = send(num, ccrU(sid, requestTermination, num, 0, false))
	if err != nil {
		return err
	}
	if c := resultCode(a); c != 2001 {
		return fmt.Errorf("%s CCR-T: %d %s", sid, c, errorMessage(a))
	}
	return nil
}

// TestSharedSessionMovesBetweenServers: a session opened on server A is
// updated on B and terminated on A; retransmissions sent to the other
// server, also after it was stopped and started again, get the first
// answer and are charged once.
func TestSharedSessionMovesBetweenServers(t *testing.T) {
	const sid = "pgw;moves;1"
	r := redistest.Start(t, redistest.Options{AOF: true})
	cfg := resendConfig(t.TempDir())
	a, b := sharedNode(t, cfg, r.Addr), sharedNode(t, cfg, r.Addr)
	ca, cb := newClient(t, a.addr), newClient(t, b.addr)
	check := func(what string, n *node, avail, used uint64) {
		t.Helper()
		info, ok := n.srv.Account(0, msisdn)
		if !ok || info.Available.Octets != avail || info.Used.Octets != used {
			t.Fatalf("%s: %+v (found %v); want available %d used %d", what, info, ok, avail, used)
		}
	}
	if ans := ca.call(t, ccrMsg(sid, requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 200_000))); resultCode(ans) != 2001 {
		t.Fatalf("CCR-I on A: %d", resultCode(ans))
	}
	upd := cb.call(t, ccrU(sid, requestUpdate, 1, 150_000, true))
	if resultCode(upd) != 2001 || grantedOctets(upd) != 100_000 {
		t.Fatalf("CCR-U on B: %d granted %d", resultCode(upd), grantedOctets(upd))
	}
	check("after CCR-U on B", a, 500_000_000-250_000, 150_000)
	sameAnswer(t, "CCR-U on B resent to A", upd, ca.call(t, retransmit(ccrU(sid, requestUpdate, 1, 150_000, true))))

	b.stop()
	b = sharedNode(t, cfg, r.Addr)
	cb = newClient(t, b.addr)
	sameAnswer(t, "CCR-U resent to B restarted", upd, cb.call(t, retransmit(ccrU(sid, requestUpdate, 1, 150_000, true))))
	check("after the resends", b, 500_000_000-250_000, 150_000)

	term := ca.call(t, ccrU(sid, requestTermination, 2, 30_000, false))
	if resultCode(term) != 2001 {
		t.Fatalf("CCR-T on A: %d", resultCode(term))
	}
	sameAnswer(t, "CCR-T on A resent to B", term, cb.call(t, retransmit(ccrU(sid, requestTermination, 2, 30_000, false))))
	a.stop()
	a = sharedNode(t, cfg, r.Addr)
	ca = newClient(t, a.addr)
	sameAnswer(t, "CCR-T resent to A restarted", term, ca.call(t, retransmit(ccrU(sid, requestTermination, 2, 30_000, false))))
	if ans := ca.call(t, ccrU(sid, requestUpdate, 1, 150_000, true)); resultCode(ans) != 5002 {
		t.Errorf("CCR-U #1 after the CCR-T: %d, want 5002", resultCode(ans))
	}
	check("after CCR-T", a, 500_000_000-180_000, 180_000)
}

// TestSharedSessionTimeoutReleasesOnAnotherServer: a session opened on A
// and never heard of again has its reservation released by B once
// SessionTimeout passed, with A gone.
func TestSharedSessionTimeoutReleasesOnAnotherServer(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	cfg := resendConfig(t.TempDir())
	cfg.SessionTimeout = time.Minute
	a := sharedNode(t, cfg, r.Addr)
	ca := newClient(t, a.addr)
	if ans := ca.call(t, ccrMsg("pgw;dead;1", requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 200_000))); resultCode(ans) != 2001 {
		t.Fatalf("CCR-I on A: %d", resultCode(ans))
	}
	a.stop()
	b := sharedNode(t, cfg, r.Addr)
	if info, _ := b.srv.Account(0, msisdn); info.Reserved.Octets != 200_000 || info.Sessions != 1 {
		t.Fatalf("before the timeout: %+v; want 200000 reserved by one session", info)
	}
	later := time.Now().Add(cfg.SessionTimeout + time.Second)
	b.srv.now = func() time.Time { return later }
	info, _ := b.srv.Account(0, msisdn)
	if info.Reserved.Octets != 0 || info.Sessions != 0 || info.Available.Octets != 500_000_000 {
		t.Fatalf("after the timeout: %+v; want the reservation released", info)
	}
}

// waitFor polls cond until it holds, failing t after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSharedRedisKilledMidLoad: sessions on two servers are updated
// without pause while Redis (AOF, fsync always) is killed and restarted.
// While it is down every request is answered 5012 with an Error-Message;
// a client resends the refused request (T flag) until it is answered
// 2001. Afterwards the account has used exactly what the 2001 answers
// acknowledged: nothing answered 2001 was lost with Redis, nothing
// charged twice, no credit created.
func TestSharedRedisKilledMidLoad(t *testing.T) {
	const total, workers = 1_000_000_000, 4
	r := redistest.Start(t, redistest.Options{AOF: true})
	cfg := spreadConfig(t, total)
	nodes := []*node{sharedNode(t, cfg, r.Addr), sharedNode(t, cfg, r.Addr)}
	var acked atomic.Uint64
	var progress, refused atomic.Int64
	stop := make(chan struct{})
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		c, err := dialClient(nodes[i%2].addr, fmt.Sprintf("pgw%d.client.test", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.conn.Close() })
		sid := fmt.Sprintf("pgw;kill;%d", i)
		// call sends m until it is answered other than 5012, resending it
		// with the T flag after a 5012.
		call := func(m func() *diam.Message) (*diam.Message, error) {
			msg := m()
			for {
				a, err := c.send(msg, 10*time.Second)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", sid, err)
				}
				if resultCode(a) != 5012 {
					return a, nil
				}
				if e := errorMessage(a); e != "credit store unavailable" {
					return nil, fmt.Errorf("%s: 5012 with Error-Message %q", sid, e)
				}
				refused.Add(1)
				time.Sleep(10 * time.Millisecond)
				msg = retransmit(m())
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				a, err := call(func() *diam.Message {
					return ccrMsg(sid, requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 100_000))
				})
				if err != nil {
					return err
				}
				g := grantedOctets(a)
				num := uint32(1)
				for ; ; num++ {
					select {
					case <-stop:
						a, err := call(func() *diam.Message { return ccrU(sid, requestTermination, num, g, false) })
						if err == nil && resultCode(a) != 2001 {
							err = fmt.Errorf("%s CCR-T: %d", sid, resultCode(a))
						}
						if err == nil {
							acked.Add(g)
						}
						return err
					default:
					}
					a, err := call(func() *diam.Message { return ccrU(sid, requestUpdate, num, g, true) })
					if err != nil {
						return err
					}
					if resultCode(a) != 2001 {
						return fmt.Errorf("%s CCR-U #%d: %d", sid, num, resultCode(a))
					}
					acked.Add(g)
					g = grantedOctets(a)
					progress.Add(1)
				}
			}()
		}()
	}
	waitFor(t, "load before the kill", func() bool { return progress.Load() >= 40 })
	r.Kill()
	waitFor(t, "5012 answers while Redis is down", func() bool { return refused.Load() >= workers })
	r.Restart()
	at := progress.Load()
	waitFor(t, "load after the restart", func() bool { return progress.Load() >= at+40 })
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	info, ok := nodes[0].srv.Account(0, msisdn)
	if !ok || info.Used.Octets != acked.Load() || info.Available.Octets != total-acked.Load() || info.Reserved.Octets != 0 {
		t.Errorf("account %+v (found %v); want used %d as acknowledged, the rest available, none reserved", info, ok, acked.Load())
	}
	t.Logf("%d updates answered 2001, %d answered 5012 while Redis was down", progress.Load(), refused.Load())
}
