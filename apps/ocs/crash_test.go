package ocs

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

const (
	crashEnv     = "OCS_CRASH_DATA_DIR"
	crashInitial = 10_000_000
)

func crashConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.LabMode = false
	cfg.SnapshotRecords = 500 // snapshots and rotations under load too
	cfg.Accounts = []AccountConfig{{Type: "end_user_e164", Data: msisdn, Balance: Balance{Units: crashInitial}}}
	return cfg
}

// TestHelperProcess is the OCS agent run as a child by TestCrashRecovery.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	cfg := crashConfig(dir)
	if os.Getenv(resendEnv) != "" {
		cfg = resendConfig(dir)
	}
	st, err := startAgent(cfg, quietLogger(os.Stderr), "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Printf("ADDR %s\n", st.addr)
	<-term // SIGTERM: a clean stop, as the agent does; SIGKILL: none
	st.stop()
	os.Exit(0)
}

// child is a running helper process.
type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dir string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(append(os.Environ(), crashEnv+"="+dir), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				lines <- a
			}
		}
	}()
	select {
	case a := <-lines:
		return &child{cmd: cmd, addr: a}
	case <-time.After(20 * time.Second):
		t.Fatal("helper process did not start")
		return nil
	}
}

func (c *child) kill(t *testing.T) { c.signal(t, syscall.SIGKILL) }

// signal sends sig and waits for the process to end.
func (c *child) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

func debitReq(sid string, n uint64) *diam.Message {
	return ccrMsg(sid, requestEvent, 0, subAVP(0, msisdn), requestedAction(actionDirectDebiting),
		diam.NewAVP(avp.RequestedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.CCServiceSpecificUnits, avp.Mbit, 0, datatype.Unsigned64(n))}}))
}

// TestCrashRecovery SIGKILLs the OCS under load, restarts it on the same
// directory and checks that every answered debit survived, and nothing
// beyond the debits sent.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := t.TempDir()
	var answered, unanswered atomic.Uint64
	run := 0
	load := func(addr string, d time.Duration, kill func()) {
		// Session-Ids unique across runs: the same one after the restart
		// would be a retransmission, answered but not charged again.
		run++
		c, err := dialClient(addr, clientHost)
		if err != nil {
			t.Fatal(err)
		}
		defer c.conn.Close()
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					n := uint64(w + 1)
					a, err := c.send(debitReq(fmt.Sprintf("s;crash;%d;%d;%d", run, w, i), n), 2*time.Second)
					if err != nil {
						unanswered.Add(n)
						return
					}
					if resultCode(a) != 2001 {
						t.Errorf("debit: %d", resultCode(a))
						return
					}
					answered.Add(n)
				}
			})
		}
		time.Sleep(d)
		kill()
		close(stop)
		wg.Wait()
	}
	ch := startChild(t, dir)
	load(ch.addr, 500*time.Millisecond, func() { ch.kill(t) })
	if answered.Load() == 0 {
		t.Fatal("no debit answered before the kill")
	}
	ch = startChild(t, dir)
	load(ch.addr, 200*time.Millisecond, func() { ch.kill(t) })

	srv, err := New(crashConfig(dir), Identity{OriginHost: agentHost, OriginRealm: agentRealm}, nil, quietLogger(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	info, _ := srv.Account(0, msisdn)
	debited := crashInitial - info.Available.Units
	t.Logf("answered %d, unanswered %d, debited %d", answered.Load(), unanswered.Load(), debited)
	if debited < answered.Load() || debited > answered.Load()+unanswered.Load() {
		t.Errorf("debited %d, want answered %d (+ up to %d in flight)", debited, answered.Load(), unanswered.Load())
	}
	if info.Used.Units != debited {
		t.Errorf("used %d, debited %d", info.Used.Units, debited)
	}
}
