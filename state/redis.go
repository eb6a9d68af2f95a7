package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis is the store on Redis (standalone, Sentinel or Cluster): every
// agent configured with the same Redis and key prefix shares it.
type Redis struct {
	c       redis.UniversalClient
	prefix  string
	timeout time.Duration
	log     *slog.Logger
	down    atomic.Bool // the last operation found Redis unavailable
	unavail atomic.Uint64
}

var (
	_ Store    = (*Redis)(nil)
	_ Bindings = (*redisBindings)(nil)
	_ Buckets  = (*redisBuckets)(nil)
)

// NewRedis returns a store on the Redis that cfg names. It does not
// connect: the first operation does, and a Redis that is down then fails
// operations with ErrUnavailable until it is back.
func NewRedis(cfg RedisConfig, log *slog.Logger) (*Redis, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tc, err := cfg.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("state: redis tls: %w", err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:      cfg.Addrs,
		MasterName: cfg.MasterName,
		Username:   cfg.Username,
		Password:   cfg.Password,
		DB:         cfg.DB,
		TLSConfig:  tc,
		// Every operation is bounded by the timeout, dialing included;
		// nothing is retried, since a script that ran but whose answer was
		// lost must not run twice (a token taken twice). A broken pooled
		// connection is noticed before use, so a restarted Redis is found
		// again by the next operation.
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           timeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	return &Redis{c: c, prefix: cfg.KeyPrefix, timeout: timeout, log: log.With("state", BackendRedis)}, nil
}

// Bindings returns the store's session bindings.
func (s *Redis) Bindings() Bindings { return (*redisBindings)(s) }

// Buckets returns the store's token buckets.
func (s *Redis) Buckets() Buckets { return (*redisBuckets)(s) }

// Backend returns "redis".
func (s *Redis) Backend() string { return BackendRedis }

// Close closes the connections.
func (s *Redis) Close() error { return s.c.Close() }

// Unavailable counts the operations (Ping excluded) that failed with
// ErrUnavailable since the store was made.
func (s *Redis) Unavailable() uint64 { return s.unavail.Load() }

// Ping sends PING.
func (s *Redis) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.result(ctx, "ping", s.c.Ping(ctx).Err())
}

// result classifies err (nil included) from operation op and logs the
// transitions between reachable and unavailable.
func (s *Redis) result(ctx context.Context, op string, err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		if s.down.CompareAndSwap(true, false) {
			s.log.Info("state: redis reachable again")
		}
		return nil
	}
	if !unavailable(ctx, err) {
		return fmt.Errorf("state: redis %s: %w", op, err)
	}
	if op != "ping" {
		s.unavail.Add(1)
	}
	if s.down.CompareAndSwap(false, true) {
		s.log.Warn("state: redis unavailable; operations on shared state fail until it is back", "op", op, "err", err)
	}
	return fmt.Errorf("%w: redis %s: %w", ErrUnavailable, op, err)
}

// unavailable reports whether err means Redis could not serve the
// operation in time, rather than refusing it: anything but an error reply,
// and the replies of a server that is loading, failing over or busy. A
// caller that gave up (ctx canceled) is not Redis's failure.
func unavailable(ctx context.Context, err error) bool {
	if errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return true
	}
	msg := re.Error()
	for _, p := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "BUSY", "NOREPLICAS"} {
		if strings.HasPrefix(msg, p+" ") || msg == p {
			return true
		}
	}
	return false
}

type redisBindings Redis

func (b *redisBindings) key(session string) string {
	return redisKey(b.prefix, kindBinding, session)
}

func (b *redisBindings) Get(ctx context.Context, session string) (string, bool, error) {
	if session == "" {
		return "", false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	peer, err := b.c.Get(ctx, b.key(session)).Result()
	if err := (*Redis)(b).result(ctx, "get binding", err); err != nil {
		return "", false, err
	}
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return peer, true, nil
}

func (b *redisBindings) Bind(ctx context.Context, session, peer string, ttl time.Duration) (string, bool, error) {
	if err := checkBind(session, peer, ttl); err != nil {
		return "", false, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	res, err := bindScript.Run(ctx, b.c, []string{b.key(session)}, peer, ttl.Milliseconds()).Slice()
	if err := (*Redis)(b).result(ctx, "bind", err); err != nil {
		return "", false, err
	}
	if len(res) == 2 {
		created, ok1 := res[0].(int64)
		bound, ok2 := res[1].(string)
		if ok1 && ok2 {
			return bound, created == 1, nil
		}
	}
	return "", false, fmt.Errorf("state: redis bind: unexpected reply %v", res)
}

func (b *redisBindings) Swap(ctx context.Context, session, old, peer string, ttl time.Duration) (string, bool, error) {
	if err := checkBind(session, peer, ttl); err != nil {
		return "", false, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	res, err := swapScript.Run(ctx, b.c, []string{b.key(session)}, old, peer, ttl.Milliseconds()).Slice()
	if err := (*Redis)(b).result(ctx, "swap binding", err); err != nil {
		return "", false, err
	}
	if len(res) == 2 {
		ok, ok1 := res[0].(int64)
		bound, ok2 := res[1].(string)
		if ok1 && ok2 {
			return bound, ok == 1, nil
		}
	}
	return "", false, fmt.Errorf("state: redis swap: unexpected reply %v", res)
}

func (b *redisBindings) Refresh(ctx context.Context, session string, ttl time.Duration) (bool, error) {
	if err := checkBind(session, "-", ttl); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	ok, err := b.c.PExpire(ctx, b.key(session), ttl).Result()
	if err := (*Redis)(b).result(ctx, "refresh binding", err); err != nil {
		return false, err
	}
	return ok, nil
}

func (b *redisBindings) Delete(ctx context.Context, session string) error {
	if session == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return (*Redis)(b).result(ctx, "delete binding", b.c.Del(ctx, b.key(session)).Err())
}

type redisBuckets Redis

func (b *redisBuckets) Take(ctx context.Context, key string, rate float64, burst, n int) (bool, time.Duration, error) {
	if err := checkTake(key, rate, burst, n); err != nil {
		return false, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	res, err := takeScript.Run(ctx, b.c, []string{redisKey(b.prefix, kindBucket, key)}, rate, burst, n).Int64Slice()
	if err := (*Redis)(b).result(ctx, "take", err); err != nil {
		return false, 0, err
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("state: redis take: unexpected reply %v", res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

// Client returns the go-redis client, for the applications that keep
// their own data in the same Redis (the OCS's credit store): they build
// keys with Key and pass errors through Err.
func (s *Redis) Client() redis.UniversalClient { return s.c }

// KeyPrefix returns the configured key prefix.
func (s *Redis) KeyPrefix() string { return s.prefix }

// Timeout returns the bound of one operation.
func (s *Redis) Timeout() time.Duration { return s.timeout }

// Err classifies err (nil included) from operation op as the store's own
// operations do: nil for nil and redis.Nil, an error wrapping
// ErrUnavailable when Redis could not serve the operation in time (the
// transition is logged once), any other error wrapped as it is.
func (s *Redis) Err(ctx context.Context, op string, err error) error { return s.result(ctx, op, err) }
