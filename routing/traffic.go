package routing

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/peers"
)

// Traffic counts every request and answer by application, command, peer
// and Result-Code, and keeps latency histograms by application and
// command. Recording is a lock-free map read and a few atomic adds, so it
// runs for every request; exporting (Snapshot) copies the counters out.
type Traffic struct {
	requests cowMap[requestKey, atomic.Uint64]
	answers  cowMap[answerKey, atomic.Uint64]
	latency  cowMap[latencyKey, latencyPair]
}

type requestKey struct {
	app, cmd uint32
	peer     *peers.Peer // ingress; nil for requests the agent originated
}

type answerKey struct {
	app, cmd, code uint32
	// peer is the egress peer of a relayed answer, nil for answers the
	// agent produced itself.
	peer *peers.Peer
}

type latencyKey struct {
	app, cmd uint32
	relayed  bool
}

// latencyPair is the end-to-end time (request received to answer sent)
// and the part the agent added (end-to-end minus the time spent waiting
// for the next hop's answer).
type latencyPair struct {
	total, added Histogram
}

// cowMap is a copy-on-write map: lookups are one atomic load and a map
// read, and a key is added by copying its shard. Keys are few and stable
// (applications, commands, peers, result codes), so copies are rare.
type cowMap[K comparable, V any] struct {
	mu     sync.Mutex
	shards [16]atomic.Pointer[map[K]*V]
}

func (c *cowMap[K, V]) get(k K, shard uint32) *V {
	s := &c.shards[shard%uint32(len(c.shards))]
	if m := s.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := s.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	n := make(map[K]*V, 1+lenOf(old))
	if old != nil {
		for k2, v2 := range *old {
			n[k2] = v2
		}
	}
	v := new(V)
	n[k] = v
	s.Store(&n)
	return v
}

func lenOf[K comparable, V any](m *map[K]*V) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

func (c *cowMap[K, V]) each(f func(K, *V)) {
	for i := range c.shards {
		if m := c.shards[i].Load(); m != nil {
			for k, v := range *m {
				f(k, v)
			}
		}
	}
}

func (t *Traffic) request(app, cmd uint32, p *peers.Peer) {
	t.requests.get(requestKey{app, cmd, p}, app^cmd).Add(1)
}

func (t *Traffic) answer(app, cmd, code uint32, p *peers.Peer, total, added time.Duration, relayed bool) {
	t.answers.get(answerKey{app, cmd, code, p}, app^cmd^code).Add(1)
	l := t.latency.get(latencyKey{app, cmd, relayed}, app^cmd)
	l.total.Observe(total)
	l.added.Observe(added)
}

// RequestCount is one row of Snapshot's requests.
type RequestCount struct {
	App, Command uint32
	Peer         string // ingress peer; "" for requests the agent originated
	Count        uint64
}

// AnswerCount is one row of Snapshot's answers.
type AnswerCount struct {
	App, Command, ResultCode uint32
	// Peer is the peer that answered; "" for answers the agent produced.
	Peer  string
	Count uint64
}

// LatencyRow is the latency of one application and command.
type LatencyRow struct {
	App, Command uint32
	// Relayed: answers relayed from a next hop; otherwise answers the agent
	// produced (errors and local applications).
	Relayed bool
	// Total is from the request's arrival to its answer's departure;
	// Added is Total minus the wait for the next hop.
	Total, Added HistogramSnapshot
}

// TrafficSnapshot is a copy of the Traffic counters, sorted.
type TrafficSnapshot struct {
	Requests []RequestCount
	Answers  []AnswerCount
	Latency  []LatencyRow
}

// Snapshot copies the counters out (for exporters; allocates).
func (t *Traffic) Snapshot() TrafficSnapshot {
	var s TrafficSnapshot
	t.requests.each(func(k requestKey, v *atomic.Uint64) {
		s.Requests = append(s.Requests, RequestCount{k.app, k.cmd, identity(k.peer), v.Load()})
	})
	t.answers.each(func(k answerKey, v *atomic.Uint64) {
		s.Answers = append(s.Answers, AnswerCount{k.app, k.cmd, k.code, identity(k.peer), v.Load()})
	})
	t.latency.each(func(k latencyKey, v *latencyPair) {
		s.Latency = append(s.Latency, LatencyRow{k.app, k.cmd, k.relayed, v.total.Snapshot(), v.added.Snapshot()})
	})
	slices.SortFunc(s.Requests, func(a, b RequestCount) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Command, b.Command), strings.Compare(a.Peer, b.Peer))
	})
	slices.SortFunc(s.Answers, func(a, b AnswerCount) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Command, b.Command),
			cmp.Compare(a.ResultCode, b.ResultCode), strings.Compare(a.Peer, b.Peer))
	})
	slices.SortFunc(s.Latency, func(a, b LatencyRow) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Command, b.Command), boolCompare(a.Relayed, b.Relayed))
	})
	return s
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func identity(p *peers.Peer) string {
	if p == nil {
		return ""
	}
	return p.Identity()
}

// LatencyBounds are the upper bounds of the latency histogram buckets; a
// last bucket counts everything slower.
var LatencyBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Histogram is a fixed-bucket latency histogram updated with atomics.
type Histogram struct {
	counts [len(LatencyBounds) + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// HistogramSnapshot is a copy of a Histogram: Counts[i] counts durations
// up to LatencyBounds[i] (not cumulative), the last one the rest.
type HistogramSnapshot struct {
	Counts [len(LatencyBounds) + 1]uint64
	Sum    time.Duration
	Count  uint64
}

// Snapshot copies h.
func (h *Histogram) Snapshot() HistogramSnapshot {
	var s HistogramSnapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}
