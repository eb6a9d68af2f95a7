package routing_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/wire"
)

// overloadAgent runs an agent with a small write queue (64 messages per
// connection) and its /metrics on, routing application 4 for srv.test to
// srv.ov.test, a raw server that dials in; serve runs that server. It
// returns the agent and a raw client, both connections open.
func overloadAgent(t *testing.T, serve func(*rawPeer)) (*agent.Agent, *rawPeer) {
	t.Helper()
	a := startAgent(t, `accept_unknown_peers: true
admin: {address: "127.0.0.1:0"}
limits: {write_queue: 64}
routing: {timeout: 30s, failover_on_busy: false}
routes:
  - realm: srv.test
    application: 4
    action: relay
    peers: [{host: srv.ov.test}]
`)
	addr := a.Addrs()[0].String()
	srv := dialRawPeer(t, addr, "srv.ov.test", "srv.test")
	go serve(srv)
	cli := dialRawPeer(t, addr, "cli.ov.test", "cli.test")
	waitPeers(t, a, "srv.ov.test", "cli.ov.test")
	return a, cli
}

// overloadRequest is a ~1 KiB CCR: large enough that the loopback socket
// buffers hold only a few thousand.
func overloadRequest() wire.Msg {
	m := ccrTemplate()
	m = m.AppendAVP(1000, 0, 99, make([]byte, 600))
	m.SetLen(len(m))
	return m
}

// sendAll writes n requests with Hop-by-Hop ids 1..n as fast as the socket
// takes them, 64 to a write.
func sendAll(t *testing.T, cli *rawPeer, n int) {
	tmpl := overloadRequest()
	bw := bufio.NewWriterSize(cli.nc, 64*len(tmpl))
	for i := 1; i <= n; i++ {
		tmpl.SetHopByHop(uint32(i))
		tmpl.SetEndToEnd(uint32(i))
		bw.Write(tmpl)
		if i%64 == 0 {
			if err := bw.Flush(); err != nil {
				t.Errorf("client write: %v", err)
				return
			}
		}
	}
	if err := bw.Flush(); err != nil {
		t.Errorf("client write: %v", err)
	}
}

// answers reads until n answers arrived or nothing came for quiet, with
// pause called after each answer (a slow reader sleeps there). DWRs are
// answered. It returns the Result-Code of each answer by Hop-by-Hop id and
// the number of ids answered more than once.
func readAnswers(cli *rawPeer, n int, quiet time.Duration, pause func(i int)) (codes map[uint32]uint32, dup int) {
	codes = make(map[uint32]uint32, n)
	for len(codes) < n {
		cli.nc.SetReadDeadline(time.Now().Add(quiet))
		m, err := cli.rd.Next()
		if err != nil {
			break
		}
		if m.IsRequest() {
			m.SetFlags(m.Flags() &^ wire.FlagRequest)
			cli.nc.Write(m)
			wire.PutBuf(m)
			continue
		}
		if _, seen := codes[m.HopByHop()]; seen {
			dup++
		}
		code, _ := resultCodeOf(m)
		codes[m.HopByHop()] = code
		wire.PutBuf(m)
		if pause != nil {
			pause(len(codes))
		}
	}
	cli.nc.SetReadDeadline(time.Time{})
	return codes, dup
}

func resultCodeOf(m wire.Msg) (uint32, bool) {
	a, ok := m.Find(wire.AVPResultCode, 0)
	if !ok {
		return 0, false
	}
	return a.Uint32()
}

// metrics scrapes the agent's /metrics into value by series, as written
// (name{label="value",...}).
func metrics(t *testing.T, a *agent.Agent) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// shedTotal sums dra_requests_shed_total over its reasons.
func shedTotal(m map[string]float64) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, "dra_requests_shed_total{") {
			n += v
		}
	}
	return n
}

// checkAnswered fails unless each of the n requests got exactly one
// answer, the server's (the raw server turns requests around: no
// Result-Code) or 3004, and the agent's metrics count every 3004 as shed
// and no answer as dropped. It returns the number of 3004 answers.
func checkAnswered(t *testing.T, a *agent.Agent, codes map[uint32]uint32, dup, n int) int {
	t.Helper()
	byCode := map[uint32]int{}
	for _, c := range codes {
		byCode[c]++
	}
	t.Logf("%d requests: %d answered (%v), %d duplicates", n, len(codes), byCode, dup)
	if len(codes) != n || dup != 0 {
		t.Errorf("%d of %d requests got no answer, %d got two", n-len(codes), n, dup)
	}
	for c, k := range byCode {
		if c != 0 && c != wire.ResultTooBusy {
			t.Errorf("%d answers with Result-Code %d: overload must be answered 3004", k, c)
		}
	}
	m := metrics(t, a)
	if got := shedTotal(m); got != float64(byCode[wire.ResultTooBusy]) {
		t.Errorf("dra_requests_shed_total sums to %v, the client got %d answers 3004", got, byCode[wire.ResultTooBusy])
	}
	for _, s := range []string{`dra_router_events_total{event="dropped_answer"}`, `dra_peer_overload_total{event="answers_lost"}`} {
		if v, ok := m[s]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", s, v, ok)
		}
	}
	return byCode[wire.ResultTooBusy]
}

// TestOverloadAnswersEveryRequest overloads the agent over loopback
// sockets and checks that every request gets exactly one answer, the
// server's or 3004 (none lost, none 3002), and that the metrics count each request
// shed by its reason.
func TestOverloadAnswersEveryRequest(t *testing.T) {
	const n = 20000
	t.Run("slow client reader, fast server", func(t *testing.T) {
		// The client writes its requests at full speed and reads nothing
		// until the agent stops reading it (or it has written them all),
		// then reads slowly. The answers owed to it fill its write queue:
		// the agent must neither drop them nor read on without limit.
		a, cli := overloadAgent(t, (*rawPeer).serve)
		done := make(chan struct{})
		go func() { defer close(done); sendAll(t, cli, n) }()
		paused := `dra_peer_overload_total{event="read_paused"}`
		for waiting := true; waiting; {
			select {
			case <-done:
				waiting = false
			case <-time.After(20 * time.Millisecond):
				waiting = metrics(t, a)[paused] == 0
			}
		}
		codes, dup := readAnswers(cli, n, 5*time.Second, func(i int) {
			if i%256 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		})
		<-done
		checkAnswered(t, a, codes, dup, n)
		m := metrics(t, a)
		if m[paused] == 0 {
			t.Errorf("%s = 0: the agent never paused reading the slow client", paused)
		}
		if v := m[`dra_requests_shed_total{reason="ingress_backlog"}`]; v == 0 {
			t.Error("no request shed for reason ingress_backlog")
		}
	})
	t.Run("open-loop client faster than the server", func(t *testing.T) {
		// The server answers at most 4000 requests/s; the client sends as
		// fast as the agent reads and reads its answers at once.
		slow := func(rp *rawPeer) {
			for i := 0; ; i++ {
				m, err := rp.rd.Next()
				if err != nil {
					return
				}
				if m.IsRequest() {
					m.SetFlags(m.Flags() &^ wire.FlagRequest)
					rp.nc.Write(m)
				}
				wire.PutBuf(m)
				if i%4 == 3 {
					time.Sleep(time.Millisecond)
				}
			}
		}
		a, cli := overloadAgent(t, slow)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); sendAll(t, cli, n) }()
		codes, dup := readAnswers(cli, n, 10*time.Second, nil)
		wg.Wait()
		busy := checkAnswered(t, a, codes, dup, n)
		if v := metrics(t, a)[`dra_requests_shed_total{reason="egress_queue"}`]; v == 0 {
			t.Errorf("no request shed for reason egress_queue (%d answers 3004)", busy)
		}
		if busy == 0 {
			t.Error("the server kept up: no overload")
		}
	})
}

// TestPolicyRefusalsCountedAsShed: with policy.max_pending 1 and a server
// that never answers, a second request finds its only peer at its cap and
// is answered 3004, by realm routing and by Destination-Host alike; each
// such answer is counted as shed for reason peer_refused.
func TestPolicyRefusalsCountedAsShed(t *testing.T) {
	silent := server(t, "mute.a.test", "a.test", func(*dratest.Node, wire.Msg) wire.Msg { return nil })
	a := startAgent(t, peerYAML(nodes(silent))+`admin: {address: "127.0.0.1:0"}
routing: {timeout: 30s}
routes:
  - realm: a.test
    action: relay
    peers: [{host: mute.a.test}]
policy:
  max_pending: 1
`)
	waitPeers(t, a, "mute.a.test")
	c := client(t, a, "mme.client.test")
	c.Send(t, draHost, dratest.Request(4, ccr, "mme;cap;0", "mme.client.test", "client.test", "a.test", ""))
	for deadline := time.Now().Add(5 * time.Second); silent.Count() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first request did not reach the server")
		}
	}
	tests := []struct{ name, destHost string }{
		{"by realm", ""},
		{"by Destination-Host", "mute.a.test"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans := c.Call(t, draHost, dratest.Request(4, ccr, fmt.Sprintf("mme;cap;%d", i+1), "mme.client.test", "client.test", "a.test", tt.destHost))
			if code := dratest.ResultCode(ans); code != wire.ResultTooBusy {
				t.Fatalf("Result-Code %d, want 3004", code)
			}
			if got := metrics(t, a)[`dra_requests_shed_total{reason="peer_refused"}`]; got != float64(i+1) {
				t.Errorf("shed for peer_refused: %v, want %d", got, i+1)
			}
		})
	}
}
