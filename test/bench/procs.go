package bench

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/test/fdtest"
)

// Identities and realms of the three parties. The load generator's
// connections are load-1.load.test, load-2.load.test... (loadgen's default).
const (
	serverHost  = "srv.server.test"
	serverRealm = "server.test"
	agentHost   = "dra.bench.test"
	agentRealm  = "bench.test"
	fdHost      = "fd.relay.test"
	fdRealm     = "relay.test"
	clientRealm = "load.test"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("bench: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat
// (sysconf(_SC_CLK_TCK)), asked of getconf once; 100 on every Linux
// architecture Go runs on.
var clockTick = sync.OnceValue(func() time.Duration {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if hz, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && hz > 0 {
			return time.Second / time.Duration(hz)
		}
	}
	return 10 * time.Millisecond
})

// procStats are a process's counters, all threads included.
type procStats struct {
	cpu          time.Duration // utime + stime, from /proc/<pid>/stat
	syscr, syscw uint64        // read and write system calls, from /proc/<pid>/io
	ctxsw        uint64        // context switches (voluntary and not) of its live threads
}

func (a procStats) sub(b procStats) procStats {
	return procStats{cpu: a.cpu - b.cpu, syscr: a.syscr - b.syscr, syscw: a.syscw - b.syscw, ctxsw: a.ctxsw - b.ctxsw}
}

// readProcStats reads the counters of process pid (0: this process). Only
// the CPU time is required; the other counters stay 0 where /proc does not
// show them.
func readProcStats(pid int) (procStats, error) {
	var s procStats
	dir := "/proc/self"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d", pid)
	}
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields counted from 3 start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return s, fmt.Errorf("%s/stat: unexpected format", dir)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("%s/stat: %d fields", dir, len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("%s/stat: bad utime/stime", dir)
	}
	s.cpu = time.Duration(utime+stime) * clockTick()
	if b, err := os.ReadFile(dir + "/io"); err == nil {
		s.syscr = procField(b, "syscr:")
		s.syscw = procField(b, "syscw:")
	}
	tasks, _ := filepath.Glob(dir + "/task/*/status")
	for _, t := range tasks {
		if b, err := os.ReadFile(t); err == nil {
			s.ctxsw += procField(b, "voluntary_ctxt_switches:") + procField(b, "nonvoluntary_ctxt_switches:")
		}
	}
	return s, nil
}

// procField returns the number after the line starting with key.
func procField(b []byte, key string) uint64 {
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
			return n
		}
	}
	return 0
}

// cpuTimes are the machine's CPU times from the first line of /proc/stat,
// in clock ticks.
type cpuTimes struct{ busy, idle, steal uint64 }

func readCPUTimes() cpuTimes {
	var t cpuTimes
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return t
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return t
	}
	v := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
	// user nice system idle iowait irq softirq steal
	t.busy = v(1) + v(2) + v(3) + v(6) + v(7)
	t.idle = v(4) + v(5)
	t.steal = v(8)
	return t
}

// busyFraction is the share of the machine's CPU time (all cores) that
// was busy between a and b, and the share stolen by the hypervisor.
func busyFraction(a, b cpuTimes) (busy, steal float64) {
	total := float64((b.busy - a.busy) + (b.idle - a.idle) + (b.steal - a.steal))
	if total <= 0 {
		return 0, 0
	}
	return float64(b.busy-a.busy) / total, float64(b.steal-a.steal) / total
}

// tailBuffer keeps the last bytes written to it (a process's output).
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// buildAgent compiles cmd/dra into dir and returns the binary's path.
// BENCH_DRA_BIN names a prebuilt binary instead.
func buildAgent(tb testing.TB, dir string) string {
	tb.Helper()
	if bin := os.Getenv("BENCH_DRA_BIN"); bin != "" {
		return bin
	}
	gobin, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		tb.Fatalf("bench: the go command is needed to build cmd/dra: %v", err)
	}
	bin := filepath.Join(dir, "dra")
	out, err := exec.Command(gobin, "build", "-o", bin, "github.com/dra-project/dra/cmd/dra").CombinedOutput()
	if err != nil {
		tb.Fatalf("bench: go build ./cmd/dra: %v\n%s", err, out)
	}
	return bin
}

// agentProc is one running dra command.
type agentProc struct {
	cmd     *exec.Cmd
	out     *tailBuffer
	done    chan struct{}
	waitErr error
	addr    string
	config  string
}

// agentConfig is the agent's configuration: it listens on addr, admits
// the generator's peers, dials the server and relays its realm to it.
func agentConfig(addr, serverAddr string) string {
	return fmt.Sprintf(`# dra load benchmark (test/bench): relay %[3]s to %[4]s.
identity:
  origin_host: %[1]s
  origin_realm: %[2]s
listen:
  - address: %[5]s
accept_unknown_peers: true
peers:
  - host: %[4]s
    realm: %[3]s
    address: %[6]s
    connect: true
    mandatory: true
routes:
  - name: bench
    realm: %[3]s
    action: relay
    peers: [{host: %[4]s}]
timers:
  reconnect: 1s
  reconnect_max: 2s
log:
  level: warn
`, agentHost, agentRealm, serverRealm, serverHost, addr, serverAddr)
}

// startAgent writes the configuration (with extra YAML appended) into dir
// and runs bin with it, in an environment without DRA_* or OTEL_*
// variables (they would override the file).
// Cleanup stops it with SIGTERM (DPR to its peers), then SIGKILL.
func startAgent(tb testing.TB, bin, dir, serverAddr, extra string) *agentProc {
	tb.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
	yaml := agentConfig(addr, serverAddr) + extra
	if _, err := configs.Parse([]byte(yaml)); err != nil {
		tb.Fatalf("bench: agent configuration: %v\n%s", err, yaml)
	}
	cfgFile := filepath.Join(dir, "dra.yaml")
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o644); err != nil {
		tb.Fatal(err)
	}
	p := &agentProc{cmd: exec.Command(bin, "-config", cfgFile), out: &tailBuffer{max: 64 << 10},
		done: make(chan struct{}), addr: addr, config: cfgFile}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, configs.EnvPrefix+"_") && !strings.HasPrefix(kv, "OTEL_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("bench: starting %s: %v", bin, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		p.stop()
		if tb.Failed() {
			tb.Logf("bench: dra output (last 64 KiB):\n%s", p.out.String())
		}
	})
	return p
}

func (p *agentProc) pid() int { return p.cmd.Process.Pid }

func (p *agentProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, waits up to 10 s, then kills.
func (p *agentProc) stop() {
	if p.running() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
		}
	}
	<-p.done
}

// fdWrapperScript runs freeDiameterd without -dd. fdtest.Start always
// passes -dd (debug level, needed by its log-based peer state tracking),
// at which freeDiameterd logs a summary line for every message it sends
// and receives: writing those lines would cost the relay more than
// relaying. At the default level it logs only state changes.
const fdWrapperScript = `#!/bin/sh
# Runs freeDiameterd at its default log level (test/bench).
first=1
for a in "$@"; do
	if [ $first = 1 ]; then set --; first=0; fi
	[ "$a" = "-dd" ] || set -- "$@" "$a"
done
exec %s "$@"
`

var fdStartMu sync.Mutex

// startFreeDiameter runs freeDiameterd as a relay: it admits the
// generator's peers (acl_wl *.load.test), dials the server and routes the
// server's realm to it with rt_default. dict_nasreq and dict_dcca are
// loaded so that it parses the credit-control AVPs of the ccr mix like a
// production relay would. With quiet, it runs at its default log level.
func startFreeDiameter(tb testing.TB, serverAddr string, quiet bool) *fdtest.Node {
	tb.Helper()
	fdtest.Require(tb)
	cfg := fdtest.Config{
		Identity: fdHost,
		Realm:    fdRealm,
		TwTimer:  30,
		TcTimer:  1,
		Peers: []fdtest.Peer{
			{Identity: serverHost, Addr: serverAddr, Realm: serverRealm, TcTimer: 1},
			{Identity: "*." + clientRealm}, // acl_wl: the generator's connections
		},
		Extensions: []fdtest.Extension{
			{Name: "dict_nasreq"},
			{Name: "dict_dcca"},
			{Name: "rt_default", Conf: fmt.Sprintf("dr=%q : %q += 100 ;\n", serverRealm, serverHost)},
		},
	}
	if !quiet {
		return fdtest.Start(tb, cfg)
	}
	real, err := exec.LookPath(fdtest.Binary)
	if err != nil {
		tb.Fatalf("bench: %s: %v", fdtest.Binary, err)
	}
	wrapper := filepath.Join(tb.TempDir(), "freeDiameterd-quiet")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf(fdWrapperScript, shellQuote(real))), 0o755); err != nil {
		tb.Fatal(err)
	}
	fdStartMu.Lock()
	defer fdStartMu.Unlock()
	saved := fdtest.Binary
	fdtest.Binary = wrapper
	defer func() { fdtest.Binary = saved }()
	return fdtest.Start(tb, cfg)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
