package loadgen

import (
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ now int64 }

func (c *fakeClock) advance(d time.Duration) int64 { c.now += int64(d); return c.now }

// The schedule follows the clock alone: a sender that falls behind finds
// the missed slots due at once, each with its own scheduled time, and the
// schedule after the catch-up is unchanged.
func TestPacerSchedule(t *testing.T) {
	clk := &fakeClock{now: 1000}
	p := newPacer(clk.now, 1000) // one slot per ms
	if n := p.due(clk.now); n != 1 {
		t.Fatalf("at start: %d due, want slot 0", n)
	}
	if at := p.take(); at != 1000 {
		t.Fatalf("slot 0 at %d", at)
	}
	if n := p.due(clk.advance(500 * time.Microsecond)); n != 0 {
		t.Fatalf("half a slot later: %d due", n)
	}
	if next := p.nextAt(); next != 1000+int64(time.Millisecond) {
		t.Fatalf("next slot at %d", next)
	}

	// The sender stalls for 10.5 ms (answers late, a GC pause...): ten
	// slots fall due, scheduled 1 ms apart in the past.
	n := p.due(clk.advance(10 * time.Millisecond))
	if n != 10 {
		t.Fatalf("after a 10 ms stall: %d due, want 10", n)
	}
	for k := range n {
		if at, want := p.take(), 1000+int64(k+1)*int64(time.Millisecond); at != want {
			t.Fatalf("slot %d scheduled at %d, want %d", k+1, at, want)
		}
	}
	if n := p.due(clk.now); n != 0 {
		t.Fatalf("after catching up: %d due", n)
	}
	// Latency of the first late slot is measured from its scheduled time:
	// the stall counts in full.
	if lat := time.Duration(clk.now - p.at(1)); lat != 9500*time.Microsecond {
		t.Fatalf("latency base of slot 1: %v", lat)
	}
	// The rate is unchanged after the catch-up: slot 11 at 11 ms.
	if n := p.due(clk.advance(500 * time.Microsecond)); n != 1 {
		t.Fatalf("at 11 ms: %d due", n)
	}
	if at := p.take(); at != 1000+11*int64(time.Millisecond) {
		t.Fatalf("slot 11 at %d", at)
	}
}

// Over a long run at an awkward rate, the number of slots due matches the
// rate exactly, whatever the polling pattern.
func TestPacerLongRun(t *testing.T) {
	for _, rate := range []float64{3, 333.3, 7919, 250000} {
		clk := &fakeClock{}
		p := newPacer(0, rate)
		var sent uint64
		var last int64
		step := []time.Duration{time.Microsecond, 370 * time.Microsecond, 3 * time.Millisecond, 41 * time.Millisecond}
		for i := 0; clk.now < int64(10*time.Second); i++ {
			n := p.due(clk.now)
			for range n {
				if at := p.take(); at > clk.now {
					t.Fatalf("rate %g: slot scheduled at %d taken at %d", rate, at, clk.now)
				}
			}
			sent += n
			last = clk.now
			clk.advance(step[i%len(step)])
		}
		want := uint64(float64(last)/float64(time.Second)*rate) + 1
		if sent+1 < want || sent > want {
			t.Errorf("rate %g over %v: %d slots, want %d", rate, time.Duration(last), sent, want)
		}
	}
}
