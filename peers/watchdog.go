package peers

import (
	"math/rand/v2"
	"time"
)

// WatchdogState is the RFC 3539 §3.4 watchdog state of a peer.
type WatchdogState uint8

// Watchdog states.
const (
	WatchdogInitial WatchdogState = iota
	WatchdogOkay
	WatchdogSuspect
	WatchdogDown
	WatchdogReopen
)

func (s WatchdogState) String() string {
	return [...]string{"INITIAL", "OKAY", "SUSPECT", "DOWN", "REOPEN"}[s]
}

// reopenDWAs is how many DWAs a reopened connection must answer before it
// carries traffic again (RFC 3539 §3.4.1).
const reopenDWAs = 3

// watchdog is the RFC 3539 algorithm as a pure state machine: events in,
// actions out. The caller owns the timer and the connection; the watchdog
// only decides. It is not safe for concurrent use.
type watchdog struct {
	state   WatchdogState
	pending bool // a DWR is outstanding
	numDWA  int  // DWAs received in REOPEN; -1 after a missed one
}

// wdAction says what the caller must do after an event.
type wdAction struct {
	sendDWR  bool
	close    bool // close the transport connection
	failover bool // divert traffic: the peer stopped being usable
	failback bool // the peer is usable again
}

// connUp is the event "the connection opened". A first connection goes
// straight to OKAY; one that replaces a failed connection (DOWN) must first
// prove itself in REOPEN.
func (w *watchdog) connUp() wdAction {
	if w.state == WatchdogDown {
		w.state = WatchdogReopen
		w.numDWA = 0
		w.pending = true
		return wdAction{sendDWR: true}
	}
	w.state = WatchdogOkay
	w.pending = false
	return wdAction{failback: true}
}

// receive is the event "a message arrived"; dwa tells whether it is a DWA.
// deliver is false when the message must be thrown away (a non-DWA in
// REOPEN).
func (w *watchdog) receive(dwa bool) (a wdAction, deliver bool) {
	if dwa {
		w.pending = false
	}
	switch w.state {
	case WatchdogSuspect:
		w.state = WatchdogOkay
		return wdAction{failback: true}, true
	case WatchdogReopen:
		if !dwa {
			return wdAction{}, false
		}
		w.numDWA++ // a DWA late by one interval (-1) only brings it back to 0
		if w.numDWA >= reopenDWAs {
			w.state = WatchdogOkay
			return wdAction{failback: true}, true
		}
	}
	return wdAction{}, true
}

// timer is the event "Tw expired". The caller rearms the timer after every
// event that RFC 3539 says calls SetWatchdog: all of them but DOWN.
func (w *watchdog) timer() wdAction {
	switch w.state {
	case WatchdogOkay:
		if !w.pending {
			w.pending = true
			return wdAction{sendDWR: true}
		}
		w.state = WatchdogSuspect
		return wdAction{failover: true}
	case WatchdogSuspect:
		w.state = WatchdogDown
		return wdAction{close: true}
	case WatchdogReopen:
		if !w.pending {
			w.pending = true
			return wdAction{sendDWR: true}
		}
		if w.numDWA < 0 {
			w.state = WatchdogDown
			return wdAction{close: true}
		}
		w.numDWA = -1
		return wdAction{}
	}
	return wdAction{}
}

// connDown is the event "the connection closed".
func (w *watchdog) connDown() wdAction {
	prev := w.state
	w.state = WatchdogDown
	w.pending = false
	return wdAction{failover: prev == WatchdogOkay}
}

// usable reports whether the peer may carry application traffic.
func (w *watchdog) usable() bool { return w.state == WatchdogOkay }

// jitter returns Tw with the ±2 s jitter of RFC 3539 §3.4.1 (at most a
// quarter of Tw, for the short intervals tests use).
func jitter(tw time.Duration) time.Duration {
	j := min(2*time.Second, tw/4)
	return tw - j + time.Duration(rand.Int64N(int64(2*j)+1))
}
