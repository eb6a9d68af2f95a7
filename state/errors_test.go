package state

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/redistest"
)

// replyError is an error reply of a Redis server.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// TestUnavailableClassification: what the server cannot do now (down,
// slow, loading, failing over) is ErrUnavailable; what it refuses (a
// wrong type, a script error) is not, and neither is a caller giving up.
func TestUnavailableClassification(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"refused", context.Background(), &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"eof", context.Background(), io.EOF, true},
		{"deadline", context.Background(), context.DeadlineExceeded, true},
		{"loading", context.Background(), replyError("LOADING Redis is loading the dataset in memory"), true},
		{"readonly replica", context.Background(), replyError("READONLY You can't write against a read only replica."), true},
		{"cluster down", context.Background(), replyError("CLUSTERDOWN The cluster is down"), true},
		{"master down", context.Background(), replyError("MASTERDOWN Link with MASTER is down"), true},
		{"busy script", context.Background(), replyError("BUSY Redis is busy running a script."), true},
		{"try again", context.Background(), replyError("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{"wrong type", context.Background(), replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"script error", context.Background(), replyError("ERR user_script:1: Script attempted to access nonexistent global variable"), false},
		{"auth", context.Background(), replyError("WRONGPASS invalid username-password pair or user is disabled."), false},
		{"caller canceled", canceled, context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unavailable(tc.ctx, tc.err); got != tc.want {
				t.Fatalf("unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestRedisRefusalIsNotUnavailable: a key of another type under the
// store's prefix is an error, not a hang, and not ErrUnavailable.
func TestRedisRefusalIsNotUnavailable(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := openRedis(t, srv, nil)
	ctx := context.Background()
	if err := s.c.LPush(ctx, redisKey("dra:", kindBucket, "k"), "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.c.LPush(ctx, redisKey("dra:", kindBinding, "s"), "x").Err(); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Buckets().Take(ctx, "k", 1, 1, 1)
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("take on a list: %v, want an error that is not ErrUnavailable", err)
	}
	_, _, err = s.Bindings().Get(ctx, "s")
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("get on a list: %v, want an error that is not ErrUnavailable", err)
	}
	if _, _, err := s.Bindings().Bind(ctx, "s2", "p", time.Minute); err != nil {
		t.Fatalf("the store serves other keys: %v", err)
	}
}
