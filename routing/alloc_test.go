//go:build !race

package routing_test

import (
	"runtime"
	"testing"
)

// The steady forwarding path, request out and answer back, does not
// allocate per request. What remains is amortised growth (the timeout
// wheel's slots, pool refills after a GC), a small fraction of an
// allocation per request. (The race detector's instrumentation allocates,
// hence the build tag.)
func TestForwardDoesNotAllocate(t *testing.T) {
	rig := newForwardRig(t)
	for i := range 5000 { // warm pools, maps and the timeout wheel
		rig.send(i)
		<-rig.done
	}
	const n = 20000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		rig.send(i)
		<-rig.done
	}
	runtime.ReadMemStats(&after)
	per := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.4f allocations per forwarded request (whole process: client, agent, server)", per)
	if per > 0.1 {
		t.Fatalf("%.3f allocations per forwarded request", per)
	}
	if n := rig.stats(); n != 0 {
		t.Fatalf("%d requests answered by the agent itself", n)
	}
}
