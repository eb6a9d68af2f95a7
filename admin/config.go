package admin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

// Config configures the admin API.
type Config struct {
	// Addr is the host:port to listen on, e.g. 127.0.0.1:9868; "" disables
	// the API.
	Addr string `mapstructure:"address"`
	// Token is the bearer token the mutating endpoints require
	// (Authorization: Bearer <token>). When empty they are refused with 403:
	// the API is never open by default. It grants reads too.
	Token string `mapstructure:"token"`
	// ReadToken is a bearer token that grants the read endpoints (GET
	// /v1/..., /metrics) and nothing else: the one to give a Prometheus
	// scraper or a dashboard.
	ReadToken string `mapstructure:"read_token"`
	// PublicReads serves the read endpoints without a token. Reads need
	// Token or ReadToken whenever either is set, unless PublicReads;
	// /healthz and /readyz are always open.
	PublicReads bool `mapstructure:"public_reads"`
	// TLS serves the API over HTTPS when CertFile and KeyFile are set;
	// ClientCAFile also requires client certificates signed by that CA.
	TLS TLSConfig `mapstructure:"tls"`
}

// TLSConfig is the admin API's server certificate and optional client CA.
type TLSConfig struct {
	CertFile     string `mapstructure:"cert_file"`
	KeyFile      string `mapstructure:"key_file"`
	ClientCAFile string `mapstructure:"client_ca_file"`
}

// Enabled reports whether the API is served over TLS.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

// serverConfig loads the certificate and the client CA.
func (c TLSConfig) serverConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pool, err := loadCAs(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client_ca_file: %w", err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

// readsOpen reports whether the read endpoints need no token.
func (c Config) readsOpen() bool {
	return c.PublicReads || c.Token == "" && c.ReadToken == ""
}

// FieldError is a problem with one configuration field.
type FieldError struct {
	Field string // "admin.address" or "admin.token"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks the configuration: the address must be host:port, a
// non-loopback address (including an empty host, which means every
// interface) requires a token (token or read_token), the TLS files must
// load, and the tokens must differ. Every problem is a *FieldError;
// several are joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for _, t := range []struct{ field, v string }{{"admin.token", c.Token}, {"admin.read_token", c.ReadToken}} {
		for i := 0; i < len(t.v); i++ {
			if ch := t.v[i]; ch <= ' ' || ch >= 0x7f {
				bad(t.field, "must be printable ASCII without spaces (it is sent in an HTTP header)")
				break
			}
		}
	}
	if c.ReadToken != "" && c.ReadToken == c.Token {
		bad("admin.read_token", "must differ from admin.token (the token already grants reads)")
	}
	switch {
	case c.TLS.Enabled() && (c.TLS.CertFile == "" || c.TLS.KeyFile == ""):
		bad("admin.tls", "cert_file and key_file go together")
	case c.TLS.Enabled():
		if _, err := c.TLS.serverConfig(); err != nil {
			bad("admin.tls", "%v", err)
		}
	case c.TLS.ClientCAFile != "":
		bad("admin.tls.client_ca_file", "needs cert_file and key_file (client certificates are checked over TLS only)")
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
	if c.Token == "" && c.ReadToken == "" && !c.PublicReads && !loopback(host) {
		bad("admin.token", "required when admin.address %q is not a loopback address (or admin.read_token for a read-only API; admin.public_reads: true to serve reads to anyone)", c.Addr)
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
