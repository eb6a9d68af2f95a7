package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pair opens two handles on one store, as two agents would: for Redis two
// clients of one server, for the embedded store the same instance (what
// one process shares with itself).
type pair func(t *testing.T) (a, b Store)

// runContract runs the behaviour every store must have.
func runContract(t *testing.T, open pair) {
	t.Run("Bindings", func(t *testing.T) { testBindings(t, open) })
	t.Run("BindingTTL", func(t *testing.T) { testBindingTTL(t, open) })
	t.Run("BindingRefresh", func(t *testing.T) { testBindingRefresh(t, open) })
	t.Run("BucketTake", func(t *testing.T) { testBucketTake(t, open) })
	t.Run("BucketRefill", func(t *testing.T) { testBucketRefill(t, open) })
	t.Run("BucketExactUnderConcurrency", func(t *testing.T) { testBucketConcurrency(t, open) })
	t.Run("InvalidArguments", func(t *testing.T) { testInvalid(t, open) })
	t.Run("Ping", func(t *testing.T) {
		a, _ := open(t)
		if err := a.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func testBindings(t *testing.T, open pair) {
	a, b := open(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, session string
	}{
		{"plain", "agent1.example.net;1096298391;1"},
		{"braces", "a{b}c"},
		{"closing brace first", "}x{"},
		{"escape-like", "%7Bb%7D"},
		{"unicode", "sessión;ü;1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.session
			if _, ok, err := a.Bindings().Get(ctx, s); err != nil || ok {
				t.Fatalf("get before bind: ok %v err %v", ok, err)
			}
			if ok, err := a.Bindings().Refresh(ctx, s, time.Minute); err != nil || ok {
				t.Fatalf("refresh before bind: ok %v err %v", ok, err)
			}
			bound, created, err := a.Bindings().Bind(ctx, s, "hss1.example.net", time.Minute)
			if err != nil || !created || bound != "hss1.example.net" {
				t.Fatalf("first bind: %q created %v err %v", bound, created, err)
			}
			// The other agent finds the binding and cannot replace it.
			bound, created, err = b.Bindings().Bind(ctx, s, "hss2.example.net", time.Minute)
			if err != nil || created || bound != "hss1.example.net" {
				t.Fatalf("second bind: %q created %v err %v, want the first", bound, created, err)
			}
			if peer, ok, err := b.Bindings().Get(ctx, s); err != nil || !ok || peer != "hss1.example.net" {
				t.Fatalf("get on the other: %q %v %v", peer, ok, err)
			}
			if err := b.Bindings().Delete(ctx, s); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := a.Bindings().Get(ctx, s); err != nil || ok {
				t.Fatalf("get after delete: ok %v err %v", ok, err)
			}
			if err := a.Bindings().Delete(ctx, s); err != nil {
				t.Fatalf("delete of nothing: %v", err)
			}
			bound, created, err = b.Bindings().Bind(ctx, s, "hss2.example.net", time.Minute)
			if err != nil || !created || bound != "hss2.example.net" {
				t.Fatalf("bind after delete: %q created %v err %v", bound, created, err)
			}
		})
	}
	// Escaping keeps distinct sessions distinct.
	if _, ok, _ := a.Bindings().Get(ctx, "a%7Bb%7Dc"); ok {
		t.Error(`"a%7Bb%7Dc" shares the binding of "a{b}c"`)
	}
}

func testBindingTTL(t *testing.T, open pair) {
	a, b := open(t)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	start := time.Now()
	if _, created, err := a.Bindings().Bind(ctx, "s-ttl", "p1", ttl); err != nil || !created {
		t.Fatalf("bind: %v %v", created, err)
	}
	if _, ok, err := b.Bindings().Get(ctx, "s-ttl"); err != nil || !ok {
		t.Fatalf("get right after bind: %v %v", ok, err)
	}
	gone := waitFor(t, 5*time.Second, func() bool {
		_, ok, err := b.Bindings().Get(ctx, "s-ttl")
		if err != nil {
			t.Fatal(err)
		}
		return !ok
	})
	if lived := gone.Sub(start); lived < ttl-10*time.Millisecond {
		t.Fatalf("binding gone after %s, TTL %s", lived, ttl)
	}
	if bound, created, err := b.Bindings().Bind(ctx, "s-ttl", "p2", ttl); err != nil || !created || bound != "p2" {
		t.Fatalf("bind after expiry: %q %v %v", bound, created, err)
	}
}

func testBindingRefresh(t *testing.T, open pair) {
	a, b := open(t)
	ctx := context.Background()
	if _, _, err := a.Bindings().Bind(ctx, "s-refresh", "p1", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Bindings().Refresh(ctx, "s-refresh", 10*time.Second); err != nil || !ok {
		t.Fatalf("refresh: %v %v", ok, err)
	}
	time.Sleep(500 * time.Millisecond) // past the first TTL
	if peer, ok, err := a.Bindings().Get(ctx, "s-refresh"); err != nil || !ok || peer != "p1" {
		t.Fatalf("refreshed binding: %q %v %v", peer, ok, err)
	}
	// Refresh shortens as well.
	if ok, err := a.Bindings().Refresh(ctx, "s-refresh", 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("refresh: %v %v", ok, err)
	}
	waitFor(t, 5*time.Second, func() bool {
		_, ok, _ := b.Bindings().Get(ctx, "s-refresh")
		return !ok
	})
}

func testBucketTake(t *testing.T, open pair) {
	a, b := open(t)
	ctx := context.Background()
	const slow = 0.001 // tokens/s: no refill during the test
	for _, tc := range []struct {
		name  string
		burst int
		takes []int  // n of each Take, alternating between a and b
		want  []bool // allowed
	}{
		{"starts full", 5, []int{1, 1, 1, 1, 1, 1}, []bool{true, true, true, true, true, false}},
		{"n above what is left", 10, []int{7, 4, 3, 1}, []bool{true, false, true, false}},
		{"burst at once", 3, []int{3, 1}, []bool{true, false}},
		{"one", 1, []int{1, 1}, []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "take/" + tc.name
			for i, n := range tc.takes {
				s := a
				if i%2 == 1 {
					s = b
				}
				ok, retry, err := s.Buckets().Take(ctx, key, slow, tc.burst, n)
				if err != nil {
					t.Fatal(err)
				}
				if ok != tc.want[i] {
					t.Fatalf("take %d of %d: allowed %v, want %v", i, n, ok, tc.want[i])
				}
				if ok && retry != 0 {
					t.Fatalf("allowed with retry-after %s", retry)
				}
				// Every denial here misses one token, less the little
				// refilled meanwhile: 1/rate seconds.
				if want := time.Duration(float64(time.Second) / slow); !ok && (retry > want || retry < want*99/100) {
					t.Fatalf("denied with retry-after %s, want about %s", retry, want)
				}
			}
		})
	}
	// Keys are independent.
	if ok, _, err := a.Buckets().Take(ctx, "take/{other}", slow, 1, 1); err != nil || !ok {
		t.Fatalf("fresh key: %v %v", ok, err)
	}
}

func testBucketRefill(t *testing.T, open pair) {
	a, b := open(t)
	ctx := context.Background()
	const rate, burst = 20.0, 2 // a token every 50ms
	for range burst {
		if ok, _, err := a.Buckets().Take(ctx, "refill", rate, burst, 1); err != nil || !ok {
			t.Fatalf("take: %v %v", ok, err)
		}
	}
	ok, retry, err := b.Buckets().Take(ctx, "refill", rate, burst, 1)
	if err != nil || ok {
		t.Fatalf("empty bucket: allowed %v err %v", ok, err)
	}
	if retry <= 0 || retry > 50*time.Millisecond {
		t.Fatalf("retry-after %s, want in (0, 50ms]", retry)
	}
	time.Sleep(retry) // the wait the bucket asked for
	if ok, r, err := b.Buckets().Take(ctx, "refill", rate, burst, 1); err != nil || !ok {
		t.Fatalf("after retry-after: allowed %v (retry %s) err %v", ok, r, err)
	}
	// A long idle refills up to burst, not beyond.
	time.Sleep(time.Duration(3 * burst * float64(time.Second) / rate))
	allowed := 0
	for range 2 * burst {
		if ok, _, err := a.Buckets().Take(ctx, "refill", rate, burst, 1); err != nil {
			t.Fatal(err)
		} else if ok {
			allowed++
		}
	}
	if allowed != burst {
		t.Fatalf("after idling: %d allowed, want burst %d", allowed, burst)
	}
}

func testBucketConcurrency(t *testing.T, open pair) {
	a, b := open(t)
	ctx := context.Background()
	const burst, workers, tries = 100, 8, 40
	var allowed, denied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range tries {
				ok, _, err := s.Buckets().Take(ctx, "concurrent", 1e-6, burst, 1)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					allowed.Add(1)
				} else {
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if allowed.Load() != burst || denied.Load() != workers*tries-burst {
		t.Fatalf("allowed %d denied %d, want exactly %d and %d", allowed.Load(), denied.Load(), burst, workers*tries-burst)
	}
}

func testInvalid(t *testing.T, open pair) {
	a, _ := open(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"bind empty session", func() error { _, _, err := a.Bindings().Bind(ctx, "", "p", time.Second); return err }},
		{"bind empty peer", func() error { _, _, err := a.Bindings().Bind(ctx, "s", "", time.Second); return err }},
		{"bind zero ttl", func() error { _, _, err := a.Bindings().Bind(ctx, "s", "p", 0); return err }},
		{"refresh zero ttl", func() error { _, err := a.Bindings().Refresh(ctx, "s", 0); return err }},
		{"take empty key", func() error { _, _, err := a.Buckets().Take(ctx, "", 1, 1, 1); return err }},
		{"take zero rate", func() error { _, _, err := a.Buckets().Take(ctx, "k", 0, 1, 1); return err }},
		{"take zero burst", func() error { _, _, err := a.Buckets().Take(ctx, "k", 1, 0, 1); return err }},
		{"take n above burst", func() error { _, _, err := a.Buckets().Take(ctx, "k", 1, 2, 3); return err }},
		{"take zero n", func() error { _, _, err := a.Buckets().Take(ctx, "k", 1, 2, 0); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("err %v, want ErrInvalidArgument", err)
			}
		})
	}
}

// waitFor polls cond until it holds and returns when it did; it fails t
// past limit.
func waitFor(t *testing.T, limit time.Duration, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// uniquePrefix gives each test its own keys on a shared Redis.
func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("test%d:", prefixSeq.Add(1))
}

var prefixSeq atomic.Int64
