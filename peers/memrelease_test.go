package peers

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/wire"
)

// TestMemoryReturnedAfterPeersLeave: memory is returned to the system once
// the connections fall to half of their peak (and by releaseMinDrop), not
// for a smaller drop, and at most once per interval; a further fall
// after that interval returns it again.
func TestMemoryReturnedAfterPeersLeave(t *testing.T) {
	var released atomic.Int32
	o := fastOpts("agent.test")
	o.release = &releasePolicy{minDrop: 8, every: 300 * time.Millisecond, settle: 20 * time.Millisecond, free: func() { released.Add(1) }}
	n := startNode(t, o)
	const peers = 24
	conns := make([]*rawConn, peers)
	for i := range conns {
		conns[i] = dialRaw(t, n.addr())
		if cea := conns[i].exchange(t, Local{OriginHost: fmt.Sprintf("m%d.test", i), OriginRealm: "test", Relay: true}); resultCode(t, cea) != wire.ResultSuccess {
			t.Fatalf("peer %d refused", i)
		}
	}
	waitFor(t, "all peers open", 5*time.Second, func() bool { return len(n.m.Table().ByState(StateROpen)) == peers })
	leave := func(from, to int) {
		for _, c := range conns[from:to] {
			c.nc.Close()
		}
		waitFor(t, "the connections gone", 5*time.Second, func() bool { return n.m.nconns.Load() == int64(peers-to) })
	}
	steps := []struct {
		leaveTo int   // peers [0, leaveTo) have left
		want    int32 // releases so far
	}{
		{8, 0},  // 16 of 24 left: more than half
		{12, 1}, // 12 of 24: half, 12 fewer
		{20, 1}, // 4: within releaseEvery of the last release
	}
	prev := 0
	for _, st := range steps {
		leave(prev, st.leaveTo)
		prev = st.leaveTo
		if st.want > 0 {
			waitFor(t, fmt.Sprintf("%d releases", st.want), 5*time.Second, func() bool { return released.Load() >= st.want })
		}
		if got := released.Load(); got != st.want {
			t.Fatalf("%d peers left: %d releases, want %d", st.leaveTo, got, st.want)
		}
	}
	// After releaseEvery, the fall from 12 to 4 counts.
	waitFor(t, "the release after the interval", 5*time.Second, func() bool { return released.Load() == 2 })
}
