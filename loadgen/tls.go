package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ClientTLS returns a TLS configuration for the client: the node's
// certificate is verified against the CA certificates in caFile (PEM; the
// system roots when empty), for serverName (when empty, NewClient takes
// the host of the address). certFile and keyFile, both or neither, give a
// client certificate for nodes that require one (freeDiameter does).
func ClientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if err := loadCert(cfg, certFile, keyFile); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ServerTLS returns a TLS configuration for the server with the given
// certificate; with clientCAFile, clients must present a certificate
// signed by one of its CAs.
func ServerTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" {
		return nil, errors.New("loadgen: TLS server needs a certificate and a key")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if err := loadCert(cfg, certFile, keyFile); err != nil {
		return nil, err
	}
	if clientCAFile != "" {
		pool, err := loadPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("loadgen: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("loadgen: CA file %s: no PEM certificate", file)
	}
	return pool, nil
}

func loadCert(cfg *tls.Config, certFile, keyFile string) error {
	if (certFile == "") != (keyFile == "") {
		return errors.New("loadgen: a TLS certificate needs its key and the key its certificate")
	}
	if certFile == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("loadgen: TLS certificate: %w", err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	return nil
}
