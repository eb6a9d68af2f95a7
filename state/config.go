package state

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Backends.
const (
	BackendEmbedded = "embedded"
	BackendRedis    = "redis"
)

// Defaults of the redis settings.
const (
	DefaultKeyPrefix = "dra:"
	DefaultTimeout   = 200 * time.Millisecond
)

// Config selects and configures the store (the state section of the
// agent's configuration).
type Config struct {
	// Backend is embedded (in process, the default) or redis.
	Backend string      `mapstructure:"backend"`
	Redis   RedisConfig `mapstructure:"redis"`
}

// RedisConfig is how to reach Redis. One address is a standalone server;
// with MasterName the addresses are Sentinels; several addresses without
// MasterName are Cluster nodes.
type RedisConfig struct {
	Addrs      []string `mapstructure:"addrs"`
	MasterName string   `mapstructure:"master_name"`
	Username   string   `mapstructure:"username"`
	Password   string   `mapstructure:"password"`
	// DB is the database number (standalone and Sentinel only).
	DB  int      `mapstructure:"db"`
	TLS RedisTLS `mapstructure:"tls"`
	// KeyPrefix starts every key the agent writes.
	KeyPrefix string `mapstructure:"key_prefix"`
	// Timeout bounds each operation, connecting included; past it the
	// operation fails with ErrUnavailable.
	Timeout time.Duration `mapstructure:"timeout"`
}

// RedisTLS turns TLS on when any file is set. CAFile holds the CAs the
// server certificate must chain to (default: the system's); CertFile and
// KeyFile are the client certificate, for servers that require one.
type RedisTLS struct {
	CAFile   string `mapstructure:"ca_file"`
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t RedisTLS) Enabled() bool { return t != RedisTLS{} }

// Config builds the client TLS configuration; nil when TLS is off.
func (t RedisTLS) Config() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", t.CAFile)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("cert_file and key_file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file, key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Cluster reports whether the addresses are Redis Cluster nodes.
func (r RedisConfig) Cluster() bool { return len(r.Addrs) > 1 && r.MasterName == "" }

// FieldError is one invalid setting, named by its key in the
// configuration file.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks the settings and returns every problem, each a
// *FieldError naming its key (state.redis.addrs[1], ...), joined. The
// redis settings are checked only when the backend is redis.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch c.Backend {
	case BackendEmbedded:
		return nil
	case BackendRedis:
	default:
		bad("state.backend", "%q is not one of embedded, redis", c.Backend)
		return errors.Join(errs...)
	}
	r := c.Redis
	if len(r.Addrs) == 0 {
		bad("state.redis.addrs", "required when state.backend is redis")
	}
	seen := map[string]int{}
	for i, a := range r.Addrs {
		f := fmt.Sprintf("state.redis.addrs[%d]", i)
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			bad(f, "%q is not host:port", a)
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			bad(f, "%q has an invalid port", a)
		}
		if host == "" {
			bad(f, "%q has no host", a)
		}
		if j, dup := seen[a]; dup {
			bad(f, "%q is also state.redis.addrs[%d]", a, j)
		}
		seen[a] = i
	}
	if r.DB < 0 {
		bad("state.redis.db", "%d is negative", r.DB)
	} else if r.DB != 0 && r.Cluster() {
		bad("state.redis.db", "Redis Cluster has only db 0 (several addrs without master_name mean Cluster)")
	}
	if r.Username != "" && r.Password == "" {
		bad("state.redis.password", "required with username")
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		bad("state.redis.key_prefix", "%q must not hold { or } (they make Cluster hash tags)", r.KeyPrefix)
	}
	if r.Timeout <= 0 {
		bad("state.redis.timeout", "must be positive")
	}
	if _, err := r.TLS.Config(); err != nil {
		bad("state.redis.tls", "%v", err)
	}
	return errors.Join(errs...)
}
