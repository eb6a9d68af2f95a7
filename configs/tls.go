package configs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ServerTLS builds the tls.Config for a listener. Client certificates are
// verified against CAFile when ClientAuth is request or require.
func (t TLS) ServerTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("configs: tls key pair: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch t.ClientAuth {
	case "request":
		c.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if t.CAFile != "" {
		pool, err := loadPool(t.CAFile)
		if err != nil {
			return nil, err
		}
		c.ClientCAs = pool
	}
	return c, nil
}

// ClientTLS builds the tls.Config for dialing a peer. The server certificate
// is always verified against CAFile, for ServerName or else host.
func (t TLS) ClientTLS(host string) (*tls.Config, error) {
	pool, err := loadPool(t.CAFile)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	if t.ServerName != "" {
		c.ServerName = t.ServerName
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("configs: tls key pair: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("configs: tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("configs: tls ca: %s holds no PEM certificate", file)
	}
	return pool, nil
}
