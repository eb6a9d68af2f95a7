package bench

import (
	"flag"
	"strings"
	"testing"
)

// BenchmarkLoadComparison runs the whole comparison once, whatever b.N
// (use -benchtime 1x), and prints the tables:
//
//	go test ./test/bench -run '^$' -bench LoadComparison -benchtime 1x -timeout 30m
//
// (make bench-load). BENCH_DURATION (per run, default 5s), BENCH_ROUNDS
// (default 3), BENCH_VARIANTS (a regexp of variant names) and
// BENCH_PERF_DIR (perf profiles of the agent) shorten or change it. It
// takes minutes and needs freeDiameter, so it runs only when -bench names
// it: `make bench` (-bench .) skips it.
func BenchmarkLoadComparison(b *testing.B) {
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), "LoadComparison") {
		b.Skip("the load comparison runs only when named: -bench LoadComparison (make bench-load)")
	}
	rep := Compare(b, OptionsFromEnv(b))
	if s, ok := rep.Summarize(cpuVariant, Agent); ok {
		b.ReportMetric(s.Throughput, "agent-answers/s")
		b.ReportMetric(s.CPU, "agent-cpu-s/100k")
		if d, ok := rep.Summarize(cpuVariant, Direct); ok && d.Throughput > 0 {
			b.ReportMetric(s.Throughput/d.Throughput, "agent/direct")
		}
		if f, ok := rep.Summarize(cpuVariant, FreeDiameter); ok && f.CPU > 0 {
			b.ReportMetric(s.CPU/f.CPU, "agent/fd-cpu")
		}
	}
	// The figures above come from one run of the suite whatever b.N.
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTracingOverhead measures request tracing on the forwarding
// path: the agent with tracing off, sampling 1% and 100%, spans exported
// over OTLP/HTTP, round by round, whatever b.N:
//
//	go test ./test/bench -run '^$' -bench TracingOverhead -benchtime 1x -timeout 30m
//
// (make bench-tracing). BENCH_DURATION, BENCH_ROUNDS and BENCH_VARIANTS
// (if100, open-20k) apply.
func BenchmarkTracingOverhead(b *testing.B) {
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), "TracingOverhead") {
		b.Skip("the tracing comparison runs only when named: -bench TracingOverhead (make bench-tracing)")
	}
	rep := CompareTracing(b, OptionsFromEnv(b))
	if off, ok := rep.Summarize("if100", "trace-off"); ok && off.Throughput > 0 {
		for _, c := range TracingConfigs[1:] {
			if s, ok := rep.Summarize("if100", c.Name); ok {
				b.ReportMetric(s.Throughput/off.Throughput, c.Name+"/off-thr")
			}
		}
	}
	b.ReportMetric(0, "ns/op")
}
