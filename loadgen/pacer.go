package loadgen

import "time"

// pacer is the open-loop send schedule of one connection: slot k is due at
// start + k*interval, whatever happened before. The schedule depends on the
// clock alone: late answers, a slow writer or a pause of the process do not
// shift it; the slots missed meanwhile fall due together and are sent at
// once, each keeping its scheduled time, from which its latency is measured
// (so that a stall shows in the latency instead of being left out, the
// coordinated omission of closed-loop measurements).
type pacer struct {
	start    int64   // ns since the run's epoch of slot 0
	interval float64 // ns between slots
	next     uint64  // first slot not yet taken
}

// newPacer schedules rate slots per second from start (ns since epoch).
func newPacer(start int64, rate float64) pacer {
	return pacer{start: start, interval: float64(time.Second) / rate}
}

// at returns the scheduled time of slot k.
func (p *pacer) at(k uint64) int64 { return p.start + int64(float64(k)*p.interval) }

// nextAt returns the scheduled time of the first slot not taken.
func (p *pacer) nextAt() int64 { return p.at(p.next) }

// due returns how many slots are due at now and not yet taken.
func (p *pacer) due(now int64) uint64 {
	if now < p.nextAt() {
		return 0
	}
	last := uint64(float64(now-p.start) / p.interval) // last slot due at now
	for p.at(last+1) <= now {                         // float rounding
		last++
	}
	for last > 0 && p.at(last) > now {
		last--
	}
	if last+1 < p.next {
		return 0
	}
	return last + 1 - p.next
}

// take takes the first slot not taken and returns its scheduled time.
func (p *pacer) take() int64 {
	t := p.at(p.next)
	p.next++
	return t
}
