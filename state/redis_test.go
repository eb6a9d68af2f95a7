package state

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/redistest"
)

// openRedis returns a store on srv with its own key prefix, closed at the
// end of t.
func openRedis(t testing.TB, srv *redistest.Server, mod func(*RedisConfig)) *Redis {
	t.Helper()
	// A generous timeout: the tests of timeouts set their own, and a
	// Cluster client's first operation also loads the slot map.
	cfg := RedisConfig{Addrs: []string{srv.Addr}, KeyPrefix: "dra:", Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewRedis(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRedisContract runs the store contract against two clients of one
// real redis-server, as two agents would share it.
func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	runContract(t, func(t *testing.T) (Store, Store) {
		prefix := uniquePrefix(t)
		mod := func(c *RedisConfig) { c.KeyPrefix = prefix }
		return openRedis(t, srv, mod), openRedis(t, srv, mod)
	})
}

// redisOps are every operation of the store, for the failure tests.
var redisOps = []struct {
	name string
	call func(ctx context.Context, s Store) error
}{
	{"ping", func(ctx context.Context, s Store) error { return s.Ping(ctx) }},
	{"get", func(ctx context.Context, s Store) error { _, _, err := s.Bindings().Get(ctx, "s1"); return err }},
	{"bind", func(ctx context.Context, s Store) error {
		_, _, err := s.Bindings().Bind(ctx, "s2", "p", time.Minute)
		return err
	}},
	{"refresh", func(ctx context.Context, s Store) error {
		_, err := s.Bindings().Refresh(ctx, "s1", time.Minute)
		return err
	}},
	{"delete", func(ctx context.Context, s Store) error { return s.Bindings().Delete(ctx, "s3") }},
	{"take", func(ctx context.Context, s Store) error {
		_, _, err := s.Buckets().Take(ctx, "k", 1, 10, 1)
		return err
	}},
}

// TestRedisUnavailable: with Redis killed or paused every operation fails
// with ErrUnavailable within the configured timeout (no hang), and once
// Redis is back the same store serves again by itself.
func TestRedisUnavailable(t *testing.T) {
	const timeout = 200 * time.Millisecond
	const slack = 300 * time.Millisecond // scheduling on a loaded machine
	for _, tc := range []struct {
		name        string
		fail, heal  func(*redistest.Server)
		wantTimeout bool
	}{
		{"killed", (*redistest.Server).Kill, (*redistest.Server).Restart, false},
		{"paused", (*redistest.Server).Pause, (*redistest.Server).Resume, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{})
			s := openRedis(t, srv, func(c *RedisConfig) { c.Timeout = timeout })
			logs := &recordLog{}
			s.log = slog.New(logs)
			ctx := context.Background()
			// Connections in the pool before the failure (a first try may
			// miss the 200ms on a loaded machine).
			for _, op := range redisOps {
				waitFor(t, 5*time.Second, func() bool { return op.call(ctx, s) == nil })
			}
			logs.reset()
			tc.fail(srv)
			for _, op := range redisOps {
				start := time.Now()
				err := op.call(ctx, s)
				took := time.Since(start)
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: err %v, want ErrUnavailable", op.name, err)
				}
				if took > timeout+slack {
					t.Errorf("%s: failed after %s, timeout %s", op.name, took, timeout)
				}
			}
			if h := Check(ctx, s); h.Up || h.Err == nil || h.Backend != BackendRedis {
				t.Errorf("health while down: %+v", h)
			}
			tc.heal(srv)
			for _, op := range redisOps {
				waitFor(t, 10*time.Second, func() bool { return op.call(ctx, s) == nil })
			}
			if h := Check(ctx, s); !h.Up || h.Err != nil {
				t.Errorf("health after recovery: %+v", h)
			}
			// One line when Redis is lost, one when it is back.
			if got := logs.messages(); len(got) != 2 || got[0] != "WARN state: redis unavailable; operations on shared state fail until it is back" ||
				got[1] != "INFO state: redis reachable again" {
				t.Errorf("logged %q, want one warning and one recovery", got)
			}
		})
	}
}

// TestRedisCallerCanceled: a caller that gives up is not told that Redis
// is unavailable.
func TestRedisCallerCanceled(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := openRedis(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.Bindings().Get(ctx, "s")
	if err == nil || errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled and not ErrUnavailable", err)
	}
}

// TestRedisAOFSurvivesKill: with the append-only file on, SIGKILL and a
// restart keep every acknowledged binding and every token taken.
func TestRedisAOFSurvivesKill(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true})
	s := openRedis(t, srv, nil)
	ctx := context.Background()
	const sessions, burst = 50, 10
	for i := range sessions {
		if _, created, err := s.Bindings().Bind(ctx, session(i), "hss1", time.Hour); err != nil || !created {
			t.Fatalf("bind %d: %v %v", i, created, err)
		}
	}
	for range burst {
		if ok, _, err := s.Buckets().Take(ctx, "aof", 1e-6, burst, 1); err != nil || !ok {
			t.Fatalf("take: %v %v", ok, err)
		}
	}
	srv.Kill()
	srv.Restart()
	waitFor(t, 10*time.Second, func() bool { return s.Ping(ctx) == nil })
	for i := range sessions {
		if peer, ok, err := s.Bindings().Get(ctx, session(i)); err != nil || !ok || peer != "hss1" {
			t.Fatalf("binding %d after restart: %q %v %v", i, peer, ok, err)
		}
	}
	if ok, _, err := s.Buckets().Take(ctx, "aof", 1e-6, burst, 1); err != nil || ok {
		t.Fatalf("emptied bucket after restart: allowed %v err %v (tokens created by the restart)", ok, err)
	}
}

// TestRedisAuth: a password, an ACL user and a database number are used;
// a wrong password is an error, not a hang, and not ErrUnavailable.
func TestRedisAuth(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Password: "s3cret", Users: map[string]string{"dra": "dra-pw"}})
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		mod     func(*RedisConfig)
		wantErr bool
	}{
		{"password", func(c *RedisConfig) { c.Password = "s3cret" }, false},
		{"acl user, db 3", func(c *RedisConfig) { c.Username, c.Password, c.DB = "dra", "dra-pw", 3 }, false},
		{"wrong password", func(c *RedisConfig) { c.Password = "wrong" }, true},
		{"no password", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openRedis(t, srv, tc.mod)
			_, _, err := s.Bindings().Bind(ctx, "auth", "p", time.Minute)
			if (err != nil) != tc.wantErr {
				t.Fatalf("bind: err %v, want error %v", err, tc.wantErr)
			}
		})
	}
	// The database number separates keys.
	db0 := openRedis(t, srv, func(c *RedisConfig) { c.Password = "s3cret" })
	db3 := openRedis(t, srv, func(c *RedisConfig) { c.Username, c.Password, c.DB = "dra", "dra-pw", 3 })
	if _, _, err := db3.Bindings().Bind(ctx, "db", "p3", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db0.Bindings().Get(ctx, "db"); err != nil || ok {
		t.Fatalf("db 0 sees db 3's binding: %v %v", ok, err)
	}
}

// TestRedisKeyPrefix: stores with different prefixes share nothing, and
// keys are written under the prefix with the id as Cluster hash tag.
func TestRedisKeyPrefix(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	a := openRedis(t, srv, func(c *RedisConfig) { c.KeyPrefix = "site-a:" })
	b := openRedis(t, srv, func(c *RedisConfig) { c.KeyPrefix = "site-b:" })
	if _, _, err := a.Bindings().Bind(ctx, "x;1", "pa", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.Bindings().Get(ctx, "x;1"); err != nil || ok {
		t.Fatalf("other prefix sees the binding: %v %v", ok, err)
	}
	if _, _, err := a.Buckets().Take(ctx, "sub{1}", 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	keys, err := a.c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"site-a:bind:{x;1}": true, "site-a:bucket:{sub%7B1%7D}": true}
	if len(keys) != len(want) {
		t.Fatalf("keys %q, want %v", keys, want)
	}
	for _, k := range keys {
		if !want[k] {
			t.Fatalf("key %q, want one of %v", k, want)
		}
	}
}

// recordLog keeps the level and message of each record.
type recordLog struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordLog) WithGroup(string) slog.Handler      { return h }

func (h *recordLog) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = nil
}

func (h *recordLog) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs)
}
