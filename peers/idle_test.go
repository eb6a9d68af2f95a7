package peers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/wire"
)

// peerGoroutines counts the goroutines running code of this package's
// connections: readers (readLoop and the capabilities exchange before it)
// and writers.
func peerGoroutines() (readers, writers int) {
	buf := make([]byte, 8<<20)
	st := buf[:runtime.Stack(buf, true)]
	for _, g := range bytes.Split(st, []byte("\n\n")) {
		switch {
		case bytes.Contains(g, []byte("peers.(*Conn).writeLoop")):
			writers++
		case bytes.Contains(g, []byte("peers.(*Manager).readLoop")),
			bytes.Contains(g, []byte("peers.(*Manager).runResponder")):
			readers++
		}
	}
	return readers, writers
}

// TestIdlePeerHasOneGoroutine opens peers over loopback and checks that an
// idle one costs its reader only: the writer runs while there is something
// to write and ends after, and is started again for the next message (the
// DWAs of several rounds of DWRs come back).
func TestIdlePeerHasOneGoroutine(t *testing.T) {
	o := fastOpts("agent.test")
	o.Watchdog = time.Minute // no DWR of the agent's own while the test runs
	n := startNode(t, o)
	const peers = 20
	conns := make([]*rawConn, peers)
	for i := range conns {
		conns[i] = dialRaw(t, n.addr())
		cea := conns[i].exchange(t, Local{OriginHost: fmt.Sprintf("c%d.test", i), OriginRealm: "test", Relay: true})
		if rc := resultCode(t, cea); rc != wire.ResultSuccess {
			t.Fatalf("peer %d: CEA %d", i, rc)
		}
	}
	for round := range 3 {
		var r, w int
		waitFor(t, "idle connections without a writer", 5*time.Second, func() bool {
			r, w = peerGoroutines()
			return r == peers && w == 0
		})
		for i, c := range conns {
			c.send(t, builder{l: &Local{OriginHost: "c.test", OriginRealm: "test"}}.dwr(uint32(round*100+i+1), 7))
			dwa := c.read(t)
			if dwa.IsRequest() || dwa.Code() != wire.CmdDeviceWatchdog || dwa.HopByHop() != uint32(round*100+i+1) || resultCode(t, dwa) != wire.ResultSuccess {
				t.Fatalf("round %d, peer %d: no DWA for the DWR: req %v code %d hbh %d", round, i, dwa.IsRequest(), dwa.Code(), dwa.HopByHop())
			}
		}
	}
}

// TestPeerLogLines: at info, a peer that opens and leaves writes one line
// when it opens and one when it is lost; its state transitions are debug
// lines.
func TestPeerLogLines(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var buf lockedBuf
			o := fastOpts("agent.test")
			o.Handler = newRecorder()
			o.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Start(); err != nil {
				t.Fatal(err)
			}
			defer m.Shutdown(context.Background())
			rc := dialRaw(t, m.Addrs()[0].String())
			if cea := rc.exchange(t, Local{OriginHost: "c0.test", OriginRealm: "test", Relay: true}); resultCode(t, cea) != wire.ResultSuccess {
				t.Fatal("CER refused")
			}
			rc.nc.Close()
			var lines []string
			waitFor(t, "the peer closed", 5*time.Second, func() bool {
				lines = lines[:0]
				for _, l := range strings.Split(string(buf.bytes()), "\n") {
					if strings.Contains(l, "peer=c0.test") {
						lines = append(lines, l)
					}
				}
				all := strings.Join(lines, "\n")
				return strings.Contains(all, `msg="peer closed"`) && (level == slog.LevelInfo || strings.Contains(all, "to=Closed"))
			})
			var info, transitions int
			for _, l := range lines {
				switch {
				case strings.Contains(l, `msg="peer state"`):
					transitions++
					if !strings.Contains(l, "level=DEBUG") {
						t.Errorf("transition not at debug: %s", l)
					}
				case strings.Contains(l, "level=INFO"):
					info++
					if !strings.Contains(l, `msg="peer open"`) && !strings.Contains(l, `msg="peer closed"`) {
						t.Errorf("unexpected info line: %s", l)
					}
				}
			}
			wantTransitions := 0
			if level == slog.LevelDebug {
				wantTransitions = 2 // Closed -> R-Open -> Closed
			}
			if info != 2 || transitions != wantTransitions {
				t.Errorf("%d info lines (want 2: open, closed) and %d transitions (want %d):\n%s", info, transitions, wantTransitions, strings.Join(lines, "\n"))
			}
		})
	}
}
