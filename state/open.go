package state

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Open returns the store cfg configures. A Redis store is returned even
// when Redis cannot be reached yet (the agent relays without state
// meanwhile); ctx bounds the first PING, whose failure is logged. Only an
// invalid configuration is an error.
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
