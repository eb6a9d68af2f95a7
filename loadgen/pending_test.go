package loadgen

import "testing"

func TestPendingMatchAndExpire(t *testing.T) {
	p := newPending(4, 0xfffffff0) // wraps around zero
	sessions := make([]Session, 200)
	ids := make([]uint32, len(sessions))
	for i := range sessions {
		ids[i] = p.add(&sessions[i], int64(i), uint32(i))
	}
	if p.n != 200 || len(p.ring) < 400 {
		t.Fatalf("n %d, ring %d", p.n, len(p.ring))
	}
	seen := map[uint32]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("identifier %d issued twice", id)
		}
		seen[id] = true
	}
	// A wrong End-to-End or an unknown Hop-by-Hop matches nothing.
	if _, ok := p.remove(ids[3], 999); ok {
		t.Fatal("matched with a wrong End-to-End")
	}
	if _, ok := p.remove(ids[199]+1, 200); ok {
		t.Fatal("matched an identifier never issued")
	}
	// Answer every other request.
	for i := 0; i < 200; i += 2 {
		e, ok := p.remove(ids[i], uint32(i))
		if !ok || e.sess != &sessions[i] || e.sent != int64(i) {
			t.Fatalf("remove %d: %+v %v", i, e, ok)
		}
	}
	if _, ok := p.remove(ids[0], 0); ok {
		t.Fatal("removed twice")
	}
	// Expire those sent before 100: the odd ones below 100.
	out := p.expire(100, nil)
	if len(out) != 50 || out[0] != &sessions[1] || out[49] != &sessions[99] {
		t.Fatalf("expired %d", len(out))
	}
	if p.n != 50 {
		t.Fatalf("n %d after expiry", p.n)
	}
	out = p.drain(out[:0])
	if len(out) != 50 || p.n != 0 {
		t.Fatalf("drained %d, n %d", len(out), p.n)
	}
}

// A request that stays unanswered while many others go by keeps its slot:
// the identifier that would reuse it is skipped.
func TestPendingSkipsBusySlot(t *testing.T) {
	p := newPending(minPending, 1)
	var stuck, s Session
	stuckID := p.add(&stuck, 0, 0)
	for i := range 10 * minPending {
		id := p.add(&s, int64(i+1), 7)
		if id&p.mask == stuckID&p.mask {
			t.Fatalf("identifier %d reuses the busy slot of %d", id, stuckID)
		}
		if _, ok := p.remove(id, 7); !ok {
			t.Fatalf("remove %d", id)
		}
	}
	if len(p.ring) != minPending {
		t.Fatalf("ring grew to %d with at most 2 pending", len(p.ring))
	}
	if e, ok := p.remove(stuckID, 0); !ok || e.sess != &stuck {
		t.Fatal("the stuck request was lost")
	}
}

func BenchmarkPending(b *testing.B) {
	p := newPending(256, 0)
	var s Session
	ids := make([]uint32, 100)
	for i := range ids {
		ids[i] = p.add(&s, 0, uint32(i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % len(ids)
		p.remove(ids[k], uint32(k))
		ids[k] = p.add(&s, int64(i), uint32(k))
		i++
	}
}
