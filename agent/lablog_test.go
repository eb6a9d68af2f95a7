package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// lineCounter keeps the log lines written to it.
type lineCounter struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(string(p)))
	return len(p), nil
}

func (l *lineCounter) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines[n:]...)
}

// TestLabLogsNoLinePerRequest: at the info level, the local applications
// log nothing per request (new lab subscribers, AARs answered or refused):
// a line per request is a log flood under load.
func TestLabLogsNoLinePerRequest(t *testing.T) {
	dir := t.TempDir()
	cfg, err := configs.Parse([]byte(fmt.Sprintf(`identity: {origin_host: dra.lab.test, origin_realm: lab.test}
listen: [{address: "127.0.0.1:0"}]
accept_unknown_peers: true
routes:
  - {realm: lab.test, action: local}
apps:
  ocs: {enabled: true, data_dir: %[1]s/ocs, lab_mode: true}
  aaa: {enabled: true, data_dir: %[1]s/aaa, lab: true}
`, dir)))
	if err != nil {
		t.Fatal(err)
	}
	var logs lineCounter
	a, err := agent.New(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	c := dratest.Start(t, dratest.Options{Host: "nas.client.test", Realm: "client.test",
		Dial: []peers.PeerConfig{{Identity: "dra.lab.test", Addr: a.Addrs()[0].String(), Connect: true}}})
	c.WaitOpen(t, "dra.lab.test")
	start := len(logs.since(0))

	const n = 40
	for i := range n {
		ccr := dratest.Request(4, 272, fmt.Sprintf("nas;ccr;%d", i), "nas.client.test", "client.test", "lab.test", "")
		ccr = ccr.AppendStringAVP(461, wire.AVPFlagMandatory, 0, "32251@3gpp.org")
		ccr = ccr.AppendUint32AVP(416, wire.AVPFlagMandatory, 0, 4) // EVENT
		ccr = ccr.AppendUint32AVP(415, wire.AVPFlagMandatory, 0, 0)
		sub := wire.AppendUint32AVP(nil, 450, wire.AVPFlagMandatory, 0, 0)
		sub = wire.AppendStringAVP(sub, 444, wire.AVPFlagMandatory, 0, fmt.Sprintf("1555%07d", i)) // a new subscriber each
		ccr = ccr.AppendAVP(443, wire.AVPFlagMandatory, 0, sub)
		ccr = ccr.AppendUint32AVP(436, wire.AVPFlagMandatory, 0, 2) // CHECK_BALANCE
		if ans := c.Call(t, "dra.lab.test", ccr); dratest.ResultCode(ans) != wire.ResultSuccess {
			t.Fatalf("CCR: %d %s", dratest.ResultCode(ans), dratest.String(ans, wire.AVPErrorMessage))
		}
		password := "demo"
		if i%2 == 1 {
			password = "wrong" // refusals are per request too
		}
		aar := dratest.Request(1, 265, fmt.Sprintf("nas;aar;%d", i), "nas.client.test", "client.test", "lab.test", "")
		aar = aar.AppendUint32AVP(274, wire.AVPFlagMandatory, 0, 3)
		aar = aar.AppendStringAVP(wire.AVPUserName, wire.AVPFlagMandatory, 0, "demo")
		aar = aar.AppendStringAVP(2, wire.AVPFlagMandatory, 0, password)
		c.Call(t, "dra.lab.test", aar)
	}
	if lines := logs.since(start); len(lines) > 2 {
		t.Errorf("%d log lines at info for %d requests:\n%s", len(lines), 2*n, strings.Join(lines, "\n"))
	}
}
