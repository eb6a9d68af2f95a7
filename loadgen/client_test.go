package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/wire"
)

// startServer runs a Server on a free loopback port for the test.
func startServer(t *testing.T, cfg ServerConfig) (*Server, string) {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, addr.String()
}

func mustMix(t testing.TB, cfg MixConfig) Mix {
	t.Helper()
	if cfg.DestRealm == "" {
		cfg.DestRealm = "load.test"
	}
	m, err := NewMix(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func run(t *testing.T, cfg ClientConfig) *Result {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != r.Answered+r.Timeouts+r.Lost {
		t.Errorf("sent %d != answered %d + timeouts %d + lost %d", r.Sent, r.Answered, r.Timeouts, r.Lost)
	}
	var sum uint64
	for _, n := range r.ResultCodes {
		sum += n
	}
	if sum != r.Answered {
		t.Errorf("result codes add up to %d, answered %d", sum, r.Answered)
	}
	return r
}

func TestClosedLoopCount(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{})
	var progress bytes.Buffer
	r := run(t, ClientConfig{Addr: addr, Conns: 4, InFlight: 50, Count: 2000,
		Mix: mustMix(t, MixConfig{}), Progress: &progress})
	if r.Sent != 2000 || r.Answered != 2000 || r.Unanswered != 0 || r.Late != 0 {
		t.Errorf("sent %d answered %d unanswered %d late %d", r.Sent, r.Answered, r.Unanswered, r.Late)
	}
	if len(r.ResultCodes) != 1 || r.ResultCodes[wire.ResultSuccess] != 2000 {
		t.Errorf("result codes %v", r.ResultCodes)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors %v", r.Errors)
	}
	if r.Peer != "srv.load.test" || r.PeerProduct != "draload" {
		t.Errorf("peer %q %q", r.Peer, r.PeerProduct)
	}
	if r.Histogram.Count() != 2000 || r.Latency.Max <= 0 || r.Latency.P50 > r.Latency.P99 || r.Latency.P99 > r.Latency.Max {
		t.Errorf("latency %+v over %d", r.Latency, r.Histogram.Count())
	}
	if got := srv.Stats().Requests; got != 2000 {
		t.Errorf("server saw %d requests", got)
	}
	// Every connection sent DPR and got its DPA: the server closed them.
	waitFor(t, func() bool { return srv.Stats().Peers == 0 })
	if srv.Stats().Accepted != 4 {
		t.Errorf("accepted %d connections", srv.Stats().Accepted)
	}
	var text bytes.Buffer
	r.WriteText(&text)
	for _, want := range []string{"sent 2000, answered 2000, unanswered 0", "2001: 2000", "4 connections to srv.load.test (draload), closed loop, 50 in flight"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sent", "answered", "unanswered", "timeouts", "result_codes", "duration_s",
		"throughput_rps", "latency_us", "connections", "in_flight", "rate", "mix", "client_cpu_s"} {
		if _, ok := j[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if j["result_codes"].(map[string]any)["2001"].(float64) != 2000 || j["mix"] != "generic" || j["in_flight"].(float64) != 50 {
		t.Errorf("JSON %s", b)
	}
	for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
		if _, ok := j["latency_us"].(map[string]any)[k]; !ok {
			t.Errorf("latency_us lacks %q", k)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestResultCodeCounted(t *testing.T) {
	_, addr := startServer(t, ServerConfig{ResultCode: wire.ResultTooBusy})
	r := run(t, ClientConfig{Addr: addr, Conns: 2, InFlight: 10, Count: 300, Mix: mustMix(t, MixConfig{})})
	if r.Answered != 300 || r.ResultCodes[wire.ResultTooBusy] != 300 || len(r.ResultCodes) != 1 {
		t.Errorf("answered %d, codes %v", r.Answered, r.ResultCodes)
	}
}

func TestExperimentalResultCounted(t *testing.T) {
	_, addr := startServer(t, ServerConfig{ResultCode: 5030, ExperimentalVendor: 10415})
	r := run(t, ClientConfig{Addr: addr, InFlight: 5, Count: 100, Mix: mustMix(t, MixConfig{Name: MixCCR})})
	if r.ResultCodes[5030] != 100 || r.ExperimentalCodes[5030] != 100 {
		t.Errorf("codes %v, experimental %v", r.ResultCodes, r.ExperimentalCodes)
	}
}

// A server that answers after the timeout: every request is unanswered and
// the run ends by itself.
func TestUnansweredCounted(t *testing.T) {
	_, addr := startServer(t, ServerConfig{Delay: time.Hour})
	r := run(t, ClientConfig{Addr: addr, Conns: 2, InFlight: 10, Count: 30, Timeout: 200 * time.Millisecond,
		Mix: mustMix(t, MixConfig{})})
	if r.Sent != 30 || r.Answered != 0 || r.Timeouts != 30 || r.Unanswered != 30 {
		t.Errorf("sent %d answered %d timeouts %d unanswered %d", r.Sent, r.Answered, r.Timeouts, r.Unanswered)
	}
}

func TestUnansweredOpenLoop(t *testing.T) {
	_, addr := startServer(t, ServerConfig{Delay: time.Hour})
	r := run(t, ClientConfig{Addr: addr, Conns: 2, Rate: 500, Count: 40, Timeout: 200 * time.Millisecond,
		Mix: mustMix(t, MixConfig{})})
	if r.Sent != 40 || r.Answered != 0 || r.Timeouts != 40 {
		t.Errorf("sent %d answered %d timeouts %d", r.Sent, r.Answered, r.Timeouts)
	}
}

func TestOpenLoopCount(t *testing.T) {
	_, addr := startServer(t, ServerConfig{})
	r := run(t, ClientConfig{Addr: addr, Conns: 3, Rate: 4000, Count: 400, Mix: mustMix(t, MixConfig{Size: 1024})})
	if r.Sent != 400 || r.Answered != 400 || r.Unanswered != 0 {
		t.Errorf("sent %d answered %d unanswered %d", r.Sent, r.Answered, r.Unanswered)
	}
	if r.Rate != 4000 || r.InFlight != 0 {
		t.Errorf("mode %v %v", r.Rate, r.InFlight)
	}
}

func TestDuration(t *testing.T) {
	_, addr := startServer(t, ServerConfig{})
	r := run(t, ClientConfig{Addr: addr, Conns: 2, InFlight: 4, Duration: 200 * time.Millisecond,
		Mix: mustMix(t, MixConfig{Name: MixAAR})})
	if r.Sent == 0 || r.Answered != r.Sent || r.Unanswered != 0 {
		t.Errorf("sent %d answered %d unanswered %d", r.Sent, r.Answered, r.Unanswered)
	}
	r = run(t, ClientConfig{Addr: addr, Conns: 2, Rate: 1000, Duration: 200 * time.Millisecond,
		Mix: mustMix(t, MixConfig{Name: MixACR})})
	if r.Sent == 0 || r.Answered != r.Sent || r.Unanswered != 0 {
		t.Errorf("open loop: sent %d answered %d unanswered %d", r.Sent, r.Answered, r.Unanswered)
	}
}

func TestContextCancelEndsRun(t *testing.T) {
	_, addr := startServer(t, ServerConfig{})
	c, err := NewClient(ClientConfig{Addr: addr, InFlight: 4, Duration: time.Hour, Mix: mustMix(t, MixConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent == 0 || r.Answered != r.Sent {
		t.Errorf("sent %d answered %d", r.Sent, r.Answered)
	}
	if _, err := c.Run(ctx); err == nil {
		t.Error("a second Run succeeded")
	}
}

// sessionLog records, per Session-Id, the sequence of request types the
// server saw.
type sessionLog struct {
	mu   sync.Mutex
	seen map[string][]uint32
	bad  []string
}

func (l *sessionLog) observe(typeCode, numCode uint32) func(wire.Msg) {
	return func(m wire.Msg) {
		sid, _ := m.Find(wire.AVPSessionID, 0)
		typ, _ := m.Find(typeCode, 0)
		num, _ := m.Find(numCode, 0)
		t, _ := typ.Uint32()
		n, _ := num.Uint32()
		l.mu.Lock()
		defer l.mu.Unlock()
		k := string(sid.Data)
		if int(n) != len(l.seen[k]) {
			l.bad = append(l.bad, k)
		}
		l.seen[k] = append(l.seen[k], t)
	}
}

// The requests of a session reach the server in order: INITIAL, the
// UPDATEs, TERMINATION, numbered from 0.
func TestCCRSessionOrder(t *testing.T) {
	for _, open := range []bool{false, true} {
		log := &sessionLog{seen: map[string][]uint32{}}
		_, addr := startServer(t, ServerConfig{Observe: log.observe(avpCCRequestType, avpCCRequestNumber)})
		cfg := ClientConfig{Addr: addr, Conns: 3, InFlight: 20, Count: 1000,
			Mix: mustMix(t, MixConfig{Name: MixCCR, Updates: 3})}
		if open {
			cfg.InFlight, cfg.Rate = 0, 5000
		}
		r := run(t, cfg)
		if r.Sent != 1000 || r.Answered != 1000 {
			t.Errorf("open %v: sent %d answered %d", open, r.Sent, r.Answered)
		}
		if len(log.bad) > 0 {
			t.Errorf("open %v: CC-Request-Number out of order in %d sessions, e.g. %s", open, len(log.bad), log.bad[0])
		}
		if len(log.seen) != 200 {
			t.Errorf("open %v: %d sessions, want 200", open, len(log.seen))
		}
		for sid, types := range log.seen {
			want := []uint32{ccrInitial, ccrUpdate, ccrUpdate, ccrUpdate, ccrTermination}
			if !equal(types, want) {
				t.Errorf("open %v: session %s: request types %v", open, sid, types)
				break
			}
		}
	}
}

func TestACRSessionOrder(t *testing.T) {
	log := &sessionLog{seen: map[string][]uint32{}}
	_, addr := startServer(t, ServerConfig{Observe: log.observe(avpAccountingRecordType, avpAccountingRecordNum)})
	// 100 is not a multiple of the session length 3: whole sessions only.
	r := run(t, ClientConfig{Addr: addr, Conns: 2, InFlight: 7, Count: 100,
		Mix: mustMix(t, MixConfig{Name: MixACR, Updates: 1})})
	if r.Sent != 99 || r.Answered != 99 {
		t.Errorf("sent %d answered %d", r.Sent, r.Answered)
	}
	if len(log.bad) > 0 || len(log.seen) != 33 {
		t.Errorf("%d sessions, %d out of order", len(log.seen), len(log.bad))
	}
	for sid, types := range log.seen {
		if !equal(types, []uint32{acctStart, acctInterim, acctStop}) {
			t.Errorf("session %s: record types %v", sid, types)
			break
		}
	}
}

func equal(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConnectRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := NewClient(ClientConfig{Addr: addr, InFlight: 1, Count: 1, Mix: mustMix(t, MixConfig{}),
		ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "connection 1") {
		t.Errorf("got %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	mix := mustMix(t, MixConfig{})
	for _, tc := range []struct {
		cfg  ClientConfig
		want string
	}{
		{ClientConfig{Mix: mix, InFlight: 1, Count: 1}, "address is required"},
		{ClientConfig{Addr: "127.0.0.1:1", InFlight: 1, Count: 1}, "mix is required"},
		{ClientConfig{Addr: "127.0.0.1:1", Mix: mix, Count: 1}, "set in-flight"},
		{ClientConfig{Addr: "127.0.0.1:1", Mix: mix, InFlight: 1, Rate: 1, Count: 1}, "exclusive"},
		{ClientConfig{Addr: "127.0.0.1:1", Mix: mix, InFlight: 1}, "duration or a count"},
		{ClientConfig{Addr: "127.0.0.1:1", Mix: mix, InFlight: 1, Count: 1, OriginHost: "a%sb"}, "origin host"},
	} {
		if _, err := NewClient(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// syncWriter collects progress lines written by the monitor goroutine.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestProgressLines(t *testing.T) {
	_, addr := startServer(t, ServerConfig{})
	var w syncWriter
	run(t, ClientConfig{Addr: addr, Conns: 2, InFlight: 4, Duration: 300 * time.Millisecond,
		Mix: mustMix(t, MixConfig{}), Progress: &w, ProgressInterval: 50 * time.Millisecond})
	w.mu.Lock()
	out := w.b.String()
	w.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		t.Fatalf("progress: %q", out)
	}
	for _, l := range lines {
		if !strings.Contains(l, "sent ") || !strings.Contains(l, "answered ") || !strings.Contains(l, "/s") || !strings.Contains(l, "p99 ") {
			t.Errorf("progress line %q", l)
		}
	}
}
