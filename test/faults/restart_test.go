package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/loadgen"
	"github.com/dra-project/dra/wire"
)

// TestAgentRestartUnderLoad restarts the dra binary twice under load: once
// killed (SIGKILL, a crash) and once stopped (SIGTERM, DPR to every peer).
// Requests in flight on the client are answered or reported lost with
// their connection; the client reconnects and traffic resumes after each
// restart.
func TestAgentRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the dra binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dra")
	build := exec.Command("go", "build", "-o", bin, "github.com/dra-project/dra/cmd/dra")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	s1, s2 := server(t, "s1.srv.test", nil), server(t, "s2.srv.test", nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`identity:
  origin_host: %s
  origin_realm: faults.test
listen:
  - address: %s
accept_unknown_peers: true
peers:
  - {host: %s, address: %s, connect: true}
  - {host: %s, address: %s, connect: true}
timers:
  watchdog: 6s
  reconnect: 1s
  reconnect_max: 2s
  disconnect: 1s
routing:
  timeout: %s
routes:
  - realm: %s
    action: relay
    peers: [{host: %s}, {host: %s}]
`, draHost, addr, s1.Opts.Host, s1.Addr(), s2.Opts.Host, s2.Addr(), tx, srvRealm, s1.Opts.Host, s2.Opts.Host)
	cfgPath := filepath.Join(dir, "dra.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "-config", cfgPath)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "agent listening", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// The load: back-to-back runs of one client connection; a run ends
	// when its connection closes, and the next one reconnects.
	mix, err := loadgen.NewMix(loadgen.MixConfig{DestRealm: srvRealm})
	if err != nil {
		t.Fatal(err)
	}
	type phase struct {
		res *loadgen.Result
		at  time.Time
	}
	done := make(chan []phase)
	stop := make(chan struct{})
	go func() {
		var out []phase
		for {
			select {
			case <-stop:
				done <- out
				return
			default:
			}
			cl, err := loadgen.NewClient(loadgen.ClientConfig{
				Addr: addr, Mix: mix, InFlight: 16, Duration: 4 * time.Second,
				Timeout: 5 * time.Second, ConnectTimeout: time.Second, DisconnectTimeout: 500 * time.Millisecond,
				OriginHost: "load-%d.client.test",
			})
			if err != nil {
				panic(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-stop:
				case <-ctx.Done():
				}
				cancel()
			}()
			res, err := cl.Run(ctx)
			cancel()
			if res == nil || res.Sent == 0 {
				time.Sleep(50 * time.Millisecond) // agent not back yet
				continue
			}
			out = append(out, phase{res, time.Now()})
		}
	}()
	restarts := []struct {
		name string
		sig  os.Signal
	}{{"SIGKILL", syscall.SIGKILL}, {"SIGTERM", syscall.SIGTERM}}
	var restartedAt []time.Time
	for _, r := range restarts {
		time.Sleep(time.Second)
		cmd.Process.Signal(r.sig)
		cmd.Wait()
		t.Logf("agent stopped with %s", r.name)
		cmd = start()
		restartedAt = append(restartedAt, time.Now())
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	phases := <-done

	var sent, answered, lost uint64
	codes := map[uint32]uint64{}
	for i, p := range phases {
		report(t, fmt.Sprintf("connection %d", i+1), p.res, wire.ResultSuccess, wire.ResultUnableToDeliver, wire.ResultUnableToComply)
		sent += p.res.Sent
		answered += p.res.Answered
		lost += p.res.Lost
		for c, n := range p.res.ResultCodes {
			codes[c] += n
		}
	}
	t.Logf("agent restarted twice: %d connections, sent %d, answered %d (2001: %d, 3002: %d, 5012: %d), lost with their connection %d",
		len(phases), sent, answered, codes[wire.ResultSuccess], codes[wire.ResultUnableToDeliver], codes[wire.ResultUnableToComply], lost)
	if len(phases) < 3 {
		t.Fatalf("%d client connections, want one per agent life", len(phases))
	}
	last := phases[len(phases)-1]
	if last.res.ResultCodes[wire.ResultSuccess] == 0 || last.at.Before(restartedAt[len(restartedAt)-1]) {
		t.Error("traffic did not resume after the last restart")
	}
	if t.Failed() {
		t.Logf("agent output:\n%s", logs.String())
	}
	_ = dratest.ResultCode
}
