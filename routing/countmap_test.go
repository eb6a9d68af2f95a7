package routing

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/wire"
)

// Concurrent lookups, additions and deletions keep every counter: a key
// is added once, its counter is shared by every goroutine, and deleting
// other keys does not lose it (run with -race).
func TestCountMapConcurrent(t *testing.T) {
	var c countMap[uint32, atomic.Uint64]
	const workers, keys, rounds = 8, 500, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for k := range uint32(keys) {
					c.get(k).Add(1)
					if w == 0 && r == 1 && k%100 == 0 {
						c.deleteFunc(func(k uint32) bool { return k >= keys }) // none
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := c.len(); n != keys {
		t.Fatalf("%d keys, want %d", n, keys)
	}
	c.each(func(k uint32, v *atomic.Uint64) {
		if v.Load() != workers*rounds {
			t.Errorf("key %d counted %d, want %d", k, v.Load(), workers*rounds)
		}
	})
	c.deleteFunc(func(k uint32) bool { return k%2 == 0 })
	if n := c.len(); n != keys/2 {
		t.Fatalf("%d keys after deleting half, want %d", n, keys/2)
	}
	if _, ok := c.load(2); ok {
		t.Error("deleted key still published")
	}
}

// Adding a key costs the same with 1,000 keys or 100,000 (amortized): the
// map is copied once the additions since the last copy reach its size.
func TestCountMapCopiesAmortized(t *testing.T) {
	for _, n := range []int{1000, 100000} {
		var c countMap[uint32, atomic.Uint64]
		copies, copied := 0, 0
		for k := range uint32(n) {
			before := c.read.Load()
			c.get(k)
			if after := c.read.Load(); after != before {
				copies++
				copied += len(*after)
			}
		}
		if per := float64(copied) / float64(n); per > 3 {
			t.Errorf("%d keys: %d copies moved %d entries, %.1f per key", n, copies, copied, per)
		}
	}
}

func TestKnownLabels(t *testing.T) {
	table, err := realm.Build([]realm.Route{{Realm: "x.test", AppID: 16777999, Commands: []uint32{8388999}, Action: realm.Local}})
	if err != nil {
		t.Fatal(err)
	}
	k := newKnown(table, map[uint32]Handler{16777888: nil})
	for _, tc := range []struct {
		name       string
		got, want  uint32
		label, lbl string
	}{
		{"dictionary application", k.app(4), 4, AppLabel(k.app(4)), "4"},
		{"base application", k.app(0), 0, AppLabel(k.app(0)), "0"},
		{"routed application", k.app(16777999), 16777999, AppLabel(k.app(16777999)), "16777999"},
		{"local application", k.app(16777888), 16777888, AppLabel(k.app(16777888)), "16777888"},
		{"unknown application", k.app(123456), Other, AppLabel(k.app(123456)), "other"},
		{"relay id", k.app(0xffffffff), Other, AppLabel(k.app(0xffffffff)), "other"},
		{"dictionary command", k.command(272), 272, "", ""},
		{"routed command", k.command(8388999), 8388999, "", ""},
		{"unknown command", k.command(999999), Other, "", ""},
		{"RFC 6733 code", knownResult(wire.ResultUnableToComply), 5012, ResultLabel(5012), "5012"},
		{"RFC 4006 code", knownResult(4012), 4012, ResultLabel(4012), "4012"},
		{"no Result-Code", knownResult(0), 0, ResultLabel(0), "0"},
		{"unknown success", knownResult(2999), OtherResult + 2, ResultLabel(knownResult(2999)), "2xxx"},
		{"unknown permanent failure", knownResult(5999), OtherResult + 5, ResultLabel(knownResult(5999)), "5xxx"},
		{"out of range", knownResult(77), OtherResult, ResultLabel(knownResult(77)), "other"},
		{"huge", knownResult(0xfffffffe), OtherResult, ResultLabel(knownResult(0xfffffffe)), "other"},
	} {
		if tc.got != tc.want || tc.label != tc.lbl {
			t.Errorf("%s: %d %q, want %d %q", tc.name, tc.got, tc.label, tc.want, tc.lbl)
		}
	}
}

// BenchmarkTrafficInsert adds a new key per operation: the cost of a
// counter's first request (before, a copy of a whole shard: quadratic).
func BenchmarkTrafficInsert(b *testing.B) {
	var t Traffic
	b.ReportAllocs()
	for i := range b.N {
		t.requests.get(requestKey{app: uint32(i), cmd: uint32(i >> 8)}).Add(1)
	}
}

// BenchmarkTrafficRequest counts a request of a known key: the per-request
// cost.
func BenchmarkTrafficRequest(b *testing.B) {
	var t Traffic
	k := newKnown(nil, nil)
	b.ReportAllocs()
	for range b.N {
		t.request(k, 4, 272, nil)
	}
}
