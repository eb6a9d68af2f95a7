package cdf

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// helperEnv names the data directory of a CDF run by TestHelperProcess.
const helperEnv = "CDF_HELPER_DIR"

// TestHelperProcess is the CDF process of TestCrashRecovery: it serves
// accounting on a loopback listener, prints its address and runs until
// killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.RotateBytes = 32 << 10
	srv, err := New(cfg, testID, nil, nil)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	a, err := startAgent(srv)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	fmt.Println("ADDR", a.Addr)
	select {}
}

// cdfProcess is a CDF in a child process.
type cdfProcess struct {
	cmd  *exec.Cmd
	addr string
}

func startProcess(t *testing.T, dir string) *cdfProcess {
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
	p := &cdfProcess{cmd: cmd}
	t.Cleanup(p.kill)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "ADDR ") || strings.HasPrefix(l, "ERR ") {
				lines <- l
			}
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l, "ADDR ") {
			t.Fatalf("helper process: %q", l)
		}
		p.addr = strings.TrimPrefix(l, "ADDR ")
	case <-time.After(20 * time.Second):
		t.Fatal("helper process did not start")
	}
	return p
}

// kill sends SIGKILL and reaps the process.
func (p *cdfProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	p := startProcess(t, dir)

	var mu sync.Mutex
	answered := map[recordKey]bool{} // answered 2001 before the crash
	var total atomic.Int64
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		c, err := dial(p.addr, fmt.Sprintf("pgw%d.client.test", w))
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		wg.Go(func() {
			for k := 0; ; k++ {
				sid := fmt.Sprintf("pgw%d;%d", w, k)
				for num, typ := range []uint32{StartRecord, InterimRecord, InterimRecord, StopRecord} {
					ans, err := c.call(newACR(sid, typ, uint32(num)))
					if err != nil {
						return // the CDF was killed
					}
					if code := answerCode(ans); code != 2001 {
						t.Errorf("%s #%d: %d before the crash", sid, num, code)
						return
					}
					mu.Lock()
					answered[recordKey{sid, uint32(num)}] = true
					mu.Unlock()
					total.Add(1)
				}
			}
		})
	}
	waitFor(t, "load", func() bool { return total.Load() >= 400 })
	p.kill() // SIGKILL under load
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d ACRs answered before SIGKILL", len(answered))

	before := readAll(t, dir)
	stopped := map[string]bool{}
	for _, r := range before {
		if r.RecordType == StopRecord {
			stopped[r.SessionID] = true
		}
	}

	// Restart on the same directory: answered records are duplicates, open
	// sessions were recovered.
	p = startProcess(t, dir)
	c, err := dial(p.addr, "pgw.client.test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var resent, closed int
	for k := range answered {
		if k.num != 0 {
			continue
		}
		ans, err := c.call(newACR(k.sid, StartRecord, 0))
		if err != nil {
			t.Fatal(err)
		}
		if code := resultCode(t, ans); code != 2001 {
			t.Errorf("retransmitted START of %s after restart: %d", k.sid, code)
		}
		resent++
		if stopped[k.sid] {
			continue
		}
		ans, err = c.call(newACR(k.sid, StopRecord, 99))
		if err != nil {
			t.Fatal(err)
		}
		if code := resultCode(t, ans); code != 2001 {
			t.Errorf("STOP of recovered session %s: %d", k.sid, code)
		}
		closed++
	}
	p.kill()
	t.Logf("after restart: %d STARTs retransmitted, %d recovered sessions stopped", resent, closed)

	count := map[recordKey]int{}
	for _, r := range readAll(t, dir) {
		count[recordKey{r.SessionID, r.RecordNumber}]++
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s #%d is in the journal %d times", k.sid, k.num, n)
		}
	}
	for k := range answered {
		if count[k] != 1 {
			t.Errorf("answered %s #%d is in the journal %d times", k.sid, k.num, count[k])
		}
	}
	if closed == 0 {
		t.Log("no session was open at the crash")
	}
}
