package redistest

import (
	"errors"
	"net"
	"os"
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
