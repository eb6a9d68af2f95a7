package state

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/test/fdtest"
)

// TestOpen: Open returns the configured backend; a Redis that is down at
// start still gives a store (whose operations fail as unavailable), and
// only an invalid configuration is an error.
func TestOpen(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	down := freeAddr(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		cfg         Config
		wantBackend string
		wantErr     bool
		wantUp      bool
	}{
		{"embedded", Config{Backend: BackendEmbedded}, BackendEmbedded, false, true},
		{"redis", Config{Backend: BackendRedis, Redis: RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second}}, BackendRedis, false, true},
		{"redis down", Config{Backend: BackendRedis, Redis: RedisConfig{Addrs: []string{down}, Timeout: time.Second}}, BackendRedis, false, false},
		{"no addrs", Config{Backend: BackendRedis, Redis: RedisConfig{Timeout: time.Second}}, "", true, false},
		{"unknown backend", Config{Backend: "etcd"}, "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, tc.cfg, slog.New(slog.DiscardHandler))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close()
			if s.Backend() != tc.wantBackend {
				t.Fatalf("backend %q, want %q", s.Backend(), tc.wantBackend)
			}
			h := Check(ctx, s)
			if h.Up != tc.wantUp || (h.Err != nil) == tc.wantUp {
				t.Fatalf("health %+v, want up %v", h, tc.wantUp)
			}
			if !tc.wantUp && !errors.Is(h.Err, ErrUnavailable) {
				t.Fatalf("health error %v does not wrap ErrUnavailable", h.Err)
			}
		})
	}
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestRedisTLS: the store reaches a TLS-only Redis that requires client
// certificates with the configured CA and key pair; without the client
// certificate, or trusting another CA, it does not.
func TestRedisTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := fdtest.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := fdtest.GenerateLeaf(dir, ca, "redis.test")
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := fdtest.GenerateLeaf(dir, ca, "dra.test")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, _, _, err := fdtest.GenerateCerts(t.TempDir(), "other.test")
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t, redistest.Options{TLS: &redistest.TLS{
		CertFile: srvCert, KeyFile: srvKey, CAFile: ca.CertFile, RequireClientCert: true,
	}})
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tls    RedisTLS
		wantOK bool
	}{
		{"client certificate", RedisTLS{CAFile: ca.CertFile, CertFile: cliCert, KeyFile: cliKey}, true},
		{"no client certificate", RedisTLS{CAFile: ca.CertFile}, false},
		{"other CA", RedisTLS{CAFile: otherCA, CertFile: cliCert, KeyFile: cliKey}, false},
		{"plain TCP", RedisTLS{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openRedis(t, srv, func(c *RedisConfig) { c.TLS = tc.tls })
			_, _, err := s.Bindings().Bind(ctx, "tls", "p", time.Minute)
			if (err == nil) != tc.wantOK {
				t.Fatalf("bind: err %v, want success %v", err, tc.wantOK)
			}
		})
	}
}

// TestOpenRoutesGoRedisLog: go-redis's own lines (a failed dial) reach the
// agent's log at debug level, not stderr.
func TestOpenRoutesGoRedisLog(t *testing.T) {
	logs := &recordLog{}
	s, err := Open(context.Background(), Config{Backend: BackendRedis, Redis: RedisConfig{
		Addrs: []string{freeAddr(t)}, Timeout: time.Second,
	}}, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var dial bool
	for _, m := range logs.messages() {
		dial = dial || strings.HasPrefix(m, "DEBUG state: go-redis: redis: connection pool: failed to dial")
	}
	if !dial {
		t.Fatalf("logged %q, want go-redis's failed dial at debug", logs.messages())
	}
}
