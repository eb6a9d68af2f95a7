// Package bench is dra's load benchmark: the same load generator and
// answering server (package loadgen, in the benchmark's process) measured
// three ways, round by round,
//
//	direct        client -> server
//	agent         client -> dra (the cmd/dra binary, its own process) -> server
//	freeDiameter  client -> freeDiameterd relay (its own process) -> server
//
// with the relay's CPU time read from /proc/<pid>/stat before and after
// each run. See BENCHMARKS.md at the repository root for the commands,
// the machine and the results.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/loadgen"
	"github.com/dra-project/dra/test/fdtest"
	"github.com/dra-project/dra/wire"
)

// Config names.
const (
	Direct       = "direct"
	Agent        = "agent"
	FreeDiameter = "freeDiameter"
)

// Configs lists the configurations in the order each round runs them.
var Configs = []string{Direct, Agent, FreeDiameter}

// Variant is one kind of load, a row group of the table.
type Variant struct {
	Name     string
	Conns    int
	InFlight int     // closed loop
	Rate     float64 // open loop (set by the suite for HalfMax)
	// HalfMax marks the open-loop variant whose rate is half of the
	// agent's closed-loop maximum (MaxFrom, a closed-loop variant).
	HalfMax bool
	MaxFrom string
	Mix     loadgen.MixConfig
	// Configs run in this variant (default all).
	Configs []string
}

func generic(size int) loadgen.MixConfig {
	return loadgen.MixConfig{Name: loadgen.MixGeneric, Size: size}
}

// Variants are the row groups of the comparison, in order. The open-loop
// variants come last: the rate of open-halfmax depends on "if100".
var Variants = []Variant{
	{Name: "if1", Conns: 1, InFlight: 1, Mix: generic(200)},
	{Name: "if100", Conns: 1, InFlight: 100, Mix: generic(200)},
	{Name: "if1000", Conns: 1, InFlight: 1000, Mix: generic(200)},
	{Name: "if100-c64", Conns: 64, InFlight: 100, Mix: generic(200)},
	{Name: "if100-1k", Conns: 1, InFlight: 100, Mix: generic(1024)},
	{Name: "if100-ccr", Conns: 1, InFlight: 100, Mix: loadgen.MixConfig{Name: loadgen.MixCCR}},
	{Name: "open-halfmax", Conns: 1, HalfMax: true, MaxFrom: "if100", Mix: generic(200),
		Configs: []string{Direct, Agent}},
	// A light load, well within freeDiameter's capacity too. At such a
	// rate the generator's process is idle between sends, and the Go
	// runtime then wakes its pacing timer with epoll_wait's millisecond
	// resolution: the latencies of all three include that lateness.
	{Name: "open-5k", Conns: 1, Rate: 5000, Mix: generic(200)},
}

// Describe says what the variant sends.
func (v Variant) Describe() string {
	var mix string
	switch v.Mix.Name {
	case loadgen.MixGeneric, "":
		mix = fmt.Sprintf("generic %d B", v.Mix.Size)
	case loadgen.MixCCR:
		mix = "ccr (CCR-I/U/U/T, 284–308 B)"
	default:
		mix = v.Mix.Name
	}
	load := fmt.Sprintf("%d in flight", v.InFlight)
	switch {
	case v.HalfMax && v.Rate > 0:
		load = fmt.Sprintf("open loop %.0f/s (½ agent max at %s)", v.Rate, v.MaxFrom)
	case v.HalfMax:
		load = fmt.Sprintf("open loop at ½ agent max at %s", v.MaxFrom)
	case v.Rate > 0:
		load = fmt.Sprintf("open loop %.0f/s", v.Rate)
	}
	conns := "1 conn"
	if v.Conns != 1 {
		conns = fmt.Sprintf("%d conns", v.Conns)
	}
	return fmt.Sprintf("%s, %s, %s", load, conns, mix)
}

func (v Variant) configs() []string {
	if len(v.Configs) > 0 {
		return v.Configs
	}
	return Configs
}

// Options parameterise a comparison.
type Options struct {
	Duration time.Duration // per run (BENCH_DURATION, default 5s)
	Rounds   int           // (BENCH_ROUNDS, default 3)
	// Variants selects variants by name (BENCH_VARIANTS, a regexp; empty:
	// all). The open-loop variant needs its MaxFrom variant.
	Variants *regexp.Regexp
	// Configs restricts the configurations run (BENCH_CONFIGS, a
	// comma-separated list of direct, agent, freeDiameter; empty: all).
	Configs []string
	// PerfDir, if set, records each agent run with `perf record -g` into
	// that directory (BENCH_PERF_DIR): for profiles, not for figures, as
	// perf takes CPU from the same two cores.
	PerfDir string
	// Out receives progress lines and the table (default os.Stdout).
	Out io.Writer
}

// OptionsFromEnv reads BENCH_DURATION, BENCH_ROUNDS, BENCH_VARIANTS,
// BENCH_CONFIGS and BENCH_PERF_DIR.
func OptionsFromEnv(tb testing.TB) Options {
	tb.Helper()
	o := Options{Duration: 5 * time.Second, Rounds: 3, Out: os.Stdout}
	if s := os.Getenv("BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			tb.Fatalf("BENCH_DURATION=%q: want a positive duration such as 5s", s)
		}
		o.Duration = d
	}
	if s := os.Getenv("BENCH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			tb.Fatalf("BENCH_ROUNDS=%q: want a positive integer", s)
		}
		o.Rounds = n
	}
	if s := os.Getenv("BENCH_VARIANTS"); s != "" {
		re, err := regexp.Compile(s)
		if err != nil {
			tb.Fatalf("BENCH_VARIANTS=%q: %v", s, err)
		}
		o.Variants = re
	}
	if s := os.Getenv("BENCH_CONFIGS"); s != "" {
		for _, c := range strings.Split(s, ",") {
			c = strings.TrimSpace(c)
			if !slices.Contains(Configs, c) {
				tb.Fatalf("BENCH_CONFIGS=%q: %q is not one of %v", s, c, Configs)
			}
			o.Configs = append(o.Configs, c)
		}
	}
	o.PerfDir = os.Getenv("BENCH_PERF_DIR")
	return o
}

// Env is the running setup: the answering server (in this process), the
// agent and freeDiameter (each its own process), all on loopback.
type Env struct {
	Server     *loadgen.Server
	ServerAddr string
	agent      *agentProc
	fd         *fdtest.Node
	out        io.Writer
}

// Target is where a configuration's client connects, and the relay
// process whose CPU is measured (PID 0: none).
type Target struct {
	Name string
	Addr string
	PID  int
}

// StartEnv starts the server, builds and starts the agent, and starts
// freeDiameter (at its default log level), then waits until a few requests
// pass through each configuration. Everything is stopped by tb.Cleanup.
func StartEnv(tb testing.TB, out io.Writer) *Env {
	tb.Helper()
	if out == nil {
		out = io.Discard
	}
	fdtest.Require(tb)
	e := startServer(tb, out)
	dir := tb.TempDir()
	bin := buildAgent(tb, dir)
	e.agent = startAgent(tb, bin, dir, e.ServerAddr, "")
	e.fd = startFreeDiameter(tb, e.ServerAddr, true)
	for _, name := range Configs {
		e.waitReady(tb, e.Target(name))
	}
	return e
}

// startServer starts the answering server (stopped by tb.Cleanup) and
// returns an Env around it.
func startServer(tb testing.TB, out io.Writer) *Env {
	tb.Helper()
	srv, err := loadgen.NewServer(loadgen.ServerConfig{OriginHost: serverHost, OriginRealm: serverRealm})
	if err != nil {
		tb.Fatal(err)
	}
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &Env{Server: srv, ServerAddr: addr.String(), out: out}
}

// Target returns the target of a configuration.
func (e *Env) Target(name string) Target {
	switch name {
	case Direct:
		return Target{Name: Direct, Addr: e.ServerAddr}
	case Agent:
		return Target{Name: Agent, Addr: e.agent.addr, PID: e.agent.pid()}
	case FreeDiameter:
		return Target{Name: FreeDiameter, Addr: e.fd.Addr(), PID: e.fd.PID()}
	}
	panic("bench: unknown configuration " + name)
}

// waitReady sends a few requests through t until all are answered 2001
// (the relay has connected to the server and routes to it), for up to
// 20 s.
func (e *Env) waitReady(tb testing.TB, t Target) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		mix, err := loadgen.NewMix(loadgen.MixConfig{DestRealm: serverRealm})
		if err != nil {
			tb.Fatal(err)
		}
		cl, err := loadgen.NewClient(loadgen.ClientConfig{Addr: t.Addr, InFlight: 1, Count: 20, Mix: mix,
			Timeout: time.Second, ConnectTimeout: time.Second, DisconnectTimeout: time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		r, err := cl.Run(context.Background())
		switch {
		case err != nil:
			last = err.Error()
		case r.Sent == 20 && r.ResultCodes[wire.ResultSuccess] == 20:
			return
		default:
			last = fmt.Sprintf("sent %d, answered %d, result codes %v", r.Sent, r.Answered, r.ResultCodes)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if t.Name == Agent && !e.agent.running() {
		tb.Fatalf("bench: dra exited (%v):\n%s", e.agent.waitErr, e.agent.out.String())
	}
	tb.Fatalf("bench: %s at %s not relaying to the server after 20 s: %s", t.Name, t.Addr, last)
}

// Measurement is one run of one configuration.
type Measurement struct {
	Variant, Config string
	Round           int
	Result          *loadgen.Result
	// RelayCPU is the relay process's CPU time (user + system) over the
	// run, connection set-up and DPR included; 0 for direct.
	RelayCPU time.Duration
	// Relay and Gen are the counters of the relay process and of this
	// process (load generator and server) over the run.
	Relay, Gen procStats
	// Busy is the share of the machine's CPU time (both cores) that was
	// busy during the run, Steal the share the hypervisor took.
	Busy, Steal float64
	// Problems lists why the run does not count: unanswered requests,
	// answers other than 2001, connection errors.
	Problems []string
}

// CPUPer100k is the relay's CPU seconds per 100,000 forwarded requests
// (answered ones: each answer went through the relay both ways).
func (m *Measurement) CPUPer100k() float64 {
	if m.Result == nil || m.Result.Answered == 0 {
		return 0
	}
	return m.RelayCPU.Seconds() / float64(m.Result.Answered) * 1e5
}

func (m *Measurement) perRequest(n uint64) float64 {
	if m.Result == nil || m.Result.Answered == 0 {
		return 0
	}
	return float64(n) / float64(m.Result.Answered)
}

// Run runs one client against t for d and checks that every request sent
// was answered with 2001.
func (e *Env) Run(tb testing.TB, t Target, v Variant, d time.Duration) *Measurement {
	tb.Helper()
	mixCfg := v.Mix
	mixCfg.DestRealm = serverRealm
	mix, err := loadgen.NewMix(mixCfg)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := loadgen.ClientConfig{Addr: t.Addr, Conns: v.Conns, InFlight: v.InFlight, Rate: v.Rate,
		Duration: d, Mix: mix}
	m := &Measurement{Variant: v.Name, Config: t.Name}
	var res *loadgen.Result
	var relay0, gen0 procStats
	var mach0 cpuTimes
	var srv0 uint64
	for attempt := 1; ; attempt++ {
		if t.PID != 0 {
			if relay0, err = readProcStats(t.PID); err != nil {
				tb.Fatalf("bench: %s: %v", t.Name, err)
			}
		}
		gen0, _ = readProcStats(0)
		mach0 = readCPUTimes()
		srv0 = e.Server.Stats().Requests
		cl, err := loadgen.NewClient(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		res, err = cl.Run(context.Background())
		if err == nil {
			break
		}
		// A connection refused at CER (e.g. freeDiameter still deleting
		// the previous run's peer of the same name) is retried once.
		if attempt == 2 {
			tb.Fatalf("bench: %s %s: cannot connect: %v", v.Name, t.Name, err)
		}
		fmt.Fprintf(e.out, "bench: %s %s: connecting failed, retrying in 1s: %v\n", v.Name, t.Name, err)
		time.Sleep(time.Second)
	}
	m.Busy, m.Steal = busyFraction(mach0, readCPUTimes())
	gen1, _ := readProcStats(0)
	m.Gen = gen1.sub(gen0)
	if t.PID != 0 {
		relay1, err := readProcStats(t.PID)
		if err != nil {
			tb.Fatalf("bench: %s: %v", t.Name, err)
		}
		m.Relay = relay1.sub(relay0)
		m.RelayCPU = m.Relay.cpu
	}
	m.Result = res
	if res.Sent == 0 {
		m.Problems = append(m.Problems, "nothing sent")
	}
	if res.Answered != res.Sent || res.Unanswered != 0 {
		m.Problems = append(m.Problems, fmt.Sprintf("sent %d but answered %d (timeouts %d, lost %d, late %d)",
			res.Sent, res.Answered, res.Timeouts, res.Lost, res.Late))
	}
	// Every answer must come from the server: a relay answering by
	// itself (3002 when the server is unreachable...) would be faster.
	if got := e.Server.Stats().Requests - srv0; got != res.Answered {
		m.Problems = append(m.Problems, fmt.Sprintf("the server received %d requests for %d answers", got, res.Answered))
	}
	if ok := res.ResultCodes[wire.ResultSuccess]; ok != res.Answered {
		m.Problems = append(m.Problems, fmt.Sprintf("answers not 2001: result codes %v", res.ResultCodes))
	}
	for _, s := range res.Errors {
		m.Problems = append(m.Problems, "error: "+s)
	}
	return m
}

// Report holds every measurement of a comparison.
type Report struct {
	Options      Options
	Variants     []Variant // as run (open-loop rates filled in)
	Measurements []*Measurement
	Skipped      map[string]string // variant -> why it was not run
}

// Failed lists the runs that had problems.
func (r *Report) Failed() []*Measurement {
	var f []*Measurement
	for _, m := range r.Measurements {
		if len(m.Problems) > 0 {
			f = append(f, m)
		}
	}
	return f
}

func (r *Report) runs(variant, config string) []*Measurement {
	var out []*Measurement
	for _, m := range r.Measurements {
		if m.Variant == variant && m.Config == config {
			out = append(out, m)
		}
	}
	return out
}

// Compare runs every selected variant: rounds of direct, agent,
// freeDiameter in turn, then writes the table to o.Out. It reports
// runs with unanswered requests with tb.Errorf (after the table).
func Compare(tb testing.TB, o Options) *Report {
	tb.Helper()
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	e := StartEnv(tb, o.Out)
	fmt.Fprintf(o.Out, "bench: server %s, agent %s (pid %d), freeDiameter %s (pid %d); %d rounds of %s per configuration\n",
		e.ServerAddr, e.agent.addr, e.agent.pid(), e.fd.Addr(), e.fd.PID(), o.Rounds, o.Duration)
	rep := &Report{Options: o, Skipped: map[string]string{}}
	for _, v := range Variants {
		if o.Variants != nil && !o.Variants.MatchString(v.Name) {
			continue
		}
		if v.HalfMax {
			max := median(throughputs(rep.runs(v.MaxFrom, Agent)))
			if max == 0 {
				rep.Skipped[v.Name] = fmt.Sprintf("needs the agent's maximum from %s (not run)", v.MaxFrom)
				fmt.Fprintf(o.Out, "bench: %s skipped: %s\n", v.Name, rep.Skipped[v.Name])
				continue
			}
			v.Rate = max / 2
		}
		rep.Variants = append(rep.Variants, v)
		fmt.Fprintf(o.Out, "bench: %s — %s\n", v.Name, v.Describe())
		for round := 1; round <= o.Rounds; round++ {
			for _, name := range v.configs() {
				if len(o.Configs) > 0 && !slices.Contains(o.Configs, name) {
					continue
				}
				t := e.Target(name)
				stopPerf := func() {}
				if name == Agent && o.PerfDir != "" {
					stopPerf = startPerf(tb, o.PerfDir, fmt.Sprintf("%s-round%d", v.Name, round), t.PID, o.Out)
				}
				m := e.Run(tb, t, v, o.Duration)
				stopPerf()
				m.Round = round
				rep.Measurements = append(rep.Measurements, m)
				fmt.Fprintf(o.Out, "  round %d %-12s %s\n", round, name, m.line())
				for _, p := range m.Problems {
					fmt.Fprintf(o.Out, "  !!! %s %s round %d: %s\n", v.Name, name, round, p)
				}
			}
		}
	}
	fmt.Fprintln(o.Out)
	rep.WriteTable(o.Out)
	fmt.Fprintln(o.Out)
	rep.WriteActivity(o.Out)
	fmt.Fprintln(o.Out)
	rep.WriteTargets(o.Out)
	if f := rep.Failed(); len(f) > 0 {
		fmt.Fprintf(o.Out, "\n!!! %d RUN(S) WITH UNANSWERED REQUESTS OR ERRORS: their figures are not valid\n", len(f))
		for _, m := range f {
			tb.Errorf("%s %s round %d: %s", m.Variant, m.Config, m.Round, strings.Join(m.Problems, "; "))
		}
	}
	return rep
}

func (m *Measurement) line() string {
	r := m.Result
	s := fmt.Sprintf("%9.0f answers/s  p50 %-8s p99 %-8s sent %d answered %d", r.Throughput,
		fmtLatency(r.Latency.P50), fmtLatency(r.Latency.P99), r.Sent, r.Answered)
	if m.Config != Direct {
		s += fmt.Sprintf("  relay CPU %.2fs = %.2f s/100k, %.2f syscalls and %.2f ctx switches/req",
			m.RelayCPU.Seconds(), m.CPUPer100k(), m.perRequest(m.Relay.syscr+m.Relay.syscw), m.perRequest(m.Relay.ctxsw))
	}
	s += fmt.Sprintf("  machine busy %.0f%%", 100*m.Busy)
	return s
}

func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func spread(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	return slices.Min(xs), slices.Max(xs)
}

func collect(ms []*Measurement, f func(*Measurement) float64) []float64 {
	out := make([]float64, 0, len(ms))
	for _, m := range ms {
		out = append(out, f(m))
	}
	return out
}

func throughputs(ms []*Measurement) []float64 {
	return collect(ms, func(m *Measurement) float64 { return m.Result.Throughput })
}

func p50s(ms []*Measurement) []float64 {
	return collect(ms, func(m *Measurement) float64 { return float64(m.Result.Latency.P50) })
}

func p99s(ms []*Measurement) []float64 {
	return collect(ms, func(m *Measurement) float64 { return float64(m.Result.Latency.P99) })
}

func cpus(ms []*Measurement) []float64 {
	return collect(ms, func(m *Measurement) float64 { return m.CPUPer100k() })
}

func genCPUs(ms []*Measurement) []float64 {
	return collect(ms, func(m *Measurement) float64 {
		return float64(m.Result.ClientCPU) / float64(time.Microsecond) / float64(max(m.Result.Sent, 1))
	})
}

// Summary is the medians of a variant and configuration.
type Summary struct {
	Runs                     int
	Throughput, ThrLo, ThrHi float64 // answers/s
	P50, P50Lo, P50Hi        time.Duration
	P99, P99Lo, P99Hi        time.Duration
	CPU, CPULo, CPUHi        float64 // relay CPU s per 100k
	GenCPU                   float64 // generator + server µs per request
	Bad                      int     // runs with problems
	// Per answered request, medians: the relay's read and write system
	// calls and context switches, the same for this process.
	RelaySyscalls, RelayCtxsw float64
	GenSyscalls, GenCtxsw     float64
	Busy, Steal               float64 // machine CPU shares, medians
}

// Summarize returns the medians over the rounds (ok false if none ran).
func (r *Report) Summarize(variant, config string) (s Summary, ok bool) {
	ms := r.runs(variant, config)
	if len(ms) == 0 {
		return s, false
	}
	s.Runs = len(ms)
	thr := throughputs(ms)
	s.Throughput = median(thr)
	s.ThrLo, s.ThrHi = spread(thr)
	d := func(xs []float64) (time.Duration, time.Duration, time.Duration) {
		lo, hi := spread(xs)
		return time.Duration(median(xs)), time.Duration(lo), time.Duration(hi)
	}
	s.P50, s.P50Lo, s.P50Hi = d(p50s(ms))
	s.P99, s.P99Lo, s.P99Hi = d(p99s(ms))
	c := cpus(ms)
	s.CPU = median(c)
	s.CPULo, s.CPUHi = spread(c)
	s.GenCPU = median(genCPUs(ms))
	s.RelaySyscalls = median(collect(ms, func(m *Measurement) float64 { return m.perRequest(m.Relay.syscr + m.Relay.syscw) }))
	s.RelayCtxsw = median(collect(ms, func(m *Measurement) float64 { return m.perRequest(m.Relay.ctxsw) }))
	s.GenSyscalls = median(collect(ms, func(m *Measurement) float64 { return m.perRequest(m.Gen.syscr + m.Gen.syscw) }))
	s.GenCtxsw = median(collect(ms, func(m *Measurement) float64 { return m.perRequest(m.Gen.ctxsw) }))
	s.Busy = median(collect(ms, func(m *Measurement) float64 { return m.Busy }))
	s.Steal = median(collect(ms, func(m *Measurement) float64 { return m.Steal }))
	for _, m := range ms {
		if len(m.Problems) > 0 {
			s.Bad++
		}
	}
	return s, true
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", a/b)
}

func kilo(x float64) string {
	if x >= 10000 {
		return fmt.Sprintf("%.0fk", x/1000)
	}
	return fmt.Sprintf("%.1fk", x/1000)
}

// WriteTable writes the comparison as a Markdown table: medians over the
// rounds with the min–max spread, and in each agent row the ratios to
// direct and to freeDiameter.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Medians of %d rounds of %s per configuration (min–max in brackets); relay CPU = utime+stime of the relay process per 100,000 answered requests; gen CPU = load generator + answering server (one process) per request.\n\n",
		r.Options.Rounds, r.Options.Duration)
	fmt.Fprintln(w, "| variant | config | answers/s | p50 | p99 | relay CPU s/100k | agent/direct thr | agent/fD CPU | agent/fD thr | gen CPU µs/req |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, v := range r.Variants {
		first := true
		dir, _ := r.Summarize(v.Name, Direct)
		fd, _ := r.Summarize(v.Name, FreeDiameter)
		for _, name := range v.configs() {
			s, ok := r.Summarize(v.Name, name)
			if !ok {
				continue
			}
			label := ""
			if first {
				label = fmt.Sprintf("**%s**<br>%s", v.Name, v.Describe())
				first = false
			}
			cpu, rDir, rCPU, rThr := "—", "", "", ""
			if name != Direct {
				cpu = fmt.Sprintf("%.2f (%.2f–%.2f)", s.CPU, s.CPULo, s.CPUHi)
			}
			if name == Agent {
				rDir = ratio(s.Throughput, dir.Throughput)
				rCPU = ratio(s.CPU, fd.CPU)
				rThr = ratio(s.Throughput, fd.Throughput)
			}
			cfg := name
			if s.Bad > 0 {
				cfg += fmt.Sprintf(" ⚠ %d/%d runs unanswered", s.Bad, s.Runs)
			}
			fmt.Fprintf(w, "| %s | %s | %s (%s–%s) | %s | %s (%s–%s) | %s | %s | %s | %s | %.1f |\n",
				label, cfg, kilo(s.Throughput), kilo(s.ThrLo), kilo(s.ThrHi),
				fmtLatency(s.P50), fmtLatency(s.P99), fmtLatency(s.P99Lo), fmtLatency(s.P99Hi),
				cpu, rDir, rCPU, rThr, s.GenCPU)
		}
	}
	for name, why := range r.Skipped {
		fmt.Fprintf(w, "\n%s: not run, %s.\n", name, why)
	}
}

// WriteActivity writes a second table: per answered request, the relay's
// read/write system calls and context switches and the same for the load
// generator's process, and how busy the machine's two cores were.
func (r *Report) WriteActivity(w io.Writer) {
	fmt.Fprintln(w, "Per answered request (medians): read+write system calls and context switches of the relay and of the load generator's process (client and server); machine = busy share of both cores during the run (hypervisor steal apart).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| variant | config | relay syscalls/req | relay ctx switches/req | gen syscalls/req | gen ctx switches/req | machine busy | steal |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, v := range r.Variants {
		first := true
		for _, name := range v.configs() {
			s, ok := r.Summarize(v.Name, name)
			if !ok {
				continue
			}
			label := ""
			if first {
				label, first = v.Name, false
			}
			rs, rc := "—", "—"
			if name != Direct {
				rs, rc = fmt.Sprintf("%.2f", s.RelaySyscalls), fmt.Sprintf("%.2f", s.RelayCtxsw)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f | %.2f | %.0f%% | %.0f%% |\n",
				label, name, rs, rc, s.GenSyscalls, s.GenCtxsw, 100*s.Busy, 100*s.Steal)
		}
	}
}

// Reference figures and targets.
const (
	targetCPURatio      = 0.2  // agent CPU per request / freeDiameter's
	fdReferenceCPU      = 7.7  // s per 100k, freeDiameter at 100 in flight, as measured before
	targetThrRatio      = 0.85 // agent / direct at 100 in flight
	fdReferenceThrRatio = 0.47
	targetAddedP99      = 500 * time.Microsecond
	cpuVariant          = "if100"
)

// WriteTargets writes the targets with the figures of this run.
func (r *Report) WriteTargets(w io.Writer) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintln(w, "Targets (figures from the medians above):")
	if ag, ok := r.Summarize(cpuVariant, Agent); ok {
		fd, _ := r.Summarize(cpuVariant, FreeDiameter)
		dir, _ := r.Summarize(cpuVariant, Direct)
		if fd.CPU > 0 {
			q := ag.CPU / fd.CPU
			fmt.Fprintf(w, "- CPU per forwarded request (%s): agent %.2f s/100k, freeDiameter %.2f s/100k: ratio %.2f, target ≤ %.2f: %s (against the earlier %.1f s/100k of freeDiameter: ratio %.2f)\n",
				cpuVariant, ag.CPU, fd.CPU, q, targetCPURatio, verdict(q <= targetCPURatio), fdReferenceCPU, ag.CPU/fdReferenceCPU)
		}
		if dir.Throughput > 0 {
			q := ag.Throughput / dir.Throughput
			fmt.Fprintf(w, "- Throughput agent/direct (%s): %.2f, target ≥ %.2f: %s (freeDiameter/direct %.2f here, %.2f before)\n",
				cpuVariant, q, targetThrRatio, verdict(q >= targetThrRatio), fd.Throughput/dir.Throughput, fdReferenceThrRatio)
		}
	}
	for _, v := range r.Variants {
		if v.Rate == 0 {
			continue
		}
		ag, ok1 := r.Summarize(v.Name, Agent)
		dir, ok2 := r.Summarize(v.Name, Direct)
		if !ok1 || !ok2 {
			continue
		}
		added := ag.P99 - dir.P99
		if v.HalfMax {
			// With the rounds' p99 ranges overlapping, the difference of
			// the medians is noise, whatever its sign.
			verd := verdict(added < targetAddedP99)
			overlap := ag.P99Lo <= dir.P99Hi && dir.P99Lo <= ag.P99Hi
			noisy := max(dir.P99Hi-dir.P99Lo, ag.P99Hi-ag.P99Lo) > targetAddedP99
			if overlap && noisy {
				verd = "INCONCLUSIVE: the rounds' p99 ranges overlap and are wider than the target"
			}
			fmt.Fprintf(w, "- Added p99 latency at %.0f requests/s (half of the agent's %s maximum): direct %s (%s–%s), agent %s (%s–%s), added %s (p50: %s), target < %s: %s\n",
				v.Rate, v.MaxFrom, fmtLatency(dir.P99), fmtLatency(dir.P99Lo), fmtLatency(dir.P99Hi),
				fmtLatency(ag.P99), fmtLatency(ag.P99Lo), fmtLatency(ag.P99Hi), fmtSigned(added),
				fmtSigned(ag.P50-dir.P50), fmtLatency(targetAddedP99), verd)
			continue
		}
		line := fmt.Sprintf("- Added p99 latency at %.0f requests/s (information): agent %s", v.Rate, fmtSigned(added))
		if fd, ok := r.Summarize(v.Name, FreeDiameter); ok {
			line += fmt.Sprintf(", freeDiameter %s", fmtSigned(fd.P99-dir.P99))
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "- Allocations per forwarded request: see `go test -run '^$' -bench BenchmarkForward -benchmem ./routing`.")
}

func fmtSigned(d time.Duration) string {
	if d < 0 {
		return "−" + fmtLatency(-d)
	}
	return fmtLatency(d)
}
