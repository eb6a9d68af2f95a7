package cdf

import (
	"errors"
	"fmt"
	"time"
)

// AppID is the Diameter base accounting application (RFC 6733 §2.4).
const AppID uint32 = 3

// sessionGrace is added to twice the interim interval to form the default
// session timeout.
const sessionGrace = 30 * time.Second

// defaultIdleTimeout is the session timeout when neither SessionTimeout nor
// InterimInterval is set.
const defaultIdleTimeout = time.Hour

// Config configures the CDF.
type Config struct {
	// DataDir holds the CDR journal files. Created if missing.
	DataDir string `mapstructure:"data_dir"`
	// Stateful enables the RFC 6733 §9 accounting session state machine
	// per Session-Id (ordering, duplicate detection, timeout); stateless
	// mode writes every well-formed record.
	Stateful bool `mapstructure:"stateful"`
	// InterimInterval is sent as Acct-Interim-Interval (whole seconds) in
	// answers to START and INTERIM records; 0 sends none.
	InterimInterval time.Duration `mapstructure:"interim_interval"`
	// SessionTimeout releases a stateful session that received no record
	// for this long; 0 means 2 × InterimInterval + 30 s, or 1 h when
	// InterimInterval is 0.
	SessionTimeout time.Duration `mapstructure:"session_timeout"`
	// RotateBytes starts a new journal file once the current one reaches
	// this size; 0 disables size rotation.
	RotateBytes int64 `mapstructure:"rotate_bytes"`
	// RotateAge starts a new journal file once the current, non-empty one
	// is this old; 0 disables age rotation.
	RotateAge time.Duration `mapstructure:"rotate_age"`
	// ClaimTimeout applies with state.backend redis: a record claimed by
	// an agent and not marked written for this long may be written by
	// another agent that receives its retransmission (the claimer is taken
	// as gone); 0 means 10 s.
	ClaimTimeout time.Duration `mapstructure:"claim_timeout"`
}

// defaultClaimTimeout is ClaimTimeout's default.
const defaultClaimTimeout = 10 * time.Second

// claimTimeout is the effective claim timeout.
func (c Config) claimTimeout() time.Duration {
	if c.ClaimTimeout > 0 {
		return c.ClaimTimeout
	}
	return defaultClaimTimeout
}

// DefaultConfig returns lab-mode defaults: journal in ./data/cdf, stateful,
// 60 s interim interval (so a 150 s session timeout), 64 MiB or 1 h files.
func DefaultConfig() Config {
	return Config{
		DataDir:         "data/cdf",
		Stateful:        true,
		InterimInterval: 60 * time.Second,
		RotateBytes:     64 << 20,
		RotateAge:       time.Hour,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("cdf.data_dir: must be set"))
	}
	if c.InterimInterval < 0 {
		errs = append(errs, errors.New("cdf.interim_interval: must not be negative"))
	} else if c.InterimInterval%time.Second != 0 {
		errs = append(errs, errors.New("cdf.interim_interval: must be whole seconds"))
	} else if c.InterimInterval > time.Duration(1<<32-1)*time.Second {
		errs = append(errs, errors.New("cdf.interim_interval: too large"))
	}
	if c.SessionTimeout < 0 {
		errs = append(errs, errors.New("cdf.session_timeout: must not be negative"))
	}
	if c.RotateBytes < 0 {
		errs = append(errs, errors.New("cdf.rotate_bytes: must not be negative"))
	}
	if c.ClaimTimeout < 0 {
		errs = append(errs, errors.New("cdf.claim_timeout: must not be negative"))
	}
	if c.RotateAge < 0 {
		errs = append(errs, errors.New("cdf.rotate_age: must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("cdf: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// sessionTimeout is the effective session timeout.
func (c Config) sessionTimeout() time.Duration {
	switch {
	case c.SessionTimeout > 0:
		return c.SessionTimeout
	case c.InterimInterval > 0:
		return 2*c.InterimInterval + sessionGrace
	}
	return defaultIdleTimeout
}
