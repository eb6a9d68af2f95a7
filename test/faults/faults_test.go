package faults

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/loadgen"
	"github.com/dra-project/dra/wire"
)

const (
	draHost  = "dra.faults.test"
	srvRealm = "srv.test"
	// tx is the agent's Tx: short, so that stalls resolve quickly.
	tx = 300 * time.Millisecond
)

// startAgent runs an agent relaying srvRealm to the given servers (in
// priority order 1 for all, so that any may take over), with extra YAML.
func startAgent(t *testing.T, servers []*dratest.Node, extra string) *agent.Agent {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "identity:\n  origin_host: %s\n  origin_realm: faults.test\nlisten:\n  - address: 127.0.0.1:0\naccept_unknown_peers: true\npeers:\n", draHost)
	for _, s := range servers {
		fmt.Fprintf(&b, "  - host: %s\n    address: %s\n    connect: true\n", s.Opts.Host, s.Addr())
	}
	fmt.Fprintf(&b, "timers:\n  watchdog: 6s\n  reconnect: 1s\n  reconnect_max: 2s\n  capabilities: 500ms\nrouting:\n  timeout: %s\n  retries: 2\nroutes:\n  - realm: %s\n    action: relay\n    sticky: false\n    peers:\n", tx, srvRealm)
	for _, s := range servers {
		fmt.Fprintf(&b, "      - {host: %s}\n", s.Opts.Host)
	}
	b.WriteString(extra)
	a := dratest.StartAgent(t, b.String())
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range servers {
		for a.Peers().Peer(s.Opts.Host) == nil || a.Peers().Peer(s.Opts.Host).Active() == nil {
			if time.Now().After(deadline) {
				t.Fatalf("server %s not open", s.Opts.Host)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return a
}

func server(t *testing.T, host string, serve func(*dratest.Node, wire.Msg) wire.Msg) *dratest.Node {
	return dratest.Start(t, dratest.Options{Host: host, Realm: srvRealm, Listen: true, Serve: serve})
}

// load runs a closed-loop load of CCRs against addr for d and returns the
// client's result.
func load(t *testing.T, addr string, d time.Duration, inflight int) *loadgen.Result {
	t.Helper()
	mix, err := loadgen.NewMix(loadgen.MixConfig{DestRealm: srvRealm})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := loadgen.NewClient(loadgen.ClientConfig{
		Addr: addr, Mix: mix, InFlight: inflight, Duration: d,
		Timeout: 5 * time.Second, ConnectTimeout: 2 * time.Second, DisconnectTimeout: time.Second,
		OriginHost: "load-%d.client.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.Run(context.Background())
	if err != nil && res == nil {
		t.Fatalf("load: %v", err)
	}
	return res
}

// report prints what the client saw and checks the rule: every request
// answered or reported lost with its connection, none timed out or
// answered late (nothing hangs), and only the codes allowed.
func report(t *testing.T, name string, res *loadgen.Result, allowed ...uint32) {
	t.Helper()
	codes := make([]string, 0, len(res.ResultCodes))
	keys := make([]int, 0, len(res.ResultCodes))
	for c := range res.ResultCodes {
		keys = append(keys, int(c))
	}
	sort.Ints(keys)
	for _, c := range keys {
		codes = append(codes, fmt.Sprintf("%d:%d", c, res.ResultCodes[uint32(c)]))
	}
	t.Logf("%s: sent %d, answered %d (%s), lost with their connection %d, timed out %d, late %d, p99 %s",
		name, res.Sent, res.Answered, strings.Join(codes, " "), res.Lost, res.Timeouts, res.Late, res.Latency.P99)
	if res.Sent == 0 || res.Answered == 0 {
		t.Fatalf("%s: no traffic", name)
	}
	if res.Answered+res.Lost != res.Sent || res.Timeouts != 0 || res.Late != 0 {
		t.Errorf("%s: %d sent = %d answered + %d lost does not hold, or %d timeouts / %d late", name, res.Sent, res.Answered, res.Lost, res.Timeouts, res.Late)
	}
	for c, n := range res.ResultCodes {
		ok := false
		for _, a := range allowed {
			ok = ok || a == c
		}
		if !ok {
			t.Errorf("%s: %d answers with unexpected Result-Code %d", name, n, c)
		}
	}
}

// TestServerKilledUnderLoad: one of two servers dies mid-load; the other
// takes over, and every request is answered.
func TestServerKilledUnderLoad(t *testing.T) {
	s1, s2 := server(t, "s1.srv.test", nil), server(t, "s2.srv.test", nil)
	a := startAgent(t, []*dratest.Node{s1, s2}, "")
	time.AfterFunc(500*time.Millisecond, s1.Kill)
	res := load(t, a.Addrs()[0].String(), 1500*time.Millisecond, 32)
	report(t, "server killed", res, wire.ResultSuccess, wire.ResultUnableToDeliver)
	if res.Lost != 0 {
		t.Errorf("%d requests lost: the client's connection never closed", res.Lost)
	}
	if s2.Count() == 0 {
		t.Error("the surviving server took no traffic")
	}
	// Killed mid-flight, requests fail over: 3002 only when no retry is left.
	if n := res.ResultCodes[wire.ResultUnableToDeliver]; n > res.Sent/100+5 {
		t.Errorf("%d answers 3002 with a live alternate", n)
	}
}

// TestStalledServer: a server completes CER but never answers. Requests
// sent to it time out after Tx and fail over to the healthy server, or get
// 3002 within the retries.
func TestStalledServer(t *testing.T) {
	stalled := server(t, "stall.srv.test", func(*dratest.Node, wire.Msg) wire.Msg { return nil })
	ok := server(t, "ok.srv.test", nil)
	a := startAgent(t, []*dratest.Node{stalled, ok}, "")
	res := load(t, a.Addrs()[0].String(), time.Second, 16)
	report(t, "stalled server", res, wire.ResultSuccess, wire.ResultUnableToDeliver)
	if stalled.Count() == 0 {
		t.Error("the stalled server was never tried")
	}
	if res.Latency.Max > 3*tx+time.Second {
		t.Errorf("slowest answer %s: a stalled request waited beyond its Tx and retries", res.Latency.Max)
	}
	if res.ResultCodes[wire.ResultSuccess] == 0 {
		t.Error("no request failed over to the healthy server")
	}
}

// TestSlowServer: a server answering after 100 ms (below Tx) is slow, not
// failed: everything is answered 2001.
func TestSlowServer(t *testing.T) {
	const delay = 100 * time.Millisecond
	var slow *dratest.Node
	slow = server(t, "slow.srv.test", func(n *dratest.Node, req wire.Msg) wire.Msg {
		ans := n.Answer(req, wire.ResultSuccess)
		time.AfterFunc(delay, func() {
			if a := n.M.Peer(draHost).Active(); a == nil || a.Conn.Send(ans) != nil {
				wire.PutBuf(ans)
			}
		})
		return nil
	})
	a := startAgent(t, []*dratest.Node{slow}, "")
	res := load(t, a.Addrs()[0].String(), time.Second, 16)
	report(t, "slow server", res, wire.ResultSuccess)
	if res.Latency.P50 < delay {
		t.Errorf("median %s below the server's delay", res.Latency.P50)
	}
}

// TestHalfFrameClient: a client that completes CER, sends half a frame and
// stops holds nothing up: other clients keep being served, and once it
// goes away its connection is cleaned up.
func TestHalfFrameClient(t *testing.T) {
	s := server(t, "s.srv.test", nil)
	a := startAgent(t, []*dratest.Node{s}, "")
	addr := a.Addrs()[0].String()
	nc := rawCER(t, addr, "half.client.test")
	req := dratest.Request(4, 272, "half;1", "half.client.test", "client.test", srvRealm, "")
	if _, err := nc.Write(req[:len(req)/2]); err != nil {
		t.Fatal(err)
	}
	res := load(t, addr, time.Second, 16)
	report(t, "half-frame client", res, wire.ResultSuccess)
	before := a.Peers().Peer("half.client.test")
	if before == nil || before.Active() == nil {
		t.Fatal("half-frame client not open")
	}
	nc.Close()
	waitFor(t, "half-frame client cleaned up", 3*time.Second, func() bool {
		p := a.Peers().Peer("half.client.test")
		return p == nil || p.Active() == nil
	})
}

// TestConnectionFlood: 200 connections that never send CER are closed by
// the capabilities timer, or refused past limits.max_connections, while an
// open client keeps being served.
func TestConnectionFlood(t *testing.T) {
	s := server(t, "s.srv.test", nil)
	a := startAgent(t, []*dratest.Node{s}, "limits:\n  max_connections: 100\n")
	addr := a.Addrs()[0].String()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 200 {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	res := load(t, addr, time.Second, 16)
	close(stop)
	wg.Wait()
	report(t, "connection flood", res, wire.ResultSuccess)
	// Every silent connection is closed by the agent: within the CER
	// timer (500 ms) or at once when over the limit.
	deadline := time.Now().Add(3 * time.Second)
	open := 0
	mu.Lock()
	defer mu.Unlock()
	for _, c := range conns {
		c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			open++
		}
		c.Close()
	}
	t.Logf("connection flood: %d silent connections, %d still open after the CER timer", len(conns), open)
	if open != 0 {
		t.Errorf("%d silent connections never closed", open)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// rawCER opens a connection and completes CER/CEA by hand.
func rawCER(t *testing.T, addr, host string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	cer := wire.NewMsg(wire.FlagRequest, wire.CmdCapabilitiesExchange, 0, 1, 1)
	cer = cer.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, host)
	cer = cer.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "client.test")
	cer = cer.AppendAVP(wire.AVPHostIPAddress, wire.AVPFlagMandatory, 0, []byte{0, 1, 127, 0, 0, 1})
	cer = cer.AppendUint32AVP(wire.AVPVendorID, wire.AVPFlagMandatory, 0, 0)
	cer = cer.AppendStringAVP(wire.AVPProductName, 0, 0, "faults")
	cer = cer.AppendUint32AVP(wire.AVPAuthApplicationID, wire.AVPFlagMandatory, 0, wire.RelayAppID)
	if _, err := nc.Write(cer); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	cea, err := wire.NewReader(nc, 0).Next()
	if err != nil {
		t.Fatal(err)
	}
	if rc, _ := cea.Find(wire.AVPResultCode, 0); rc.Data == nil {
		t.Fatal("CEA without Result-Code")
	}
	nc.SetReadDeadline(time.Time{})
	return nc
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
