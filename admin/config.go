package admin

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Config configures the admin API.
type Config struct {
	// Addr is the host:port to listen on, e.g. 127.0.0.1:9868; "" disables
	// the API.
	Addr string `mapstructure:"address"`
	// Token is the bearer token the mutating endpoints require
	// (Authorization: Bearer <token>). When empty they are refused with 403:
	// the API is never open by default.
	Token string `mapstructure:"token"`
}

// FieldError is a problem with one configuration field.
type FieldError struct {
	Field string // "admin.address" or "admin.token"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks the configuration: the address must be host:port, and a
// non-loopback address (including an empty host, which means every
// interface) requires a token. Every problem is a *FieldError; several are
// joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for i := 0; i < len(c.Token); i++ {
		if ch := c.Token[i]; ch <= ' ' || ch >= 0x7f {
			bad("admin.token", "must be printable ASCII without spaces (it is sent in an HTTP header)")
			break
		}
	}
	if c.Addr == "" {
		return errors.Join(errs...)
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		bad("admin.address", "%q is not host:port: %v", c.Addr, err)
		return errors.Join(errs...)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("admin.address", "%q has an invalid port", c.Addr)
	}
	if c.Token == "" && !loopback(host) {
		bad("admin.token", "required when admin.address %q is not a loopback address", c.Addr)
	}
	return errors.Join(errs...)
}

// loopback reports whether host names only the local machine: "localhost"
// or a loopback IP. An empty host listens on every interface.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
