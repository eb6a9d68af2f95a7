package cdf

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/state"
)

// BenchmarkACRSession: one accounting session (START, INTERIM, STOP, each
// CDR fsynced before its answer) per iteration, through ServeDiameter, on
// the embedded session table and on Redis (a local redis-server without
// persistence, and with AOF and appendfsync always; two scripts per ACR:
// claim and mark). "seq" is one client,
// "par8" eight at once (their CDRs share fsyncs).
func BenchmarkACRSession(b *testing.B) {
	servers := map[string]*redistest.Server{
		"redis":     redistest.Start(b, redistest.Options{}),
		"redis-aof": redistest.Start(b, redistest.Options{AOF: true}),
	}
	for _, backend := range []string{"embedded", "redis", "redis-aof"} {
		newSrv := func(b *testing.B) *Server {
			cfg := testConfig(b)
			if backend == "embedded" {
				return startServer(b, cfg)
			}
			st, err := state.NewRedis(state.RedisConfig{Addrs: []string{servers[backend].Addr}, KeyPrefix: "b:", Timeout: sharedTimeout}, nil)
			if err != nil {
				b.Fatal(err)
			}
			s, err := NewShared(cfg, testID, nil, st, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close(); st.Close() })
			return s
		}
		var seq atomic.Int64
		session := func(b *testing.B, s *Server, prefix string) {
			sid := fmt.Sprintf("%s;%d", prefix, seq.Add(1))
			for num, typ := range []uint32{StartRecord, InterimRecord, StopRecord} {
				if code := answerCode(serve(b, s, newACR(sid, typ, uint32(num)))); code != 2001 {
					b.Fatalf("%s #%d: %d", sid, num, code)
				}
			}
		}
		b.Run(backend+"/seq", func(b *testing.B) {
			s := newSrv(b)
			b.ReportAllocs()
			for b.Loop() {
				session(b, s, "seq")
			}
			b.ReportMetric(float64(3*b.N)/b.Elapsed().Seconds(), "ACR/s")
		})
		b.Run(backend+"/par8", func(b *testing.B) {
			s := newSrv(b)
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					session(b, s, "par")
				}
			})
			b.ReportMetric(float64(3*b.N)/b.Elapsed().Seconds(), "ACR/s")
		})
	}
}
