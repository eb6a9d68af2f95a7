package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/test/fdtest"
)

// TestBinary builds cmd/dra once and runs the built command: its subtests
// share the binary, which lives in this test's temporary directory until
// they have all finished.
func TestBinary(t *testing.T) {
	t.Parallel()
	bin := buildDRA(t)
	t.Run("SIGTERM", func(t *testing.T) { t.Parallel(); testBinarySIGTERM(t, bin) })
	t.Run("BadConfig", func(t *testing.T) { t.Parallel(); testBinaryBadConfig(t, bin) })
	t.Run("DefaultConfig", func(t *testing.T) { t.Parallel(); testBinaryDefaultConfig(t, bin) })
	t.Run("SIGTERMWhileStarting", func(t *testing.T) { t.Parallel(); testBinarySIGTERMWhileStarting(t, bin) })
}

// buildDRA compiles the dra command into t.TempDir().
func buildDRA(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		t.Fatalf("the go command is needed to build cmd/dra: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "dra")
	start := time.Now()
	out, err := exec.Command(gobin, "build", "-o", bin, "github.com/dra-project/dra/cmd/dra").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/dra: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// draProc is one running dra command.
type draProc struct {
	cmd     *exec.Cmd
	stdout  lockedBuffer
	stderr  lockedBuffer
	done    chan struct{}
	waitErr error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDRA runs bin with args and an environment without DRA_* variables
// (they would override the configuration). Cleanup kills the process if it
// is still running and, on failure, logs its output.
func startDRA(t *testing.T, bin string, args ...string) *draProc {
	t.Helper()
	p := &draProc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, configs.EnvPrefix+"_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("dra %s: exit %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), p.waitErr, p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit status.
func (p *draProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("dra did not exit within %s", timeout)
	}
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0
	case errors.As(p.waitErr, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	default:
		t.Fatalf("dra: %v", p.waitErr) // killed by a signal
		return -1
	}
}

// waitStderr waits until a line of stderr satisfies match and returns it.
func (p *draProc) waitStderr(t *testing.T, what string, timeout time.Duration, match func(line string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		exited := false
		select {
		case <-p.done:
			exited = true
		default:
		}
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if match(line) {
				return line
			}
		}
		if exited {
			t.Fatalf("dra exited (%v) before logging %s", p.waitErr, what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("dra did not log %s within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeConfig(t *testing.T, y string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "dra.yaml")
	if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// jsonLines parses every stderr line as one JSON log record.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("log line is not JSON (%v): %s", err, sc.Text())
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k].(string); !ok {
				t.Errorf("log record without %q: %s", k, sc.Text())
			}
		}
		out = append(out, rec)
	}
	return out
}

// The dra command serves freeDiameter, and on SIGTERM disconnects it with
// DPR (REBOOTING) and exits 0 promptly; its JSON log tells the story.
func testBinarySIGTERM(t *testing.T, bin string) {
	cfg := writeConfig(t, fmt.Sprintf(`identity:
  origin_host: %s
  origin_realm: %s
listen:
  - address: 127.0.0.1:0
timers:
  watchdog: 6s
  disconnect: 3s
log:
  level: debug # the peer state transitions are debug lines
  format: json
`, draHost, draRealm))
	p := startDRA(t, bin, "-config", cfg)
	var listenAddr string
	p.waitStderr(t, `"listening"`, 10*time.Second, func(line string) bool {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "listening" {
			return false
		}
		listenAddr = rec.Addr
		return true
	})
	fd := fdtest.Start(t, fdtest.Config{Identity: "fdb1.fd.test",
		Peers: []fdtest.Peer{{Identity: draHost, Addr: listenAddr}}})
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 10*time.Second)
	p.waitStderr(t, "the peer open", 5*time.Second, func(line string) bool {
		return strings.Contains(line, `"msg":"peer open"`) && strings.Contains(line, `"fdb1.fd.test"`)
	})

	mark := fd.Mark()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("dra needed %s to stop: the DPA did not end the wait", d)
	}
	fd.WaitLogSince(t, mark, `Peer '`+draHost+`' sent a DPR with cause: REBOOTING`, 5*time.Second)
	fd.WaitLogSince(t, mark, `SENT to '`+draHost+`': 'Disconnect-Peer-Answer'`, 5*time.Second)

	var states []string
	var signalled, stopped bool
	for _, rec := range jsonLines(t, p.stderr.String()) {
		switch rec["msg"] {
		case "peer state":
			if rec["peer"] == "fdb1.fd.test" {
				states = append(states, fmt.Sprint(rec["from"], "->", rec["to"]))
			}
		case "signal received":
			signalled = rec["signal"] == syscall.SIGTERM.String()
		case "stopped":
			stopped = true
		}
	}
	want := []string{"Closed->R-Open", "R-Open->Closing", "Closing->Closed"}
	if strings.Join(states, " ") != strings.Join(want, " ") {
		t.Errorf("peer state records %q, want %q", states, want)
	}
	if !signalled || !stopped {
		t.Errorf("log: signal received %v, stopped %v", signalled, stopped)
	}
}

// A configuration that fails validation: exit status 1 and a message that
// names the field.
func testBinaryBadConfig(t *testing.T, bin string) {
	cfg := writeConfig(t, "listen:\n  - address: 127.0.0.1:0\ntimers:\n  watchdog: 2s\n")
	p := startDRA(t, bin, "-config", cfg)
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	msg := p.stderr.String()
	if !strings.Contains(msg, "timers.watchdog") || !strings.Contains(msg, "2s") || !strings.Contains(msg, cfg) {
		t.Errorf("stderr does not name the file, the field and its value:\n%s", msg)
	}
	if p.stdout.String() != "" {
		t.Errorf("stdout: %q", p.stdout.String())
	}
}

// -print-default-config prints the lab configuration (a run without a
// file; cmd/dra's tests run an agent on it), -print-builtin-defaults the
// embedded defaults, and the command runs with those. Only the listening
// port is changed, to a free one, so that the test does not depend on 3868
// being free.
func testBinaryDefaultConfig(t *testing.T, bin string) {
	p := startDRA(t, bin, "-print-default-config")
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if want, err := configs.RunYAML(); err != nil || p.stdout.String() != string(want) {
		t.Errorf("-print-default-config differs from the lab configuration (%v):\n%s", err, p.stdout.String())
	}
	p = startDRA(t, bin, "-print-builtin-defaults")
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	printed := p.stdout.String()
	if printed != string(configs.DefaultYAML()) {
		t.Errorf("printed configuration differs from the embedded one:\n%s", printed)
	}
	const defaultListen = "address: 127.0.0.1:3868"
	if n := strings.Count(printed, defaultListen); n != 1 {
		t.Fatalf("%s appears %d times in the default configuration", defaultListen, n)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", fdtest.FreePort(t, "127.0.0.1"))
	cfg := writeConfig(t, strings.Replace(printed, defaultListen, "address: "+listen, 1))

	p = startDRA(t, bin, "-config", cfg)
	p.waitStderr(t, "agent started", 10*time.Second, func(line string) bool {
		return strings.Contains(line, `msg="agent started"`) // the default format is text
	})
	// The command handles SIGTERM only once agent.Start has returned (see
	// testBinarySIGTERMWhileStarting): leave it that moment.
	time.Sleep(200 * time.Millisecond)
	if !strings.Contains(p.stderr.String(), "addr="+listen) {
		t.Errorf("not listening on %s", listen)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// A SIGTERM that arrives once the agent listens, before it has finished
// starting, must still stop it cleanly (exit 0, after "signal received").
// The command is held inside agent.Start deterministically: its stderr is
// a pipe the test has filled, so its first log line ("listening", written
// once the listener is bound) blocks until the test drains the pipe.
func testBinarySIGTERMWhileStarting(t *testing.T, bin string) {
	port := fdtest.FreePort(t, "127.0.0.1")
	cfg := writeConfig(t, fmt.Sprintf("listen:\n  - address: 127.0.0.1:%d\nlog:\n  format: json\n", port))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fillPipe(t, w)
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stderr = w
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, configs.EnvPrefix+"_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var werr error
	done := make(chan struct{})
	go func() { werr = cmd.Wait(); close(done) }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()

	deadline := time.Now().Add(10 * time.Second)
	for !tcpListening(t, port) {
		if time.Now().After(deadline) {
			t.Fatalf("dra is not listening on port %d after 10s", port)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var logged []byte
	drained := make(chan struct{})
	go func() {
		b, _ := io.ReadAll(r)
		logged = bytes.TrimLeft(b, "x")
		close(drained)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("dra did not exit within 10s of SIGTERM")
	}
	<-drained
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee) && ee.ExitCode() < 0:
		t.Fatalf("dra was killed by SIGTERM received while starting (%v), without DPR to its peers: "+
			"the signal is handled only after agent.Start returns; log:\n%s", werr, logged)
	default:
		t.Fatalf("dra: %v\n%s", werr, logged)
	}
	if !bytes.Contains(logged, []byte(`"msg":"signal received"`)) || !bytes.Contains(logged, []byte(`"msg":"stopped"`)) {
		t.Errorf("log:\n%s", logged)
	}
}

// fillPipe fills the pipe behind w (non-blocking writes until EAGAIN).
func fillPipe(t *testing.T, w *os.File) {
	t.Helper()
	rc, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 4096)
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		if werr = syscall.SetNonblock(int(fd), true); werr != nil {
			return true
		}
		for {
			n, err := syscall.Write(int(fd), chunk)
			if err == syscall.EAGAIN {
				if n <= 0 && len(chunk) > 1 {
					chunk = chunk[:1] // top up byte by byte
					continue
				}
				return true
			}
			if err != nil {
				werr = err
				return true
			}
		}
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		t.Fatalf("filling the pipe: %v", err)
	}
}

// tcpListening reports whether /proc/net/tcp shows a socket listening on
// the port.
func tcpListening(t *testing.T, port int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatalf("reading /proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 4 && f[3] == "0A" && strings.HasSuffix(f[1], want) {
			return true
		}
	}
	return false
}
