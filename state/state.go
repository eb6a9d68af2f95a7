package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrUnavailable is wrapped by every error that means the store could not
// be reached in time (Redis down, failing over, paused, or slower than the
// configured timeout). A request that needs the state is then answered
// DIAMETER_TOO_BUSY (3004) or DIAMETER_UNABLE_TO_COMPLY (5012); one that
// does not can go on without it.
var ErrUnavailable = errors.New("state: store unavailable")

// ErrInvalidArgument is wrapped by errors for arguments no store accepts
// (an empty key, a TTL or rate that is not positive, n above the burst).
var ErrInvalidArgument = errors.New("state: invalid argument")

// Store is one backend: the bindings and buckets it keeps, its health, and
// its resources.
type Store interface {
	// Bindings are the session bindings.
	Bindings() Bindings
	// Buckets are the rate-limit token buckets.
	Buckets() Buckets
	// Ping checks that the store answers; it returns nil for the embedded
	// store and wraps ErrUnavailable when Redis does not answer in time.
	Ping(ctx context.Context) error
	// Backend names the store: "embedded" or "redis".
	Backend() string
	// Close releases the store's connections.
	Close() error
}

// Bindings map a Session-Id to the egress peer identity its requests are
// sent to, for a TTL, so that every agent sends a session's requests to
// the same server. Keys and peers are opaque strings.
type Bindings interface {
	// Get returns the peer session is bound to; ok is false when there is
	// no binding (never made, deleted or expired).
	Get(ctx context.Context, session string) (peer string, ok bool, err error)
	// Bind binds session to peer for ttl unless it is already bound. It
	// returns the binding in force, peer or the one that was there, and
	// whether this call made it.
	Bind(ctx context.Context, session, peer string, ttl time.Duration) (bound string, created bool, err error)
	// Refresh sets the TTL of session's binding to ttl from now; ok is
	// false when there is no binding to refresh.
	Refresh(ctx context.Context, session string, ttl time.Duration) (ok bool, err error)
	// Delete removes session's binding; deleting none is not an error.
	Delete(ctx context.Context, session string) error
}

// Buckets are token buckets shared by every user of the store: on Redis,
// a limit is a cluster-wide limit.
type Buckets interface {
	// Take takes n tokens from key's bucket, which holds at most burst
	// tokens, refills at rate tokens per second and starts full. When the
	// bucket holds fewer than n tokens nothing is taken and retryAfter is
	// how long until it holds n. rate must be positive and 1 <= n <= burst.
	Take(ctx context.Context, key string, rate float64, burst, n int) (allowed bool, retryAfter time.Duration, err error)
}

// checkTake validates Take's arguments.
func checkTake(key string, rate float64, burst, n int) error {
	switch {
	case key == "":
		return fmt.Errorf("state: take: empty key: %w", ErrInvalidArgument)
	case !(rate > 0) || rate > 1e12:
		return fmt.Errorf("state: take: rate must be positive: %w", ErrInvalidArgument)
	case burst < 1:
		return fmt.Errorf("state: take: burst must be at least 1: %w", ErrInvalidArgument)
	case n < 1 || n > burst:
		return fmt.Errorf("state: take: n must be between 1 and burst: %w", ErrInvalidArgument)
	}
	return nil
}

// checkBind validates a binding's session, peer and TTL.
func checkBind(session, peer string, ttl time.Duration) error {
	switch {
	case session == "":
		return fmt.Errorf("state: bind: empty session: %w", ErrInvalidArgument)
	case peer == "":
		return fmt.Errorf("state: bind: empty peer: %w", ErrInvalidArgument)
	case ttl < time.Millisecond:
		return fmt.Errorf("state: bind: ttl below 1ms: %w", ErrInvalidArgument)
	}
	return nil
}
