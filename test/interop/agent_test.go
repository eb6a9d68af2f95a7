package interop

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/test/fdtest"
)

const (
	draHost  = "dra.dra.test"
	draRealm = "dra.test"
)

// startAgent runs an agent in-process with the given YAML fragment added
// to an identity and a loopback listener on a free port.
func startAgent(t *testing.T, extra string) *agent.Agent {
	t.Helper()
	y := fmt.Sprintf("identity:\n  origin_host: %s\n  origin_realm: %s\nlisten:\n  - address: 127.0.0.1:0\n", draHost, draRealm)
	if !strings.Contains(extra, "timers:") {
		y += "timers:\n  watchdog: 6s\n  reconnect: 1s\n  reconnect_max: 2s\n"
	}
	y += extra
	cfg, err := configs.Parse([]byte(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	log := slog.New(slog.NewTextHandler(&testLog{t: t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := agent.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return a
}

// testLog forwards agent logs to the test log while the test runs.
type testLog struct{ t *testing.T }

func (l *testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func addr(a *agent.Agent) string { return a.Addrs()[0].String() }

func waitPeer(t *testing.T, a *agent.Agent, id string, timeout time.Duration, cond func(*peers.PeerInfo) bool) *peers.PeerInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		in, ok := a.Peers().Table().Get(id)
		if ok && cond(in) {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer %s: condition not met in %s (last row: %+v)", id, timeout, in)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isOpen(in *peers.PeerInfo) bool { return in.State.Open() && in.Watchdog == peers.WatchdogOkay }

func TestMain(m *testing.M) {
	if !fdtest.Available() {
		fmt.Fprintln(os.Stderr, "interop: freeDiameter is not installed: run test/deps.sh (make test does)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
