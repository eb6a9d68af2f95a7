package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TracingConfigs are the agents of the tracing comparison: the same
// binary and routes, with request tracing off, at 1% and at 100%, spans
// exported over OTLP/HTTP to a receiver in the benchmark's process.
var TracingConfigs = []struct {
	Name  string
	Ratio float64 // <0: tracing off
}{{"trace-off", -1}, {"trace-1%", 0.01}, {"trace-100%", 1}}

// TracingVariants are the loads of the tracing comparison.
var TracingVariants = []Variant{
	{Name: "if100", Conns: 1, InFlight: 100, Mix: generic(200)},
	{Name: "open-20k", Conns: 1, Rate: 20000, Mix: generic(200)},
}

// otlpSink is an OTLP/HTTP receiver that reads and discards what it is
// sent, counting requests and bytes.
type otlpSink struct {
	srv           *http.Server
	addr          string
	posts, nbytes atomic.Uint64
}

func startSink(tb testing.TB) *otlpSink {
	s := &otlpSink{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.posts.Add(1)
		s.nbytes.Add(uint64(n))
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty ExportTraceServiceResponse
	})}
	go s.srv.Serve(ln)
	tb.Cleanup(func() { s.srv.Close() })
	return s
}

// CompareTracing measures the cost of request tracing: rounds of the
// three TracingConfigs agents in turn under each TracingVariants load,
// medians, and the ratio of each to tracing off.
func CompareTracing(tb testing.TB, o Options) *Report {
	tb.Helper()
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	e := startServer(tb, o.Out)
	sink := startSink(tb)
	dir := tb.TempDir()
	bin := buildAgent(tb, dir)
	targets := map[string]Target{}
	for _, c := range TracingConfigs {
		extra := "telemetry: {traces: {exporter: none}}\n"
		if c.Ratio >= 0 {
			extra = fmt.Sprintf("telemetry: {traces: {exporter: otlp, protocol: http/protobuf, endpoint: \"http://%s\", sampling_ratio: %g}}\n", sink.addr, c.Ratio)
		}
		sub := filepath.Join(dir, strings.TrimSuffix(c.Name, "%"))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			tb.Fatal(err)
		}
		p := startAgent(tb, bin, sub, e.ServerAddr, extra)
		t := Target{Name: c.Name, Addr: p.addr, PID: p.pid()}
		e.waitReady(tb, t)
		targets[c.Name] = t
	}
	fmt.Fprintf(o.Out, "bench: tracing comparison, %d rounds of %s per agent; spans to an OTLP/HTTP receiver at %s\n", o.Rounds, o.Duration, sink.addr)
	rep := &Report{Options: o, Skipped: map[string]string{}}
	for _, v := range TracingVariants {
		if o.Variants != nil && !o.Variants.MatchString(v.Name) {
			continue
		}
		rep.Variants = append(rep.Variants, v)
		fmt.Fprintf(o.Out, "bench: %s — %s\n", v.Name, v.Describe())
		for round := 1; round <= o.Rounds; round++ {
			for _, c := range TracingConfigs {
				m := e.Run(tb, targets[c.Name], v, o.Duration)
				m.Round = round
				rep.Measurements = append(rep.Measurements, m)
				fmt.Fprintf(o.Out, "  round %d %-12s %s\n", round, c.Name, m.line())
				for _, p := range m.Problems {
					fmt.Fprintf(o.Out, "  !!! %s %s round %d: %s\n", v.Name, c.Name, round, p)
				}
			}
		}
	}
	fmt.Fprintf(o.Out, "\nOTLP receiver: %d exports, %.1f MB\n\n", sink.posts.Load(), float64(sink.nbytes.Load())/1e6)
	rep.WriteTracingTable(o.Out)
	for _, m := range rep.Failed() {
		tb.Errorf("%s %s round %d: %s", m.Variant, m.Config, m.Round, strings.Join(m.Problems, "; "))
	}
	return rep
}

// WriteTracingTable writes the tracing comparison as a Markdown table:
// medians over the rounds with their spread, and ratios to tracing off.
func (r *Report) WriteTracingTable(w io.Writer) {
	fmt.Fprintln(w, "| load | agent | answers/s | p50 | p99 | agent CPU s/100k | thr / off | CPU / off |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, v := range r.Variants {
		off, _ := r.Summarize(v.Name, TracingConfigs[0].Name)
		for _, c := range TracingConfigs {
			s, ok := r.Summarize(v.Name, c.Name)
			if !ok {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s (%s–%s) | %s | %s (%s–%s) | %.2f (%.2f–%.2f) | %s | %s |\n",
				v.Name, c.Name, kilo(s.Throughput), kilo(s.ThrLo), kilo(s.ThrHi), fmtLatency(s.P50),
				fmtLatency(s.P99), fmtLatency(s.P99Lo), fmtLatency(s.P99Hi), s.CPU, s.CPULo, s.CPUHi,
				ratio(s.Throughput, off.Throughput), ratio(s.CPU, off.CPU))
		}
	}
}
