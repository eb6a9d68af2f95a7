package peers

import (
	"bytes"
	"fmt"
	"runtime"
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
