package aaa

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestRestartKeepsSessions(t *testing.T) {
	cfg := testConfig(t)
	a := startAgent(t, cfg, "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")
	addrs := map[string]netip.Addr{}
	for i := range 5 {
		sid := fmt.Sprintf("s;keep;%d", i)
		ans := n.call(t, n.aar(sid, LabUser, 3, pap(LabPassword)))
		if resultOf(ans) != 2001 {
			t.Fatalf("AAR: %s", describe(ans))
		}
		addrs[sid] = framedAddr(ans)
	}
	if ans := n.call(t, n.str("s;keep;2")); resultOf(ans) != 2001 {
		t.Fatalf("STR: %s", describe(ans))
	}
	delete(addrs, "s;keep;2")
	n.close()
	a.stop(t)

	b := startAgent(t, cfg, "127.0.0.1:0")
	got := b.srv.Sessions()
	if len(got) != len(addrs) {
		t.Fatalf("%d sessions after restart, want %d", len(got), len(addrs))
	}
	for _, s := range got {
		if want, ok := addrs[s.ID]; !ok || s.IP() != want || s.User != LabUser || s.NASHost != "nas.client.test" {
			t.Errorf("session %+v after restart, want address %v", s, want)
		}
	}
	n2 := dialNAS(t, b.addr(), "nas.client.test")
	for i := range 10 {
		ans := n2.call(t, n2.aar(fmt.Sprintf("s;new;%d", i), LabUser, 3, pap(LabPassword)))
		for sid, ip := range addrs {
			if framedAddr(ans) == ip {
				t.Fatalf("new session got %v, held by %s", ip, sid)
			}
		}
	}
	if ans := n2.call(t, n2.str("s;keep;0")); resultOf(ans) != 2001 {
		t.Fatalf("STR of a recovered session: %s", describe(ans))
	}
}

// helperEnv names the data directory of a TestHelperProcess child.
const helperEnv = "AAA_HELPER_DATA_DIR"

// TestHelperProcess is the agent run as a child by TestCrashKeepsAnswered.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	cfg := DefaultConfig()
	cfg.Lab = true
	cfg.DataDir = dir
	cfg.Pool = "10.8.0.0/16"
	a := startAgent(t, cfg, "127.0.0.1:0")
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Printf("ADDR %s\n", a.addr())
	<-term // SIGTERM: a clean stop, as the agent does; SIGKILL: none
	a.stop(t)
	os.Exit(0)
}

// helper is a TestHelperProcess child.
type helper struct {
	cmd  *exec.Cmd
	addr string
}

func startHelper(t *testing.T, dir string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	h := &helper{cmd: cmd}
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			h.addr = a
			break
		}
	}
	if h.addr == "" {
		t.Fatal("helper did not start")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return h
}

// signal sends sig and waits for the helper to end.
func (h *helper) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	h.cmd.Wait()
}

func TestCrashKeepsAnswered(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var addr string
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("helper did not start")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	n := dialNAS(t, addr, "nas.client.test")

	// Workers open sessions and end every third one until the kill. An
	// STR sent but not answered before the kill may or may not have been
	// committed: its session is either gone or recovered unchanged.
	var (
		mu      sync.Mutex
		opened  = map[string]netip.Addr{}
		ending  = map[string]bool{} // STR sent
		ended   = map[string]bool{} // STA 2001 received
		stop    atomic.Bool
		wg      sync.WaitGroup
		answers atomic.Int64
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				sid := fmt.Sprintf("s;crash;%d;%d", w, i)
				ans, err := n.try(n.aar(sid, LabUser, 3, pap(LabPassword)), 3*time.Second)
				if err != nil {
					return
				}
				if resultOf(ans) != 2001 {
					t.Errorf("AAR %s: %s", sid, describe(ans))
					return
				}
				answers.Add(1)
				mu.Lock()
				opened[sid] = framedAddr(ans)
				mu.Unlock()
				if i%3 != 0 {
					continue
				}
				mu.Lock()
				ending[sid] = true
				mu.Unlock()
				ans, err = n.try(n.str(sid), 3*time.Second)
				if err != nil {
					return
				}
				if resultOf(ans) != 2001 {
					t.Errorf("STR %s: %s", sid, describe(ans))
					return
				}
				mu.Lock()
				ended[sid] = true
				mu.Unlock()
			}
		})
	}
	waitFor(t, "load", func() bool { return answers.Load() >= 300 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	cmd.Wait()

	cfg := DefaultConfig()
	cfg.Lab = true
	cfg.DataDir = dir
	cfg.Pool = "10.8.0.0/16"
	srv, err := New(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mu.Lock()
	defer mu.Unlock()
	held := map[netip.Addr]string{}
	for _, s := range srv.Sessions() {
		if other, dup := held[s.IP()]; dup {
			t.Errorf("sessions %s and %s share %v after recovery", other, s.ID, s.IP())
		}
		held[s.IP()] = s.ID
	}
	lost, inFlight := 0, 0
	for sid, ip := range opened {
		s, ok := srv.Session(sid)
		switch {
		case ended[sid] && ok:
			t.Errorf("session %s ended (STA 2001) but recovered", sid)
		case ended[sid]:
		case ending[sid] && !ok:
			inFlight++ // STR committed, STA lost to the kill
		case !ok || s.IP() != ip:
			lost++
			if lost < 5 {
				t.Errorf("session %s answered with %v lost (found %v, %v)", sid, ip, ok, s.IP())
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d answered sessions lost", lost)
	}
	t.Logf("%d sessions answered, %d ended, %d ended by an unanswered STR, %d recovered", len(opened), len(ended), inFlight, len(srv.Sessions()))
}
