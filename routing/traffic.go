package routing

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/peers"
)

// Traffic counts the requests that passed validation and every answer by
// application, command, peer and Result-Code, and keeps latency
// histograms by application and command. Recording is a lock-free map
// read and a few atomic adds, so it runs for every request; exporting
// (Snapshot) copies the counters out.
//
// The keys are bounded whatever the traffic: applications and commands
// the agent does not know (see known) are counted as Other, Result-Codes
// it does not know as their class (OtherResult), and peers that are not
// configured by identity only while they are in the peer table and at
// most MaxUnknownPeers of them at once, the rest as OtherPeer. The
// counters of a peer that left the peer table (an unknown peer gone, a
// peer removed from the configuration) are forgotten.
type Traffic struct {
	requests countMap[requestKey, atomic.Uint64]
	answers  countMap[answerKey, atomic.Uint64]
	latency  countMap[latencyKey, latencyPair]
	peers    countMap[*peers.Peer, peerSlot] // how every peer seen is counted

	mgr atomic.Pointer[peers.Manager] // nil: every peer is configured

	pmu        sync.Mutex // classifying and forgetting peers
	unknown    int        // unknown peers counted by identity
	sinceSweep int        // peers classified since the last sweep
	sweepEvery int
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

// peerSlot is how a peer is counted: label is the peer itself or
// otherPeer; unknown marks a peer that is not configured and holds one of
// the MaxUnknownPeers places.
type peerSlot struct {
	label   *peers.Peer
	unknown bool
}

const (
	// Other is the application or command of the requests and answers
	// whose application or command the agent does not know.
	Other uint32 = math.MaxUint32
	// OtherResult is the Result-Code of answers with a Result-Code the
	// agent does not know: OtherResult+n counts the unknown codes of
	// class n (n = code/1000, 1 to 5), OtherResult alone the others.
	OtherResult uint32 = math.MaxUint32 - 9
	// OtherPeer is the peer of the counts of peers that are not
	// configured beyond the MaxUnknownPeers counted by identity.
	OtherPeer = "other"
	// MaxUnknownPeers is how many peers that are not configured are
	// counted by identity at once.
	MaxUnknownPeers = 64
)

// otherPeer stands for OtherPeer in the keys.
var otherPeer = new(peers.Peer)

// attach lets Traffic tell configured peers from the others, and find
// the peers that left.
func (t *Traffic) attach(m *peers.Manager) { t.mgr.Store(m) }

func (t *Traffic) request(k *known, app, cmd uint32, p *peers.Peer) {
	t.requests.get(requestKey{k.app(app), k.command(cmd), t.peer(p)}).Add(1)
}

func (t *Traffic) answer(k *known, app, cmd, code uint32, p *peers.Peer, total, added time.Duration, relayed bool) {
	app, cmd = k.app(app), k.command(cmd)
	t.answers.get(answerKey{app, cmd, knownResult(code), t.peer(p)}).Add(1)
	l := t.latency.get(latencyKey{app, cmd, relayed})
	l.total.Observe(total)
	l.added.Observe(added)
}

// counted is the stage after validate: it counts the requests that passed
// validation (those refused are counted by their answers only), so that
// the keys come from well-formed requests of negotiated applications.
func (rt *Router) counted(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, r *Request) (Answer, error) {
		rt.traffic.request(r.gen.known, r.Msg.AppID(), r.Msg.Code(), r.Ingress)
		return next.ServeDiameter(ctx, r)
	})
}

// peer returns the key p is counted under.
func (t *Traffic) peer(p *peers.Peer) *peers.Peer {
	if p == nil {
		return nil
	}
	if s, ok := t.peers.load(p); ok {
		return s.label
	}
	return t.classify(p)
}

// classify labels a peer not published yet: itself when it is configured
// or when fewer than MaxUnknownPeers unknown peers are counted by
// identity, otherPeer otherwise. It holds pmu, so a slot is filled before
// any other goroutine can look it up.
func (t *Traffic) classify(p *peers.Peer) *peers.Peer {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if s, ok := t.peers.load(p); ok {
		return s.label
	}
	m := t.mgr.Load()
	slot := peerSlot{label: p}
	switch {
	case m == nil:
	case configured(m, p):
	case t.unknown >= MaxUnknownPeers && t.sinceSweep >= 8:
		// Unknown peers that left may hold the places.
		t.sweepLocked(m)
		fallthrough
	default:
		if t.unknown < MaxUnknownPeers {
			t.unknown++
			slot.unknown = true
		} else {
			slot.label = otherPeer
		}
	}
	if m != nil {
		if t.sinceSweep++; t.sinceSweep >= max(t.sweepEvery, 16) {
			t.sweepLocked(m)
		}
	}
	t.peers.add(p, &slot)
	return slot.label
}

func configured(m *peers.Manager, p *peers.Peer) bool {
	in, ok := m.Table().Get(p.Identity())
	return ok && in.Configured && in.Peer() == p
}

// sweepLocked forgets the peers that left the manager's peer table: their
// slots and their counters. Its cost is in the number of peers seen, and
// it runs once that number has doubled (or from Snapshot), so O(1) per
// peer amortized.
func (t *Traffic) sweepLocked(m *peers.Manager) {
	t.sinceSweep = 0
	gone := map[*peers.Peer]bool{}
	t.peers.each(func(p *peers.Peer, s *peerSlot) {
		if m.Peer(p.Identity()) != p {
			gone[p] = true
			if s.unknown {
				t.unknown--
			}
		}
	})
	if len(gone) > 0 {
		t.peers.deleteFunc(func(p *peers.Peer) bool { return gone[p] })
		t.requests.deleteFunc(func(k requestKey) bool { return gone[k.peer] })
		t.answers.deleteFunc(func(k answerKey) bool { return gone[k.peer] })
	}
	t.sweepEvery = t.peers.len()
}

// forgetGone forgets the peers that left the peer table.
func (t *Traffic) forgetGone() {
	if m := t.mgr.Load(); m != nil {
		t.pmu.Lock()
		t.sweepLocked(m)
		t.pmu.Unlock()
	}
}

// Keys is the number of counters and histograms kept (requests, answers,
// latency rows): the size of Snapshot.
func (t *Traffic) Keys() int {
	return t.requests.len() + t.answers.len() + t.latency.len()
}

// RequestCount is one row of Snapshot's requests.
type RequestCount struct {
	App, Command uint32 // Other for those the agent does not know
	// Peer is the ingress peer, OtherPeer for unknown peers beyond
	// MaxUnknownPeers, "" for requests the agent originated.
	Peer  string
	Count uint64
}

// AnswerCount is one row of Snapshot's answers.
type AnswerCount struct {
	App, Command uint32 // Other for those the agent does not know
	ResultCode   uint32 // OtherResult+class for codes the agent does not know
	// Peer is the peer that answered (OtherPeer as in RequestCount); ""
	// for answers the agent produced.
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

// Snapshot copies the counters out (for exporters; allocates). The
// counters of peers that left the peer table are forgotten first.
func (t *Traffic) Snapshot() TrafficSnapshot {
	t.forgetGone()
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
	switch p {
	case nil:
		return ""
	case otherPeer:
		return OtherPeer
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
