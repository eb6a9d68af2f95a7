package state

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dra-project/dra/internal/redistest"
)

// TestRedisSentinel: with master_name the addresses are Sentinels: the
// store finds the master through them, and when the master dies and the
// Sentinel promotes its replica, operations fail as unavailable meanwhile
// and then succeed on the new master, with nothing done by the agent.
func TestRedisSentinel(t *testing.T) {
	master := redistest.Start(t, redistest.Options{})
	replica := redistest.StartReplica(t, master, redistest.Options{})
	sentinel := redistest.StartSentinel(t, "dra-master", master)
	const timeout = 200 * time.Millisecond
	s := openRedis(t, sentinel, func(c *RedisConfig) {
		c.MasterName, c.Timeout = "dra-master", timeout
	})
	ctx := context.Background()
	if _, created, err := s.Bindings().Bind(ctx, "sentinel;1", "hss1", time.Hour); err != nil || !created {
		t.Fatalf("bind through the Sentinel: %v %v", created, err)
	}
	if ok, _, err := s.Buckets().Take(ctx, "sentinel", 1, 1, 1); err != nil || !ok {
		t.Fatalf("take through the Sentinel: %v %v", ok, err)
	}

	master.Kill()
	start := time.Now()
	if _, _, err := s.Bindings().Get(ctx, "sentinel;1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("get with the master dead: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > timeout+300*time.Millisecond {
		t.Errorf("failed after %s, timeout %s", took, timeout)
	}
	// The Sentinel notices after 1s and promotes the replica.
	waitFor(t, 30*time.Second, func() bool {
		_, _, err := s.Bindings().Bind(ctx, "sentinel;2", "hss2", time.Hour)
		return err == nil
	})
	if peer, ok, err := s.Bindings().Get(ctx, "sentinel;2"); err != nil || !ok || peer != "hss2" {
		t.Fatalf("after failover: %q %v %v", peer, ok, err)
	}
	// Written on the promoted replica, the only server left.
	c := redis.NewClient(&redis.Options{Addr: replica.Addr})
	defer c.Close()
	if got, err := c.Get(ctx, redisKey("dra:", kindBinding, "sentinel;2")).Result(); err != nil || got != "hss2" {
		t.Fatalf("binding on the promoted replica: %q %v", got, err)
	}
}
