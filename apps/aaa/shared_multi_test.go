package aaa

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/wire"
)

// sharedAgents starts n agents on the Redis at addr, one key prefix,
// with a NAS connected to each.
func sharedAgents(t *testing.T, cfg Config, n int, addr string) ([]*agent, []*nas) {
	t.Helper()
	agents := make([]*agent, n)
	nases := make([]*nas, n)
	for i := range agents {
		agents[i] = sharedAgent(t, cfg, "t:", addr)
		nases[i] = dialNAS(t, agents[i].addr(), "nas.client.test")
	}
	return agents, nases
}

// aarResult is one AAR's outcome.
type aarResult struct {
	sid  string
	code uint32
	msg  string
	addr netip.Addr
}

// concurrentAARs sends count AARs at once, AAR i (Session-Id prefix+i) to
// nases[i%len(nases)].
func concurrentAARs(t *testing.T, nases []*nas, prefix string, count int) []aarResult {
	t.Helper()
	out := make([]aarResult, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nases[i%len(nases)]
			sid := fmt.Sprintf("%s%d", prefix, i)
			out[i].sid = sid
			a, err := n.try(n.aar(sid, LabUser, 3, pap("demo")), 10e9)
			if err != nil {
				out[i].msg = err.Error()
				return
			}
			out[i].code, out[i].msg, out[i].addr = resultOf(a), describe(a), framedAddr(a)
		}()
	}
	wg.Wait()
	return out
}

// granted checks that the 2001 answers among res carry distinct addresses
// and returns them by Session-Id.
func granted(t *testing.T, res []aarResult) map[string]netip.Addr {
	t.Helper()
	bySid := map[string]netip.Addr{}
	byAddr := map[netip.Addr]string{}
	for _, r := range res {
		if r.code != 2001 {
			continue
		}
		if other, dup := byAddr[r.addr]; dup || !r.addr.IsValid() {
			t.Fatalf("address %v handed to %s and %s", r.addr, other, r.sid)
		}
		byAddr[r.addr], bySid[r.sid] = r.sid, r.addr
	}
	return bySid
}

// TestSharedPoolAcrossServers: three AAA servers on one Redis, one pool
// of 30 addresses. 45 concurrent AARs spread across them: 30 are granted,
// every address exactly once, the 15 others answered 5012 (pool
// exhausted). A resent AAR on another server gets the same address, the
// STR on a third ends the session (its resent STR gets the STA and a late
// AAR 5012 on every server), and the 30 released addresses are granted
// again, each once.
func TestSharedPoolAcrossServers(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	cfg := testConfig(t)
	cfg.Pool = "10.9.0.0/27" // 30 usable addresses
	agents, nases := sharedAgents(t, cfg, 3, r.Addr)

	res := concurrentAARs(t, nases, "m;", 45)
	got := granted(t, res)
	if len(got) != 30 {
		t.Fatalf("%d AARs granted, want 30", len(got))
	}
	for _, r := range res {
		if r.code != 2001 && (r.code != wire.ResultUnableToComply || !strings.Contains(r.msg, "exhausted")) {
			t.Fatalf("%s: %s", r.sid, r.msg)
		}
	}
	if n := len(agents[2].srv.Sessions()); n != 30 {
		t.Fatalf("%d sessions seen from server 2", n)
	}
	i := 0
	for sid, addr := range got {
		n := nases[(i+1)%3]
		a := n.call(t, retransmit(n.aar(sid, LabUser, 3, pap("demo"))))
		if resultOf(a) != 2001 || framedAddr(a) != addr {
			t.Fatalf("%s resent to another server: %s, %v (was %v)", sid, describe(a), framedAddr(a), addr)
		}
		n = nases[(i+2)%3]
		if a := n.call(t, n.str(sid)); resultOf(a) != 2001 {
			t.Fatalf("STR of %s on a third server: %s", sid, describe(a))
		}
		i++
	}
	if n := len(agents[0].srv.Sessions()); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	for sid := range got { // ended-session memory on every server
		for i, n := range nases {
			if a := n.call(t, retransmit(n.str(sid))); resultOf(a) != 2001 {
				t.Fatalf("STR of %s resent to server %d: %s", sid, i, describe(a))
			}
			if a := n.call(t, retransmit(n.aar(sid, LabUser, 3, pap("demo")))); resultOf(a) != wire.ResultUnableToComply || framedAddr(a).IsValid() {
				t.Fatalf("late AAR of %s on server %d: %s", sid, i, describe(a))
			}
		}
		break
	}
	again := granted(t, concurrentAARs(t, nases, "m2;", 30))
	if len(again) != 30 {
		t.Fatalf("%d AARs granted after the STRs, want 30", len(again))
	}
}

// TestSharedRedisKilledUnderLoad: Redis (AOF, fsync always) is killed
// while two servers take AARs. While it is down, AARs and STRs are
// answered 5012 with Error-Message and no address. After the restart
// every session answered 2001 still holds its address; every AAR resent
// gets one address, never one another session holds; once all are ended,
// the whole pool is granted again (no address leaked).
func TestSharedRedisKilledUnderLoad(t *testing.T) {
	r := redistest.Start(t, redistest.Options{AOF: true})
	cfg := testConfig(t)
	cfg.Pool = "10.9.0.0/26" // 62 usable addresses
	agents, nases := sharedAgents(t, cfg, 2, r.Addr)

	res := concurrentAARs(t, nases, "k;", 10) // before the kill: all granted
	if len(granted(t, res)) != 10 {
		t.Fatalf("AARs before the kill: %v", res)
	}
	var wg sync.WaitGroup
	var load []aarResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		load = concurrentAARs(t, nases, "k;load", 30)
	}()
	r.Kill()
	wg.Wait()
	res = append(res, load...)
	before := granted(t, res)

	for i, n := range nases {
		for _, m := range []struct {
			name string
			ans  func() (uint32, string, netip.Addr)
		}{
			{"AAR", func() (uint32, string, netip.Addr) {
				a := n.call(t, n.aar(fmt.Sprintf("k;down%d", i), LabUser, 3, pap("demo")))
				return resultOf(a), str(find(a.AVP, 281)), framedAddr(a)
			}},
			{"STR", func() (uint32, string, netip.Addr) {
				a := n.call(t, n.str("k;0"))
				return resultOf(a), str(find(a.AVP, 281)), framedAddr(a)
			}},
		} {
			code, msg, addr := m.ans()
			if code != wire.ResultUnableToComply || msg == "" || addr.IsValid() {
				t.Fatalf("%s on server %d with Redis down: %d %q %v", m.name, i, code, msg, addr)
			}
		}
	}

	r.Restart()
	for i, n := range nases {
		waitFor(t, fmt.Sprintf("server %d reaching Redis", i), func() bool {
			return resultOf(n.call(t, n.str("k;probe"))) == wire.ResultUnknownSessionID
		})
	}
	for sid, addr := range before {
		s, ok := agents[1].srv.Session(sid)
		if !ok || s.Addr != addr.String() {
			t.Fatalf("%s answered 2001 with %v, after the restart holds %+v (%v)", sid, addr, s, ok)
		}
	}
	// Every AAR resent (those answered 5012 too, whose session may have
	// been committed): one address each, the same for those granted.
	var resend []aarResult
	for i, r := range res {
		n := nases[(i+1)%2]
		a := n.call(t, retransmit(n.aar(r.sid, LabUser, 3, pap("demo"))))
		if resultOf(a) != 2001 {
			t.Fatalf("%s resent after the restart: %s", r.sid, describe(a))
		}
		if old, ok := before[r.sid]; ok && framedAddr(a) != old {
			t.Fatalf("%s resent: %v, was granted %v", r.sid, framedAddr(a), old)
		}
		resend = append(resend, aarResult{sid: r.sid, code: 2001, addr: framedAddr(a)})
	}
	if len(granted(t, resend)) != 40 {
		t.Fatal("resent AARs not granted")
	}
	for i, r := range res {
		n := nases[i%2]
		if a := n.call(t, n.str(r.sid)); resultOf(a) != 2001 {
			t.Fatalf("STR %s: %s", r.sid, describe(a))
		}
	}
	if n := len(agents[0].srv.Sessions()); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	if all := granted(t, concurrentAARs(t, nases, "k2;", 62)); len(all) != 62 {
		t.Fatalf("%d of the 62 addresses granted after the STRs", len(all))
	}
}

// TestSharedPoolChange: a server configured with a larger pool than
// another's (a pool change rolled out to one agent) never grants an
// address a session of the old pool holds, and grants it once that
// session ends, whichever server ends it.
func TestSharedPoolChange(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	oldCfg, newCfg := testConfig(t), testConfig(t)
	oldCfg.Pool, newCfg.Pool = "10.9.0.0/30", "10.9.0.0/29" // .1-.2, .1-.6
	oldA, newA := sharedAgent(t, oldCfg, "t:", r.Addr), sharedAgent(t, newCfg, "t:", r.Addr)
	oldN, newN := dialNAS(t, oldA.addr(), "nas.client.test"), dialNAS(t, newA.addr(), "nas.client.test")

	old := granted(t, concurrentAARs(t, []*nas{oldN}, "old;", 2))
	if len(old) != 2 {
		t.Fatalf("old pool: %v", old)
	}
	res := concurrentAARs(t, []*nas{newN}, "new;", 6)
	fresh := granted(t, res)
	if len(fresh) != 4 {
		t.Fatalf("new pool granted %v, want the 4 addresses the old one does not hold", res)
	}
	for sid, a := range fresh {
		for _, o := range old {
			if a == o {
				t.Fatalf("%s got %v, held by an old session", sid, a)
			}
		}
	}
	for sid := range old {
		if a := newN.call(t, newN.str(sid)); resultOf(a) != 2001 {
			t.Fatalf("STR %s: %s", sid, describe(a))
		}
	}
	again := granted(t, concurrentAARs(t, []*nas{newN}, "new2;", 2))
	for sid, a := range again {
		if a != old["old;0"] && a != old["old;1"] {
			t.Fatalf("%s got %v, want one of the released %v", sid, a, old)
		}
	}
	if len(again) != 2 {
		t.Fatalf("released addresses not granted again: %v", again)
	}
}

// TestSharedExpiryAfterServerGone: sessions opened on a server that then
// stops are expired by another server's expiry loop, and their addresses
// granted again.
func TestSharedExpiryAfterServerGone(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	cfg := testConfig(t)
	cfg.Pool = "10.9.0.0/30"
	cfg.SessionTimeout = time.Second
	gone, stays := sharedAgent(t, cfg, "t:", r.Addr), sharedAgent(t, cfg, "t:", r.Addr)
	n := dialNAS(t, gone.addr(), "nas.client.test")
	if got := granted(t, concurrentAARs(t, []*nas{n}, "gone;", 2)); len(got) != 2 {
		t.Fatalf("granted %v", got)
	}
	n.close()
	gone.stop(t)
	waitFor(t, "the sessions expired by the other server", func() bool { return len(stays.srv.Sessions()) == 0 })
	n2 := dialNAS(t, stays.addr(), "nas2.client.test")
	if got := granted(t, concurrentAARs(t, []*nas{n2}, "stays;", 2)); len(got) != 2 {
		t.Fatalf("after expiry granted %v", got)
	}
}

// TestSharedRedisPausedReplyLost: Redis stops answering (SIGSTOP) while
// an AAR's script is on its way; the server answers 5012 with
// Error-Message after the timeout and no address. Whether or not Redis
// runs the script once resumed, the AAR resent to another server gets
// one address, the same when resent again, and its STR frees it.
func TestSharedRedisPausedReplyLost(t *testing.T) {
	r := redistest.Start(t, redistest.Options{AOF: true})
	cfg := testConfig(t)
	cfg.Pool = "10.9.0.0/30"
	_, nases := sharedAgents(t, cfg, 2, r.Addr)
	r.Pause()
	a := nases[0].call(t, nases[0].aar("p;1", LabUser, 3, pap("demo")))
	r.Resume()
	if resultOf(a) != wire.ResultUnableToComply || str(find(a.AVP, 281)) == "" || framedAddr(a).IsValid() {
		t.Fatalf("AAR with Redis paused: %s, address %v", describe(a), framedAddr(a))
	}
	var first netip.Addr
	for i := range 2 {
		a := nases[1].call(t, retransmit(nases[1].aar("p;1", LabUser, 3, pap("demo"))))
		if resultOf(a) != 2001 || (i > 0 && framedAddr(a) != first) {
			t.Fatalf("resent AAR %d: %s, address %v (first %v)", i, describe(a), framedAddr(a), first)
		}
		first = framedAddr(a)
	}
	if a := nases[0].call(t, nases[0].str("p;1")); resultOf(a) != 2001 {
		t.Fatalf("STR: %s", describe(a))
	}
	if got := granted(t, concurrentAARs(t, nases, "p2;", 2)); len(got) != 2 {
		t.Fatalf("pool of two after the STR: %v", got)
	}
}

// TestSharedReAuthAndAbortOnAnotherServer: a session opened through one
// server is re-authorized (RAR) and aborted (ASR) by another, whose NAS
// connection carries them; the abort releases the session for all, and
// its resent STR through the first server gets the STA.
func TestSharedReAuthAndAbortOnAnotherServer(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	agents, nases := sharedAgents(t, testConfig(t), 2, r.Addr)
	a := nases[0].call(t, nases[0].aar("x;1", LabUser, 3, pap("demo")))
	if resultOf(a) != 2001 {
		t.Fatalf("AAR: %s", describe(a))
	}
	if err := agents[1].srv.ReAuth("x;1"); err != nil {
		t.Fatalf("RAR from the other server: %v", err)
	}
	if req := <-nases[1].reqs; req.Header.CommandCode != cmdReAuth {
		t.Fatalf("NAS got command %d, want RAR", req.Header.CommandCode)
	}
	re := nases[1].call(t, nases[1].aar("x;1", LabUser, 2))
	if resultOf(re) != 2001 || framedAddr(re) != framedAddr(a) {
		t.Fatalf("re-authorization through the other server: %s, %v (was %v)", describe(re), framedAddr(re), framedAddr(a))
	}
	if err := agents[1].srv.Abort("x;1"); err != nil {
		t.Fatalf("ASR from the other server: %v", err)
	}
	if _, ok := agents[0].srv.Session("x;1"); ok {
		t.Fatal("session still held after the ASA")
	}
	if a := nases[0].call(t, nases[0].str("x;1")); resultOf(a) != 2001 {
		t.Fatalf("STR after the ASA, through the first server: %s", describe(a))
	}
}
