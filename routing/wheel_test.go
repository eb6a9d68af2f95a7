package routing

import (
	"context"
	"testing"
	"time"

	"github.com/dra-project/dra/peers"
)

// The wheel fires every entry once its deadline passed, and keeps arrays
// only for the slots in use plus a bounded spare list: sweeping all 4096
// slots under steady load must not leave an array in each of them.
func TestWheelFiresAndRecyclesSlots(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no ticker: the test drives tick itself
	fired := 0
	w := newWheel(ctx, wheelResolution, func(*peers.Conn, uint32) { fired++ })
	const rounds, perRound = 3 * 4096, 100
	for r := range rounds {
		for i := range perRound {
			w.add(nil, uint32(r*perRound+i), time.Now())
		}
		w.tick()
	}
	if fired != rounds*perRound {
		t.Fatalf("fired %d of %d", fired, rounds*perRound)
	}
	held := 0
	for _, s := range w.slots {
		if s != nil {
			held++
		}
	}
	if held > 1 || len(w.spare) > maxSpare {
		t.Errorf("%d slots hold arrays, %d spare (at most 1 and %d)", held, len(w.spare), maxSpare)
	}

	// An entry beyond the wheel's span is re-added, not fired early.
	fired = 0
	w.add(nil, 1, time.Now().Add(time.Hour))
	for range 2 * len(w.slots) {
		w.tick()
	}
	if fired != 0 {
		t.Error("an entry fired before its deadline")
	}
}
