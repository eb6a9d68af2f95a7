package state

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/redistest"
)

// benchStores are the stores the benchmarks compare: embedded, and Redis
// on a local redis-server (one round trip per operation).
func benchStores(b *testing.B) []struct {
	name string
	s    Store
} {
	srv := redistest.Start(b, redistest.Options{})
	return []struct {
		name string
		s    Store
	}{
		{"embedded", NewEmbedded(EmbeddedOptions{})},
		{"redis", openRedis(b, srv, nil)},
	}
}

// BenchmarkTake is one Take of a bucket that always has tokens.
func BenchmarkTake(b *testing.B) {
	ctx := context.Background()
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := st.s.Buckets().Take(ctx, "peer:client1.example.net", 1e9, 1_000_000, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBindingGet is one Get of an existing binding.
func BenchmarkBindingGet(b *testing.B) {
	ctx := context.Background()
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			const n = 1024
			ids := make([]string, n)
			for i := range ids {
				ids[i] = "dra1.example.net;1733300000;" + strconv.Itoa(i)
				if _, _, err := st.s.Bindings().Bind(ctx, ids[i], "hss1.example.net", time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok, err := st.s.Bindings().Get(ctx, ids[i%n]); err != nil || !ok {
					b.Fatal(ok, err)
				}
				i++
			}
		})
	}
}

// BenchmarkTakeParallel is Take from GOMAXPROCS goroutines at once, as
// the router would call it: throughput through one client's pool.
func BenchmarkTakeParallel(b *testing.B) {
	ctx := context.Background()
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := st.s.Buckets().Take(ctx, "peer:client1.example.net", 1e9, 1_000_000, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
