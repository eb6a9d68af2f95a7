package policy

import (
	"context"
	"testing"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/state"
)

// BenchmarkRateLimitShared is one rate-limit rule judged in the agent
// (local) and in a local redis-server (redis: one script call per
// request), serially and with 16 requests in flight.
func BenchmarkRateLimitShared(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	rs, err := state.NewRedis(state.RedisConfig{Addrs: []string{srv.Addr}, KeyPrefix: "bench:", Timeout: time.Second}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rs.Close() })
	cfg := configs.Policy{RateLimits: []configs.RateLimit{{Name: "app", Per: "application", Rate: 1e9, Burst: 1e9}}}
	for _, tc := range []struct {
		name   string
		shared *Shared
	}{
		{"local", nil},
		{"redis", NewShared(rs.Buckets())},
	} {
		st := NewState(nil)
		st.Shared = tc.shared
		p, err := Build(cfg, Identity{"dra.dra.test", "dra.test"}, st)
		if err != nil {
			b.Fatal(err)
		}
		run := func(b *testing.B) {
			if msg := allowRate(context.Background(), p.rates, "mme.client.test", 4, time.Now().UnixNano()); msg != "" {
				b.Fatal(msg)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				run(b)
			}
		})
		b.Run(tc.name+"-parallel16", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					run(b)
				}
			})
		})
		if tc.shared != nil && tc.shared.Unavailable.Load() != 0 {
			b.Fatalf("%d requests judged without Redis", tc.shared.Unavailable.Load())
		}
	}
}
