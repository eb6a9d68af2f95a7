package state

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestEmbeddedContract runs the store contract against the embedded store.
func TestEmbeddedContract(t *testing.T) {
	runContract(t, func(t *testing.T) (Store, Store) {
		s := NewEmbedded(EmbeddedOptions{})
		return s, s
	})
}

// TestEmbeddedBounded: the store holds at most its bound, the latest
// entry included; expired bindings make room before live ones are
// dropped, and below the bound nothing live is dropped.
func TestEmbeddedBounded(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	const limit = embeddedShards * 16

	e := NewEmbedded(EmbeddedOptions{MaxBindings: limit, MaxBuckets: limit, Now: clock})
	for i := range 4 * limit {
		if _, _, err := e.Bindings().Bind(ctx, session(i), "p", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.Buckets().Take(ctx, session(i), 1, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.bindings(); n > limit {
		t.Fatalf("%d bindings held, bound %d", n, limit)
	}
	if n := e.buckets(); n > limit {
		t.Fatalf("%d buckets held, bound %d", n, limit)
	}
	if _, ok, _ := e.Bindings().Get(ctx, session(4*limit-1)); !ok {
		t.Fatal("latest binding evicted")
	}

	// Full of expired bindings: new live ones all stay.
	e = NewEmbedded(EmbeddedOptions{MaxBindings: limit, Now: clock})
	for i := range 2 * limit {
		e.Bindings().Bind(ctx, session(i), "p", time.Second)
	}
	now = now.Add(2 * time.Second)
	for i := range limit / 8 {
		e.Bindings().Bind(ctx, session(-1-i), "p", time.Hour)
	}
	for i := range limit / 8 {
		if _, ok, _ := e.Bindings().Get(ctx, session(-1-i)); !ok {
			t.Fatalf("live binding %d dropped while expired ones were held", i)
		}
	}

	// Below the bound nothing live is dropped.
	e = NewEmbedded(EmbeddedOptions{MaxBindings: limit * 4, Now: clock})
	for i := range limit {
		e.Bindings().Bind(ctx, session(i), "p", time.Hour)
	}
	for i := range limit {
		if _, ok, _ := e.Bindings().Get(ctx, session(i)); !ok {
			t.Fatalf("binding %d dropped below the bound", i)
		}
	}
}

func session(i int) string { return "dra.example.net;1;" + strconv.Itoa(i) }

func (e *Embedded) bindings() (n int) {
	for i := range e.bind {
		e.bind[i].mu.Lock()
		n += len(e.bind[i].m)
		e.bind[i].mu.Unlock()
	}
	return n
}

func (e *Embedded) buckets() (n int) {
	for i := range e.buck {
		e.buck[i].mu.Lock()
		n += len(e.buck[i].m)
		e.buck[i].mu.Unlock()
	}
	return n
}
