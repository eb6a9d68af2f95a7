package peers

import (
	"runtime/debug"
	"sync/atomic"
	"time"
)

// When many peers leave at once (a site fails over elsewhere, a load test
// ends), the memory their connections held is garbage the runtime only
// gives back to the system slowly: no collection runs while nothing is
// allocated, and the scavenger returns free pages at a trickle, so the
// agent's resident memory stays near its peak for minutes. The manager
// therefore returns it at once (debug.FreeOSMemory: a collection, then
// every free page) when the connection count has fallen to half of its
// peak or less, by releaseMinDrop connections at least, at most once per
// releaseEvery; it waits releaseSettle first, so that one release follows
// a mass departure rather than the middle of it.
const (
	releaseMinDrop = 512
	releaseEvery   = 10 * time.Second
	releaseSettle  = time.Second
)

// releasePolicy is when and how memory is returned (tests change it
// through Options.release).
type releasePolicy struct {
	minDrop int64
	every   time.Duration
	settle  time.Duration
	free    func()
}

func defaultRelease() *releasePolicy {
	return &releasePolicy{minDrop: releaseMinDrop, every: releaseEvery, settle: releaseSettle, free: debug.FreeOSMemory}
}

// memRelease tracks the connection count's peak since memory was last
// returned.
type memRelease struct {
	policy  *releasePolicy
	peak    atomic.Int64
	running atomic.Bool
}

// connAdded counts a new connection (nconns already incremented).
func (m *Manager) connAdded() {
	n := m.nconns.Load()
	for {
		p := m.mem.peak.Load()
		if n <= p || m.mem.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// connRemoved checks, after a connection ended, whether enough have ended
// to return memory to the system.
func (m *Manager) connRemoved() {
	n, peak := m.nconns.Load(), m.mem.peak.Load()
	if peak-n < m.mem.policy.minDrop || n > peak/2 {
		return
	}
	if m.mem.running.CompareAndSwap(false, true) {
		go m.releaseMemory()
	}
}

// releaseMemory lets the departure settle, returns free memory to the
// system, then waits out the interval before another release may start,
// and starts it if the connections kept falling meanwhile.
func (m *Manager) releaseMemory() {
	defer m.mem.running.Store(false)
	if !m.sleep(m.mem.policy.settle) {
		return
	}
	m.mem.peak.Store(m.nconns.Load())
	m.mem.policy.free()
	if !m.sleep(m.mem.policy.every) {
		return
	}
	m.mem.running.Store(false)
	m.connRemoved()
}

// sleep waits d unless the manager stops first (false).
func (m *Manager) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.ctx.Done():
		return false
	}
}
