package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestServerLifecycle: the server answers on its own port, not 6379; Kill
// ends it, Restart brings it back on the same address, Pause makes it
// silent until Resume.
func TestServerLifecycle(t *testing.T) {
	s := Start(t, Options{})
	if _, port, _ := net.SplitHostPort(s.Addr); port == "6379" {
		t.Fatalf("server on the default port %s", s.Addr)
	}
	if err := s.ping(); err != nil {
		t.Fatalf("ping after start: %v", err)
	}
	addr := s.Addr
	s.Kill()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("killed server still accepts connections")
	}
	s.Restart()
	if s.Addr != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr, addr)
	}
	if err := s.ping(); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	s.Pause()
	var ne net.Error
	if err := s.ping(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("ping while paused: %v, want a timeout", err)
	}
	s.Resume()
	if err := s.ping(); err != nil {
		t.Fatalf("ping after resume: %v", err)
	}
}

// TestServerOptions: a password is required once set, and AOF writes its
// files in the test's directory.
func TestServerOptions(t *testing.T) {
	s := Start(t, Options{AOF: true, Password: "pw"})
	if err := s.ping(); err != nil {
		t.Fatalf("ping with password: %v", err)
	}
	noAuth := &Server{Addr: s.Addr}
	if err := noAuth.ping(); err == nil {
		t.Fatal("PING without AUTH answered")
	}
	if _, err := os.Stat(s.Dir + "/appendonlydir"); err != nil {
		t.Fatalf("no AOF in %s: %v", s.Dir, err)
	}
}

// fatalTB records how a helper ends the test, in place of the real one.
type fatalTB struct {
	testing.TB
	fatal, skipped string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }
func (f *fatalTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fatalTB) Skip(args ...any) { f.Skipf("%s", fmt.Sprint(args...)) }
func (f *fatalTB) SkipNow()         { f.Skipf("SkipNow") }

// TestMissingServerFails: without redis-server (or redis-cli) the test
// fails, saying how to install it; it is never skipped.
func TestMissingServerFails(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		name string
		run  func(testing.TB)
	}{
		{"server", func(tb testing.TB) { Start(tb, Options{}) }},
		{"cluster", func(tb testing.TB) { StartCluster(tb, 3, Options{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() { defer close(done); tc.run(f) }()
			<-done
			if f.skipped != "" || !strings.Contains(f.fatal, "run test/deps.sh") {
				t.Fatalf("fatal %q, skipped %q: want a failure naming test/deps.sh", f.fatal, f.skipped)
			}
		})
	}
}
