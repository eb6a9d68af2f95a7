package aaa

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// AppID is the Diameter NASREQ application (RFC 7155).
const AppID uint32 = 1

// Config configures the AAA server.
type Config struct {
	// DataDir holds the session write-ahead log. Created if missing.
	DataDir string `mapstructure:"data_dir"`
	// UsersFile is the users file (format in users.go). Empty is allowed
	// only in lab mode, which then serves the single user demo/demo.
	UsersFile string `mapstructure:"users_file"`
	// Lab enables the demo user demo/demo when UsersFile is empty: for a
	// lab only. Default false; the agent warns at start when it is on.
	Lab bool `mapstructure:"lab"`
	// Pool is the IPv4 prefix Framed-IP-Address values are allocated from;
	// its network and broadcast addresses are never handed out (except in
	// a /31 or /32).
	Pool string `mapstructure:"pool"`
	// SessionTimeout is the longest a session may last (Session-Timeout);
	// 0 means unlimited.
	SessionTimeout time.Duration `mapstructure:"session_timeout"`
	// AuthorizationLifetime is how long an authorization lasts before the
	// NAS must re-authorize (Authorization-Lifetime); 0 means unlimited.
	AuthorizationLifetime time.Duration `mapstructure:"authorization_lifetime"`
	// AuthGracePeriod is added to AuthorizationLifetime before a session
	// that was not re-authorized expires (Auth-Grace-Period).
	AuthGracePeriod time.Duration `mapstructure:"auth_grace_period"`
	// FramedMTU is sent as Framed-MTU when non-zero.
	FramedMTU uint32 `mapstructure:"framed_mtu"`
	// ExpiryInterval is how often expired sessions are looked for.
	ExpiryInterval time.Duration `mapstructure:"expiry_interval"`
	// AnswerTimeout bounds how long Abort and ReAuth wait for the NAS.
	AnswerTimeout time.Duration `mapstructure:"answer_timeout"`
}

// DefaultConfig returns the defaults: state in ./data/aaa, lab mode off
// (UsersFile must then be set), pool 10.45.0.0/16, sessions of at most
// 24 h re-authorized every hour with a 5 min grace period, no Framed-MTU,
// expiry checked every second, 10 s to wait for ASA/RAA.
func DefaultConfig() Config {
	return Config{
		DataDir:               "data/aaa",
		Pool:                  "10.45.0.0/16",
		SessionTimeout:        24 * time.Hour,
		AuthorizationLifetime: time.Hour,
		AuthGracePeriod:       5 * time.Minute,
		ExpiryInterval:        time.Second,
		AnswerTimeout:         10 * time.Second,
	}
}

// maxSeconds is the largest duration an Unsigned32 seconds AVP carries.
const maxSeconds = time.Duration(1<<32-1) * time.Second

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	add := func(field, msg string) { errs = append(errs, fmt.Errorf("aaa.%s: %s", field, msg)) }
	if c.DataDir == "" {
		add("data_dir", "must be set")
	}
	if c.UsersFile == "" && !c.Lab {
		add("users_file", "must be set unless lab is true")
	}
	if _, err := parsePool(c.Pool); err != nil {
		add("pool", err.Error())
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"session_timeout", c.SessionTimeout},
		{"authorization_lifetime", c.AuthorizationLifetime},
		{"auth_grace_period", c.AuthGracePeriod},
	} {
		switch {
		case d.v < 0:
			add(d.field, "must not be negative")
		case d.v%time.Second != 0:
			add(d.field, "must be whole seconds")
		case d.v > maxSeconds:
			add(d.field, "too large")
		}
	}
	if c.ExpiryInterval <= 0 {
		add("expiry_interval", "must be positive")
	}
	if c.AnswerTimeout <= 0 {
		add("answer_timeout", "must be positive")
	}
	if len(errs) > 0 {
		return fmt.Errorf("aaa: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// parsePool parses an IPv4 prefix with at least one usable address.
func parsePool(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a prefix: %w", err)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, errors.New("must be an IPv4 prefix")
	}
	return p.Masked(), nil
}
