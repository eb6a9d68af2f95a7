package state

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Open returns the store cfg configures. A Redis store is returned even
// when Redis cannot be reached yet (the agent relays without state
// meanwhile); ctx bounds the first PING, whose failure is logged. Only an
// invalid configuration is an error.
//
// For Redis, Open also sends go-redis's own log lines (one per failed
// dial, unstructured, on stderr by default) to log at debug level: the
// store logs one warning when Redis is lost and one line when it is back.
// go-redis has one logger per process, so the last Open's log gets them.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if cfg.Backend == BackendEmbedded {
		return NewEmbedded(EmbeddedOptions{}), nil
	}
	s, err := NewRedis(cfg.Redis, log)
	if err != nil {
		return nil, err
	}
	redis.SetLogger(redisLog{log.With("state", BackendRedis)})
	if err := s.Ping(ctx); err != nil {
		log.Warn("state: redis not reachable at start; shared state is unavailable until it is", "addrs", cfg.Redis.Addrs, "err", err)
	} else {
		log.Info("state: redis reachable", "addrs", cfg.Redis.Addrs, "mode", mode(cfg.Redis))
	}
	return s, nil
}

func mode(r RedisConfig) string {
	switch {
	case r.MasterName != "":
		return "sentinel"
	case r.Cluster():
		return "cluster"
	}
	return "standalone"
}

// Health is a store's state for /readyz and metrics.
type Health struct {
	Backend string
	// Up is false when the store did not answer a PING in time.
	Up bool
	// Latency is the PING's round trip.
	Latency time.Duration
	// Err is why the store is not up.
	Err error
}

// Check pings s and reports its health.
func Check(ctx context.Context, s Store) Health {
	start := time.Now()
	err := s.Ping(ctx)
	return Health{Backend: s.Backend(), Up: err == nil, Latency: time.Since(start), Err: err}
}

// redisLog passes go-redis's log lines to slog at debug level.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, args ...any) {
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.DebugContext(ctx, "state: go-redis: "+fmt.Sprintf(format, args...))
	}
}
