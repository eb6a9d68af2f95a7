package soak

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/loadgen"
)

// sample is one reading of the process.
type sample struct {
	at         time.Duration
	rss, heap  uint64 // bytes; heap is live heap after a GC
	goroutines int
	answered   uint64
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// rss reads the resident set size from /proc/self/statm.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// TestSoak relays SOAK_RATE requests per second (default 5000, open loop)
// from a load client through an in-process agent to a load server for
// SOAK_DURATION, sampling every SOAK_INTERVAL (default 5s) the process's
// RSS, live Go heap (after a GC) and goroutine count. The verdict compares
// the median of the first third of the samples with that of the last
// third: flat when the last is within 10% (plus a small absolute slack) of
// the first. Client, agent and server share the process, so a leak in any
// of them shows. Without SOAK_DURATION the test is skipped.
func TestSoak(t *testing.T) {
	if os.Getenv("SOAK_DURATION") == "" {
		t.Skip("set SOAK_DURATION (make soak)")
	}
	dur := envDuration(t, "SOAK_DURATION", 10*time.Minute)
	every := envDuration(t, "SOAK_INTERVAL", 5*time.Second)
	rate := 5000.0
	if v := os.Getenv("SOAK_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatal(err)
		}
		rate = r
	}

	srv, err := loadgen.NewServer(loadgen.ServerConfig{OriginHost: "srv.soak.test", OriginRealm: "soak.test"})
	if err != nil {
		t.Fatal(err)
	}
	srvAddr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a := dratest.StartAgent(t, fmt.Sprintf(`identity:
  origin_host: dra.soak.test
  origin_realm: dra.soak.test
listen:
  - address: 127.0.0.1:0
accept_unknown_peers: true
peers:
  - {host: srv.soak.test, address: %s, connect: true}
routes:
  - realm: soak.test
    action: relay
    peers: [{host: srv.soak.test}]
`, srvAddr))
	deadline := time.Now().Add(10 * time.Second)
	for p := a.Peers().Peer("srv.soak.test"); p == nil || p.Active() == nil; p = a.Peers().Peer("srv.soak.test") {
		if time.Now().After(deadline) {
			t.Fatal("server not open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mix, err := loadgen.NewMix(loadgen.MixConfig{Name: "ccr", DestRealm: "soak.test"})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := loadgen.NewClient(loadgen.ClientConfig{Addr: a.Addrs()[0].String(), Conns: 4, Mix: mix, Rate: rate, Duration: dur})
	if err != nil {
		t.Fatal(err)
	}
	stats := a.Router().Stats()
	var series []sample
	start := time.Now()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			s := sample{at: time.Since(start).Round(time.Second), rss: rss(), heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine(), answered: stats.Answered.Load()}
			series = append(series, s)
			fmt.Printf("soak %8s  rss %6.1f MiB  heap %6.1f MiB  goroutines %5d  relayed %d\n",
				s.at, float64(s.rss)/(1<<20), float64(s.heap)/(1<<20), s.goroutines, s.answered)
		}
	}()
	res, err := cl.Run(context.Background())
	close(stop)
	<-sampled
	if path := os.Getenv("SOAK_HEAPPROFILE"); path != "" {
		// Where the live heap is at the end, for a growing verdict.
		if f, err := os.Create(path); err == nil {
			runtime.GC()
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Logf("load: sent %d, answered %d, unanswered %d (timeouts %d, lost %d), %.0f answers/s, p50 %s p99 %s p999 %s",
		res.Sent, res.Answered, res.Unanswered, res.Timeouts, res.Lost, res.Throughput, res.Latency.P50, res.Latency.P99, res.Latency.P999)
	if res.Unanswered != 0 {
		t.Errorf("%d requests unanswered", res.Unanswered)
	}
	if len(series) < 6 {
		t.Fatalf("%d samples: run longer than 6 × SOAK_INTERVAL", len(series))
	}
	third := len(series) / 3
	checks := []struct {
		name  string
		get   func(sample) float64
		slack float64 // absolute, in the unit of get
		unit  string
	}{
		{"rss", func(s sample) float64 { return float64(s.rss) / (1 << 20) }, 8, "MiB"},
		{"heap", func(s sample) float64 { return float64(s.heap) / (1 << 20) }, 2, "MiB"},
		{"goroutines", func(s sample) float64 { return float64(s.goroutines) }, 10, ""},
	}
	for _, c := range checks {
		var first, last []float64
		for _, s := range series[:third] {
			first = append(first, c.get(s))
		}
		for _, s := range series[len(series)-third:] {
			last = append(last, c.get(s))
		}
		f, l := median(first), median(last)
		flat := l <= f*1.10+c.slack
		verdict := "flat"
		if !flat {
			verdict = "GROWING"
			t.Errorf("%s grew: first-third median %.1f%s, last-third median %.1f%s", c.name, f, c.unit, l, c.unit)
		}
		fmt.Printf("soak verdict %-10s first third %8.1f%s  last third %8.1f%s  (%+.1f%%)  %s\n", c.name, f, c.unit, l, c.unit, 100*(l-f)/max(f, 1e-9), verdict)
	}
}
