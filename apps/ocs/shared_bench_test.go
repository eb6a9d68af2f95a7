package ocs

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/avp"
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

// BenchmarkCCRSession runs credit-control sessions (CCR-I, CCR-U, CCR-T)
// through an OCS over TCP, on the embedded store and on Redis (a local
// redis-server with AOF, appendfsync always, like the embedded store's
// fsync per group commit), by 1 client and by 8 clients in parallel (one
// subscriber each); redis-everysec is Redis with appendfsync everysec (a
// crash of the Redis host may lose the last second). One op is one session, three CCRs; ccr/s counts the
// answers, rt/ccr the Redis round trips per CCR, rt/ccr-u those of the
// CCR-Us alone (1 client only).
func BenchmarkCCRSession(b *testing.B) {
	for _, backend := range []string{"embedded", "redis", "redis-everysec"} {
		for _, clients := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/clients=%d", backend, clients), func(b *testing.B) {
				benchSessions(b, backend, clients)
			})
		}
	}
}

func benchSessions(b *testing.B, backend string, clients int) {
	cfg := DefaultConfig()
	cfg.LabMode = true
	cfg.DataDir = b.TempDir()
	cfg.StartingBalance.Octets = 1 << 60
	log := quietLogger(testWriter{b})
	rt := &roundTrips{}
	newOCS := func(orig Originator) (*Server, error) {
		return New(cfg, Identity{OriginHost: agentHost, OriginRealm: agentRealm}, orig, log)
	}
	if backend != "embedded" {
		opts := redistest.Options{AOF: true}
		if backend == "redis-everysec" {
			opts.Args = []string{"--appendfsync", "everysec"}
		}
		srv := redistest.Start(b, opts)
		r, err := state.NewRedis(state.RedisConfig{Addrs: []string{srv.Addr}, KeyPrefix: "b:", Timeout: time.Second}, log)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		r.Client().AddHook(rt)
		newOCS = func(orig Originator) (*Server, error) {
			return NewShared(cfg, Identity{OriginHost: agentHost, OriginRealm: agentRealm}, orig, r, log)
		}
	}
	st, err := startAgentWith(newOCS, log, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.stop)
	cs := make([]*client, clients)
	for i := range cs {
		if cs[i], err = dialClient(st.addr, fmt.Sprintf("pgw%d.client.test", i)); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cs[i].conn.Close() })
	}
	var next, seq, uTrips atomic.Int64
	session := func(c *client, sub string) error {
		sid := fmt.Sprintf("pgw;bench;%d", seq.Add(1))
		send := func(typ, num uint32, used uint64) error {
			m := ccrU(sid, typ, num, used, typ != requestTermination)
			if typ == requestInitial {
				m = ccrMsg(sid, requestInitial, 0, subAVP(0, sub), octets(avp.RequestedServiceUnit, 100_000))
			}
			before := rt.n.Load()
			a, err := c.send(m, 10*time.Second)
			if err != nil {
				return err
			}
			if typ == requestUpdate {
				uTrips.Add(rt.n.Load() - before)
			}
			if code := resultCode(a); code != 2001 {
				return fmt.Errorf("CC-Request-Type %d: %d %s", typ, code, errorMessage(a))
			}
			return nil
		}
		if err := send(requestInitial, 0, 0); err != nil {
			return err
		}
		if err := send(requestUpdate, 1, 50_000); err != nil {
			return err
		}
		return send(requestTermination, 2, 20_000)
	}
	b.ReportAllocs()
	rt.n.Store(0)
	start := time.Now()
	if clients == 1 {
		for b.Loop() {
			if err := session(cs[0], "491500000000"); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism((clients + 1) / 2) // GOMAXPROCS is 2 here
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(1) - 1
			c, sub := cs[int(i)%clients], fmt.Sprintf("4915000000%02d", i)
			for pb.Next() {
				if err := session(c, sub); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(3*b.N)/elapsed.Seconds(), "ccr/s")
	b.ReportMetric(float64(rt.n.Load())/float64(3*b.N), "rt/ccr")
	if clients == 1 { // with more, others' round trips fall in between
		b.ReportMetric(float64(uTrips.Load())/float64(b.N), "rt/ccr-u")
	}
}
