package state

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dra-project/dra/internal/redistest"
)

// TestRedisCluster: with several addresses the store speaks Redis Cluster:
// the contract holds on a 3-node cluster, one id's keys share a slot while
// ids spread over the slots, and a node that dies makes the operations on
// its slots fail as unavailable within the timeout until it is back.
func TestRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, redistest.Options{})
	cluster := func(prefix string) func(*RedisConfig) {
		return func(c *RedisConfig) { c.Addrs, c.KeyPrefix = cl.Addrs(), prefix }
	}
	t.Run("Contract", func(t *testing.T) {
		runContract(t, func(t *testing.T) (Store, Store) {
			p := uniquePrefix(t)
			return openRedis(t, cl.Nodes[0], cluster(p)), openRedis(t, cl.Nodes[0], cluster(p))
		})
	})

	s := openRedis(t, cl.Nodes[0], cluster("dra:"))
	cc, ok := s.c.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("client for %d addresses is %T, want a cluster client", len(cl.Addrs()), s.c)
	}
	ctx := context.Background()

	t.Run("HashTags", func(t *testing.T) {
		slots := map[int64]bool{}
		for i := range 64 {
			id := "dra1.example.net;1;" + strconv.Itoa(i)
			if i%2 == 1 {
				id = "}" + id + "{%" // escaped: the tag stays the whole id, not ""
			}
			bs, err := cc.ClusterKeySlot(ctx, redisKey("dra:", kindBinding, id)).Result()
			if err != nil {
				t.Fatal(err)
			}
			us, err := cc.ClusterKeySlot(ctx, redisKey("other:", kindBucket, id)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if bs != us {
				t.Fatalf("%q: binding in slot %d, bucket in slot %d", id, bs, us)
			}
			slots[bs] = true
		}
		if len(slots) < 32 {
			t.Fatalf("64 ids in %d slots: the hash tag does not spread them", len(slots))
		}
	})

	t.Run("NodeDown", func(t *testing.T) {
		const timeout = 200 * time.Millisecond
		s := openRedis(t, cl.Nodes[0], func(c *RedisConfig) { cluster("dra:")(c); c.Timeout = timeout })
		victim := cl.Nodes[1]
		// An id whose keys live on the victim.
		var id string
		for i := 0; id == ""; i++ {
			cand := "s;" + strconv.Itoa(i)
			m, err := s.c.(*redis.ClusterClient).MasterForKey(ctx, redisKey("dra:", kindBinding, cand))
			if err != nil {
				t.Fatal(err)
			}
			if m.Options().Addr == victim.Addr {
				id = cand
			}
		}
		if _, _, err := s.Bindings().Bind(ctx, id, "p", time.Hour); err != nil {
			t.Fatal(err)
		}
		victim.Kill()
		for _, op := range []struct {
			name string
			call func() error
		}{
			{"get", func() error { _, _, err := s.Bindings().Get(ctx, id); return err }},
			{"bind", func() error { _, _, err := s.Bindings().Bind(ctx, id, "p", time.Hour); return err }},
			{"take", func() error { _, _, err := s.Buckets().Take(ctx, id, 1, 1, 1); return err }},
		} {
			start := time.Now()
			err := op.call()
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("%s on a dead node's slot: %v, want ErrUnavailable", op.name, err)
			}
			if took := time.Since(start); took > timeout+300*time.Millisecond {
				t.Errorf("%s failed after %s, timeout %s", op.name, took, timeout)
			}
		}
		// Back without its data (no persistence here): the slots serve
		// again, to the same client.
		victim.Restart()
		waitFor(t, 15*time.Second, func() bool {
			_, _, err := s.Bindings().Bind(ctx, id, "p2", time.Hour)
			return err == nil
		})
		if peer, ok, err := s.Bindings().Get(ctx, id); err != nil || !ok || peer != "p2" {
			t.Fatalf("after the node came back: %q %v %v", peer, ok, err)
		}
	})
}
