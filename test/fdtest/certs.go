package fdtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Certs names the PEM files of one node's TLS material.
type Certs struct {
	CAFile   string // trust anchor (the CA that signed CertFile)
	CertFile string // leaf certificate
	KeyFile  string // leaf private key
}

// CA is a throw-away certificate authority for tests. Several leaves made
// with GenerateLeaf from one CA trust each other, which is what two
// freeDiameter nodes (or a node and the Go side) need for mutual TLS.
type CA struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertFile string // PEM certificate, suitable for TLS_CA and x509.CertPool
	KeyFile  string // PEM private key
}

// certValidity is how long generated certificates stay valid.
const certValidity = 24 * time.Hour

// GenerateCA makes a self-signed CA (ECDSA P-256, valid one day) and writes
// it to dir/ca.pem and dir/ca-key.pem. It refuses to overwrite an existing
// dir/ca.pem: use one directory per CA.
func GenerateCA(dir string) (*CA, error) {
	return generateCA(dir, "ca")
}

func generateCA(dir, base string) (*CA, error) {
	certFile := filepath.Join(dir, base+".pem")
	keyFile := filepath.Join(dir, base+"-key.pem")
	if _, err := os.Stat(certFile); err == nil {
		return nil, fmt.Errorf("fdtest: %s already exists", certFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "fdtest CA " + base, Organization: []string{"dra fdtest"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writeCertAndKey(certFile, keyFile, der, key); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertFile: certFile, KeyFile: keyFile}, nil
}

// GenerateLeaf makes a certificate for identity signed by ca (ECDSA P-256,
// valid one day, usable as both TLS server and client) with the identity as
// CN and DNS SAN and 127.0.0.1 and ::1 as IP SANs. The files are
// dir/<identity>.pem and dir/<identity>-key.pem.
func GenerateLeaf(dir string, ca *CA, identity string) (certFile, keyFile string, err error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return "", "", errors.New("fdtest: GenerateLeaf needs a CA")
	}
	if identity == "" || strings.ContainsAny(identity, "/\\ \"") {
		return "", "", fmt.Errorf("fdtest: bad identity %q", identity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: identity, Organization: []string{"dra fdtest"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{identity},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return "", "", err
	}
	certFile = filepath.Join(dir, identity+".pem")
	keyFile = filepath.Join(dir, identity+"-key.pem")
	if err := writeCertAndKey(certFile, keyFile, der, key); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// GenerateCerts makes a fresh CA and one leaf for identity signed by it (see
// GenerateLeaf). The CA is written to dir/<identity>-ca.pem, so several
// calls with different identities can share dir; the resulting nodes do not
// trust each other unless each CA is added to the other's trust list.
func GenerateCerts(dir, identity string) (caFile, certFile, keyFile string, err error) {
	if identity == "" || strings.ContainsAny(identity, "/\\ \"") {
		return "", "", "", fmt.Errorf("fdtest: bad identity %q", identity)
	}
	ca, err := generateCA(dir, identity+"-ca")
	if err != nil {
		return "", "", "", err
	}
	certFile, keyFile, err = GenerateLeaf(dir, ca, identity)
	if err != nil {
		return "", "", "", err
	}
	return ca.CertFile, certFile, keyFile, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

func writeCertAndKey(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}
