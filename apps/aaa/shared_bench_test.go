package aaa

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/state"
)

// roundTrips counts the commands and pipelines sent to Redis, each one
// round trip.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkAARSTR runs NASREQ sessions (a CHAP AAR, then its STR) over
// TCP on the embedded store (session log fsynced per group commit) and on
// Redis (a local redis-server with AOF, appendfsync always; and
// everysec), by 1 NAS and by 8 in parallel. CHAP keeps authentication
// cheap so that the store's cost shows. One op is one session, two
// requests; req/s counts the answers, rt/req the Redis round trips per
// request.
func BenchmarkAARSTR(b *testing.B) {
	for _, backend := range []string{"embedded", "redis", "redis-everysec"} {
		for _, nases := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/nases=%d", backend, nases), func(b *testing.B) {
				benchAARSTR(b, backend, nases)
			})
		}
	}
}

func benchAARSTR(b *testing.B, backend string, nases int) {
	cfg := testConfig(b)
	cfg.Pool = "10.9.0.0/16"
	cfg.ExpiryInterval = time.Second
	rt := &roundTrips{}
	var a *agent
	if backend == "embedded" {
		a = startAgent(b, cfg, "127.0.0.1:0")
	} else {
		opts := redistest.Options{AOF: true}
		if backend == "redis-everysec" {
			opts.Args = []string{"--appendfsync", "everysec"}
		}
		srv := redistest.Start(b, opts)
		r, err := state.NewRedis(state.RedisConfig{Addrs: []string{srv.Addr}, KeyPrefix: "b:", Timeout: time.Second}, testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		r.Client().AddHook(rt)
		a = startAgentWith(b, "127.0.0.1:0", func(orig Originator) (*Server, error) {
			return NewShared(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, orig, r, testLogger(b))
		})
	}
	ns := make([]*nas, nases)
	for i := range ns {
		ns[i] = dialNAS(b, a.addr(), fmt.Sprintf("nas%d.client.test", i))
	}
	var seq, next atomic.Int64
	session := func(n *nas) error {
		sid := fmt.Sprintf("nas;bench;%d", seq.Add(1))
		chal := []byte("0123456789abcdef")
		ans, err := n.try(n.aar(sid, LabUser, 3, chap(7, "demo", chal)...), 10*time.Second)
		if err != nil {
			return err
		}
		if rc := resultOf(ans); rc != 2001 {
			return fmt.Errorf("AAR: %s", describe(ans))
		}
		if ans, err = n.try(n.str(sid), 10*time.Second); err != nil {
			return err
		}
		if rc := resultOf(ans); rc != 2001 {
			return fmt.Errorf("STR: %s", describe(ans))
		}
		return nil
	}
	b.ReportAllocs()
	rt.n.Store(0)
	start := time.Now()
	if nases == 1 {
		for b.Loop() {
			if err := session(ns[0]); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism((nases + 1) / 2) // GOMAXPROCS is 2 here
		b.RunParallel(func(pb *testing.PB) {
			n := ns[int(next.Add(1)-1)%nases]
			for pb.Next() {
				if err := session(n); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(rt.n.Load())/float64(2*b.N), "rt/req")
}
