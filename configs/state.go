package configs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dra-project/dra/state"
)

// The state section (state.Config) selects where shared state lives:
// embedded in the agent (the default) or in Redis, shared by several
// agents. This file holds what the configuration adds to it: list
// clean-up, validation and redaction.

// normalizeState trims the Redis addresses, which an environment override
// gives as one comma-separated string ("a:6379, b:6379").
func (c *Config) normalizeState() {
	addrs := c.State.Redis.Addrs[:0:0]
	for _, a := range c.State.Redis.Addrs {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if c.State.Redis.Addrs != nil {
		c.State.Redis.Addrs = addrs
	}
}

// validateState adds the state section's problems, each naming its key
// (and the environment variable that set it, if one did) and wrapping
// ErrInvalid like the others.
func (v *validator) validateState(s state.Config) {
	err := s.Validate()
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *state.FieldError
		if !errors.As(e, &fe) {
			v.errs = append(v.errs, fmt.Errorf("%w: %w", ErrInvalid, e))
			continue
		}
		field := fe.Field
		if key, _, _ := strings.Cut(field, "["); v.set[field] == "" && v.set[key] != "" {
			field += " (" + v.set[key] + ")"
		}
		v.add(field, "%s", fe.Msg)
	}
}

// stateSecrets are the state section's secrets, Redacted in what the
// admin API shows.
func stateSecrets(s *state.Config) []*string { return []*string{&s.Redis.Password} }

// redactStateView replaces the secrets of a View's state section.
func redactStateView(m map[string]any) {
	st, _ := m["state"].(map[string]any)
	r, _ := st["redis"].(map[string]any)
	if s, _ := r["password"].(string); s != "" {
		r["password"] = Redacted
	}
}
