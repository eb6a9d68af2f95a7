package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
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
)

// Options change how the server runs.
type Options struct {
	// AOF turns the append-only file on, fsynced at every write
	// (appendfsync always), so that a SIGKILL loses nothing acknowledged.
	// Without it nothing is persisted (--save '', appendonly no).
	AOF bool
	// Password sets the default user's password (requirepass).
	Password string
	// Users adds ACL users with every permission: name -> password.
	Users map[string]string
	// Cluster makes the server a Redis Cluster node (see StartCluster).
	Cluster bool
	// TLS, when set, makes the server accept TLS only.
	TLS *TLS
	// Args are more command-line arguments for redis-server.
	Args []string
}

// TLS is the server's certificate and the CA of its clients' (PEM files).
type TLS struct {
	CertFile, KeyFile, CAFile string
	// RequireClientCert refuses clients without a certificate signed by
	// CAFile.
	RequireClientCert bool
}

// StartTimeout bounds the wait for a started server to answer PING.
const StartTimeout = 10 * time.Second

// Server is one redis-server process owned by a test.
type Server struct {
	// Addr is the server's 127.0.0.1:port; it stays the same across
	// Restart.
	Addr string
	// Dir is the server's working directory (AOF and log), inside the
	// test's temporary directory.
	Dir string

	t       testing.TB
	opts    Options
	bin     string
	busPort int    // the cluster bus, with Options.Cluster
	monitor string // a Sentinel's master: "name host port"

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// Start runs a redis-server for t and stops it when t ends. It fails t
// (it does not skip) when redis-server is not installed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server is not installed (%v): run test/deps.sh", err)
	}
	return start(t, &Server{Dir: t.TempDir(), t: t, opts: opts, bin: bin})
}

func start(t testing.TB, s *Server) *Server {
	t.Helper()
	t.Cleanup(s.stop)
	// A free port can be taken by someone else between the probe and the
	// server's bind; try a few.
	var last error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if s.opts.Cluster {
			if s.busPort, err = freePort(); err != nil {
				t.Fatalf("redistest: %v", err)
			}
		}
		if last = s.start(); last == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", last)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// args are redis-server's arguments: no configuration file, everything
// under Dir, listening on the loopback only.
func (s *Server) args() []string {
	_, port, _ := net.SplitHostPort(s.Addr)
	var a []string
	if s.monitor != "" {
		a = []string{s.sentinelConf(), "--sentinel"}
	}
	a = append(a,
		"--port", port,
		"--bind", "127.0.0.1",
		"--protected-mode", "yes",
		"--dir", s.Dir,
		"--logfile", "redis.log",
		"--daemonize", "no",
		"--save", "",
	)
	if s.monitor != "" {
		return a // a Sentinel has no data
	}
	if s.opts.AOF {
		a = append(a, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		a = append(a, "--appendonly", "no")
	}
	if s.opts.Cluster {
		a = append(a, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(s.busPort), "--cluster-node-timeout", "2000")
	}
	if t := s.opts.TLS; t != nil {
		auth := "no"
		if t.RequireClientCert {
			auth = "yes"
		}
		a = append(a, "--port", "0", "--tls-port", port, "--tls-cert-file", t.CertFile,
			"--tls-key-file", t.KeyFile, "--tls-ca-cert-file", t.CAFile, "--tls-auth-clients", auth)
	}
	if s.opts.Password != "" {
		a = append(a, "--requirepass", s.opts.Password)
	}
	for name, pw := range s.opts.Users {
		a = append(a, "--user", name, "on", ">"+pw, "~*", "&*", "+@all")
	}
	return append(a, s.opts.Args...)
}

// start runs the process and waits until it answers PING.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(StartTimeout)
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on %s exited at start: %v\n%s", s.Addr, cmd.ProcessState, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("redis-server on %s did not answer PING within %s: %v\n%s", s.Addr, StartTimeout, err, s.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends PING (after AUTH when a password is set) and expects PONG.
func (s *Server) ping() error {
	c, err := s.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	req := "PING\r\n"
	if s.opts.Password != "" {
		req = fmt.Sprintf("AUTH %s\r\n", s.opts.Password) + req
	}
	if _, err := c.Write([]byte(req)); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		switch line = strings.TrimSpace(line); {
		case line == "+PONG":
			return nil
		case line == "+OK":
		default:
			return fmt.Errorf("PING answered %q", line)
		}
	}
}

// dial connects as a client would; over TLS with the server's own key
// pair as client certificate, without checking the server's.
func (s *Server) dial() (net.Conn, error) {
	d := &net.Dialer{Timeout: time.Second}
	if s.opts.TLS == nil {
		return d.Dial("tcp", s.Addr)
	}
	cert, err := tls.LoadX509KeyPair(s.opts.TLS.CertFile, s.opts.TLS.KeyFile)
	if err != nil {
		return nil, err
	}
	return tls.DialWithDialer(d, "tcp", s.Addr, &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // a readiness probe of the test's own server
	})
}

// Log returns the server's log file.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return string(b)
}

// Kill sends SIGKILL and waits for the process to end: nothing is flushed
// beyond what the server had already written.
func (s *Server) Kill() {
	s.t.Helper()
	s.kill()
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart starts the server again on the same address and directory (and
// so the same AOF) after Kill, and waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// Pause stops the process (SIGSTOP): connections stay open, nothing is
// answered, until Resume.
func (s *Server) Pause() {
	s.t.Helper()
	s.signal(syscall.SIGSTOP)
}

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume() {
	s.t.Helper()
	s.signal(syscall.SIGCONT)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redistest: %v: no server running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Fatalf("redistest: %v: %v", sig, err)
	}
}

// stop ends the process at the test's cleanup (a paused one too).
func (s *Server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}
