package faults

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// buildDRA builds the dra binary into a test directory.
func buildDRA(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dra")
	build := exec.Command("go", "build", "-o", bin, "github.com/dra-project/dra/cmd/dra")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestStopDrains stops the dra binary with SIGTERM, or disconnects the
// server with `dra disconnect`, while a slow server (answering after 300
// ms) holds requests: every request in flight gets the server's 2001, not
// a 3002 failover to peers that are closing too; DPR goes out only after
// that, within timers.disconnect, and on SIGTERM the process exits within
// it too.
func TestStopDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the dra binary")
	}
	bin := buildDRA(t)
	for _, tt := range []struct {
		name string
		stop func(t *testing.T, cmd *exec.Cmd, admin string)
		exit bool // the process ends; else only the server is disconnected
	}{
		{"SIGTERM", func(t *testing.T, cmd *exec.Cmd, _ string) {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"dra disconnect", func(t *testing.T, _ *exec.Cmd, admin string) {
			out, err := exec.Command(bin, "disconnect", "-admin", admin, "-token", "tok", "slow.srv.test").CombinedOutput()
			if err != nil {
				t.Fatalf("dra disconnect: %v\n%s", err, out)
			}
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) { testStopDrains(t, bin, tt.stop, tt.exit) })
	}
}

func testStopDrains(t *testing.T, bin string, stop func(*testing.T, *exec.Cmd, string), exit bool) {
	const delay = 300 * time.Millisecond
	const disconnect = 2 * time.Second
	var late atomic.Int64 // answers that found the connection closing
	s := dratest.Start(t, dratest.Options{Host: "slow.srv.test", Realm: srvRealm, Listen: true,
		Dial: []peers.PeerConfig{{Identity: draHost}}, // listed: its row keeps why the connection ended
		Serve: func(n *dratest.Node, req wire.Msg) wire.Msg {
			ans := n.Answer(req, wire.ResultSuccess)
			time.AfterFunc(delay, func() {
				p := n.M.Peer(draHost)
				if st, _ := p.State(); !st.Open() || p.Active() == nil || p.Active().Conn.Send(ans) != nil {
					late.Add(1)
				}
			})
			return nil
		}})
	addr, admin := freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`identity: {origin_host: %s, origin_realm: faults.test}
listen: [{address: %s}]
admin: {address: %q, token: tok}
accept_unknown_peers: true
peers:
  - {host: slow.srv.test, address: %s, connect: true}
timers: {watchdog: 6s, reconnect: 5s, disconnect: %s}
routing: {timeout: 2s}
routes:
  - {realm: %s, action: relay, peers: [{host: slow.srv.test}]}
`, draHost, addr, admin, s.Addr(), disconnect, srvRealm)
	cfgPath := filepath.Join(t.TempDir(), "dra.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	exited := make(chan struct{})
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("agent output:\n%s", logs.String())
		}
	})
	s.WaitOpen(t, draHost)
	c := dratest.Start(t, dratest.Options{Host: "c.client.test", Realm: "client.test",
		Dial: []peers.PeerConfig{{Identity: draHost, Addr: addr, Connect: true}}})
	c.WaitOpen(t, draHost)

	const n = 20
	var chs []<-chan wire.Msg
	for i := range n {
		chs = append(chs, c.Send(t, draHost, dratest.Request(4, 272, fmt.Sprintf("c;stop;%d", i), "c.client.test", "client.test", srvRealm, "")))
	}
	waitFor(t, "every request at the server", 5*time.Second, func() bool { return s.Count() == n })
	start := time.Now()
	stop(t, cmd, admin)
	for i, ch := range chs {
		select {
		case m := <-ch:
			if code := dratest.ResultCode(m); code != wire.ResultSuccess {
				t.Errorf("request %d: %d %q, want the server's 2001", i, code, dratest.String(m, wire.AVPErrorMessage))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d: no answer", i)
		}
	}
	if exit {
		select {
		case <-exited:
			if exitErr != nil {
				t.Errorf("exit: %v", exitErr)
			}
			d := time.Since(start)
			t.Logf("%d requests in flight answered 2001, exited %s after SIGTERM (timers.disconnect %s)", n, d.Round(time.Millisecond), disconnect)
			if d > disconnect {
				t.Errorf("exited %s after SIGTERM, beyond timers.disconnect %s", d, disconnect)
			}
		case <-time.After(disconnect + 3*time.Second):
			t.Fatal("the agent did not exit")
		}
	}
	disconnected := []*dratest.Node{s}
	if exit {
		disconnected = append(disconnected, c)
	}
	for _, node := range disconnected {
		waitFor(t, node.Opts.Host+" disconnected", disconnect, func() bool {
			in, ok := node.M.Table().Get(draHost)
			return ok && strings.Contains(in.LastError, "DPR received (REBOOTING)")
		})
	}
	d := time.Since(start)
	t.Logf("DPR seen by every disconnected peer %s after the stop", d.Round(time.Millisecond))
	if d > disconnect {
		t.Errorf("DPR %s after the stop, beyond timers.disconnect %s", d, disconnect)
	}
	if n := late.Load(); n != 0 {
		t.Errorf("%d server answers found the connection closing", n)
	}
}
