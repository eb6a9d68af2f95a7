package peers

import (
	"fmt"
	"testing"
	"time"
)

// wdEvent is one RFC 3539 §3.4.1 event fed to the watchdog.
type wdEvent uint8

const (
	evConnUp wdEvent = iota
	evConnDown
	evTimer
	evDWA    // receive a DWA
	evNonDWA // receive anything else
)

func (e wdEvent) String() string {
	return [...]string{"connUp", "connDown", "timer", "DWA", "non-DWA"}[e]
}

// wdStep is an event and what must follow from it.
type wdStep struct {
	ev      wdEvent
	state   WatchdogState
	act     wdAction
	pending bool
	numDWA  int  // checked in REOPEN only
	drop    bool // receive events: the message is thrown away
}

// fire applies ev to w and returns the action and, for receive events,
// whether the message is delivered.
func (w *watchdog) fire(ev wdEvent) (wdAction, bool) {
	switch ev {
	case evConnUp:
		return w.connUp(), true
	case evConnDown:
		return w.connDown(), true
	case evTimer:
		return w.timer(), true
	case evDWA:
		return w.receive(true)
	case evNonDWA:
		return w.receive(false)
	}
	panic("unknown event")
}

// runWatchdog drives w through steps and checks each outcome.
func runWatchdog(t *testing.T, w *watchdog, steps []wdStep) {
	t.Helper()
	for i, s := range steps {
		from := w.state
		act, deliver := w.fire(s.ev)
		where := fmt.Sprintf("step %d: %s in %s", i, s.ev, from)
		if w.state != s.state {
			t.Fatalf("%s: state %s, want %s", where, w.state, s.state)
		}
		if act != s.act {
			t.Errorf("%s: action %+v, want %+v", where, act, s.act)
		}
		if w.pending != s.pending {
			t.Errorf("%s: pending %v, want %v", where, w.pending, s.pending)
		}
		if w.state == WatchdogReopen && w.numDWA != s.numDWA {
			t.Errorf("%s: numDWA %d, want %d", where, w.numDWA, s.numDWA)
		}
		if deliver == s.drop {
			t.Errorf("%s: deliver %v, want %v", where, deliver, !s.drop)
		}
		if w.usable() != (w.state == WatchdogOkay) {
			t.Errorf("%s: usable() = %v in %s", where, w.usable(), w.state)
		}
	}
}

var (
	actNone     = wdAction{}
	actSendDWR  = wdAction{sendDWR: true}
	actFailover = wdAction{failover: true}
	actFailback = wdAction{failback: true}
	actClose    = wdAction{close: true}
)

// Steps that bring a fresh watchdog to OKAY and then to DOWN through a
// failed connection, the start of every REOPEN scenario.
var wdToDown = []wdStep{
	{ev: evConnUp, state: WatchdogOkay, act: actFailback},
	{ev: evConnDown, state: WatchdogDown, act: actFailover},
}

func steps(parts ...[]wdStep) []wdStep {
	var out []wdStep
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestWatchdogSequences(t *testing.T) {
	reopen := wdStep{ev: evConnUp, state: WatchdogReopen, act: actSendDWR, pending: true, numDWA: 0}
	tests := []struct {
		name  string
		steps []wdStep
	}{
		{"initial connection up is OKAY", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
		}},
		{"idle OKAY sends DWR, DWA clears pending", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evDWA, state: WatchdogOkay, act: actNone},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evDWA, state: WatchdogOkay, act: actNone},
		}},
		{"unanswered DWR: SUSPECT and failover", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evTimer, state: WatchdogSuspect, act: actFailover, pending: true},
		}},
		{"non-DWA traffic does not clear pending", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evNonDWA, state: WatchdogOkay, act: actNone, pending: true},
			{ev: evTimer, state: WatchdogSuspect, act: actFailover, pending: true},
		}},
		{"DWA in SUSPECT: OKAY and failback", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evTimer, state: WatchdogSuspect, act: actFailover, pending: true},
			{ev: evDWA, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
		}},
		{"non-DWA in SUSPECT: OKAY and failback, still pending", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evTimer, state: WatchdogSuspect, act: actFailover, pending: true},
			{ev: evNonDWA, state: WatchdogOkay, act: actFailback, pending: true},
			{ev: evTimer, state: WatchdogSuspect, act: actFailover, pending: true},
		}},
		{"SUSPECT timer: DOWN and close", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evTimer, state: WatchdogSuspect, act: actFailover, pending: true},
			{ev: evTimer, state: WatchdogDown, act: actClose, pending: true},
			// The close is then seen as the connection going down: no
			// second failover.
			{ev: evConnDown, state: WatchdogDown, act: actNone},
		}},
		{"connection down in OKAY fails over", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evConnDown, state: WatchdogDown, act: actFailover},
		}},
		{"connection down in OKAY with a DWR pending fails over", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evConnDown, state: WatchdogDown, act: actFailover},
		}},
		{"connection down in SUSPECT: already failed over", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evTimer, state: WatchdogSuspect, act: actFailover, pending: true},
			{ev: evConnDown, state: WatchdogDown, act: actNone},
		}},
		{"DOWN ignores timers and messages", steps(wdToDown, []wdStep{
			{ev: evTimer, state: WatchdogDown, act: actNone},
			{ev: evDWA, state: WatchdogDown, act: actNone},
			{ev: evNonDWA, state: WatchdogDown, act: actNone},
		})},
		{"INITIAL ignores timers", []wdStep{
			{ev: evTimer, state: WatchdogInitial, act: actNone},
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
		}},
		{"REOPEN needs three DWAs", steps(wdToDown, []wdStep{
			reopen,
			{ev: evNonDWA, state: WatchdogReopen, act: actNone, pending: true, drop: true},
			{ev: evDWA, state: WatchdogReopen, act: actNone, numDWA: 1},
			{ev: evNonDWA, state: WatchdogReopen, act: actNone, numDWA: 1, drop: true},
			{ev: evTimer, state: WatchdogReopen, act: actSendDWR, pending: true, numDWA: 1},
			{ev: evDWA, state: WatchdogReopen, act: actNone, numDWA: 2},
			{ev: evTimer, state: WatchdogReopen, act: actSendDWR, pending: true, numDWA: 2},
			{ev: evNonDWA, state: WatchdogReopen, act: actNone, pending: true, numDWA: 2, drop: true},
			{ev: evDWA, state: WatchdogOkay, act: actFailback},
			{ev: evNonDWA, state: WatchdogOkay, act: actNone},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
		})},
		{"REOPEN: DWAs without a timer in between count", steps(wdToDown, []wdStep{
			reopen,
			{ev: evDWA, state: WatchdogReopen, act: actNone, numDWA: 1},
			{ev: evDWA, state: WatchdogReopen, act: actNone, numDWA: 2},
			{ev: evDWA, state: WatchdogOkay, act: actFailback},
		})},
		{"REOPEN: one missed DWA marks, two close", steps(wdToDown, []wdStep{
			reopen,
			{ev: evTimer, state: WatchdogReopen, act: actNone, pending: true, numDWA: -1},
			{ev: evTimer, state: WatchdogDown, act: actClose, pending: true},
			{ev: evConnDown, state: WatchdogDown, act: actNone},
		})},
		{"REOPEN: missed after answers still closes on the second miss", steps(wdToDown, []wdStep{
			reopen,
			{ev: evDWA, state: WatchdogReopen, act: actNone, numDWA: 1},
			{ev: evTimer, state: WatchdogReopen, act: actSendDWR, pending: true, numDWA: 1},
			{ev: evTimer, state: WatchdogReopen, act: actNone, pending: true, numDWA: -1},
			{ev: evTimer, state: WatchdogDown, act: actClose, pending: true},
		})},
		{"REOPEN: connection down, no failover", steps(wdToDown, []wdStep{
			reopen,
			{ev: evDWA, state: WatchdogReopen, act: actNone, numDWA: 1},
			{ev: evConnDown, state: WatchdogDown, act: actNone},
			reopen,
		})},
		{"REOPEN again after a watchdog close", []wdStep{
			{ev: evConnUp, state: WatchdogOkay, act: actFailback},
			{ev: evTimer, state: WatchdogOkay, act: actSendDWR, pending: true},
			{ev: evTimer, state: WatchdogSuspect, act: actFailover, pending: true},
			{ev: evTimer, state: WatchdogDown, act: actClose, pending: true},
			{ev: evConnDown, state: WatchdogDown, act: actNone},
			reopen,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runWatchdog(t, &watchdog{}, tt.steps)
		})
	}
}

// TestWatchdogReopenLateDWA follows the RFC 3539 §3.4.1 table after a
// missed DWA in REOPEN: the timer sets NumDWA to -1 and a DWA then does
// NumDWA++ (to 0), so three more DWAs are needed before OKAY; the late
// answer does not count towards them.
func TestWatchdogReopenLateDWA(t *testing.T) {
	runWatchdog(t, &watchdog{}, steps(wdToDown, []wdStep{
		{ev: evConnUp, state: WatchdogReopen, act: actSendDWR, pending: true, numDWA: 0},
		{ev: evTimer, state: WatchdogReopen, act: actNone, pending: true, numDWA: -1},
		{ev: evDWA, state: WatchdogReopen, act: actNone, numDWA: 0},
		{ev: evTimer, state: WatchdogReopen, act: actSendDWR, pending: true, numDWA: 0},
		{ev: evDWA, state: WatchdogReopen, act: actNone, numDWA: 1},
		{ev: evTimer, state: WatchdogReopen, act: actSendDWR, pending: true, numDWA: 1},
		{ev: evDWA, state: WatchdogReopen, act: actNone, numDWA: 2},
		{ev: evTimer, state: WatchdogReopen, act: actSendDWR, pending: true, numDWA: 2},
		{ev: evDWA, state: WatchdogOkay, act: actFailback},
	}))
}

func TestWatchdogUsable(t *testing.T) {
	for s := WatchdogInitial; s <= WatchdogReopen; s++ {
		for _, pending := range []bool{false, true} {
			w := watchdog{state: s, pending: pending}
			if w.usable() != (s == WatchdogOkay) {
				t.Errorf("usable() = %v in %s (pending %v)", w.usable(), s, pending)
			}
		}
	}
}

func TestWatchdogStateString(t *testing.T) {
	want := map[WatchdogState]string{
		WatchdogInitial: "INITIAL",
		WatchdogOkay:    "OKAY",
		WatchdogSuspect: "SUSPECT",
		WatchdogDown:    "DOWN",
		WatchdogReopen:  "REOPEN",
	}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), name)
		}
	}
}

func TestJitter(t *testing.T) {
	tests := []struct {
		tw, lo, hi time.Duration
	}{
		{30 * time.Second, 28 * time.Second, 32 * time.Second},
		{8 * time.Second, 6 * time.Second, 10 * time.Second},
		{6 * time.Second, 4500 * time.Millisecond, 7500 * time.Millisecond},
		{400 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond},
		{4 * time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond},
	}
	const samples = 20000
	for _, tt := range tests {
		t.Run(tt.tw.String(), func(t *testing.T) {
			minSeen, maxSeen := time.Duration(1<<62), time.Duration(0)
			var below, above int
			for range samples {
				d := jitter(tt.tw)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("jitter(%s) = %s, outside [%s, %s]", tt.tw, d, tt.lo, tt.hi)
				}
				minSeen, maxSeen = min(minSeen, d), max(maxSeen, d)
				if d < tt.tw {
					below++
				} else if d > tt.tw {
					above++
				}
			}
			// The spread is used, on both sides of Tw: with 20000 uniform
			// samples the extremes land within 1% of the bounds.
			span := tt.hi - tt.lo
			if minSeen > tt.lo+span/100 || maxSeen < tt.hi-span/100 {
				t.Errorf("jitter(%s) spans only [%s, %s]", tt.tw, minSeen, maxSeen)
			}
			if below < samples/3 || above < samples/3 {
				t.Errorf("jitter(%s): %d below Tw, %d above, of %d", tt.tw, below, above, samples)
			}
		})
	}
	if d := jitter(0); d != 0 {
		t.Errorf("jitter(0) = %s", d)
	}
}
