package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dra-project/dra/test/fdtest"
)

// TestReadAuth: who may read the API (GET /v1/..., a mounted /metrics)
// under each token setting; /healthz and /readyz stay open, mutations
// keep needing admin.token.
func TestReadAuth(t *testing.T) {
	const readTok = "r3ad-only"
	type try struct {
		method, path, auth string
		code               int
	}
	tests := []struct {
		name  string
		cfg   Config
		tries []try
	}{
		{"no token (loopback): reads open", Config{}, []try{
			{"GET", "/v1/peers", "", 200},
			{"GET", "/metrics", "", 200},
			{"POST", "/v1/reload", "", 403},
		}},
		{"token: reads need it", Config{Token: testToken}, []try{
			{"GET", "/v1/peers", "", 401},
			{"GET", "/v1/config", "", 401},
			{"GET", "/v1/stats", "Bearer wrong", 401},
			{"GET", "/metrics", "", 401},
			{"GET", "/v1/config", "Bearer " + testToken, 200},
			{"GET", "/metrics", "Bearer " + testToken, 200},
			{"GET", "/healthz", "", 200},
			{"GET", "/readyz", "", 200},
		}},
		{"read token: reads only", Config{Token: testToken, ReadToken: readTok}, []try{
			{"GET", "/v1/peers", "Bearer " + readTok, 200},
			{"GET", "/metrics", "Bearer " + readTok, 200},
			{"GET", "/v1/peers", "Bearer " + testToken, 200},
			{"GET", "/v1/peers", "", 401},
			{"POST", "/v1/reload", "Bearer " + readTok, 401},
			{"POST", "/v1/reload", "Bearer " + testToken, 200},
		}},
		{"read token without token: no mutations", Config{ReadToken: readTok}, []try{
			{"GET", "/v1/routes", "Bearer " + readTok, 200},
			{"GET", "/v1/routes", "", 401},
			{"POST", "/v1/reload", "Bearer " + readTok, 403},
		}},
		{"public reads", Config{Token: testToken, PublicReads: true}, []try{
			{"GET", "/v1/peers", "", 200},
			{"GET", "/metrics", "", 200},
			{"POST", "/v1/reload", "", 401},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg, newFake(t))
			s.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "dra_requests_total 10\n")
			}))
			for _, c := range tt.tries {
				a := call(t, s.Addr(), c.method, c.path, c.auth)
				if a.code != c.code {
					t.Errorf("%s %s with %q: %d, want %d (%s)", c.method, c.path, c.auth, a.code, c.code, a.body)
				}
				if a.code == 401 && a.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: 401 without WWW-Authenticate", c.method, c.path)
				}
			}
		})
	}
}

// TestTLS: the API over HTTPS with client certificates; the Client reaches
// it with the CA and a certificate, and is refused without a certificate
// or over plain HTTP.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := fdtest.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := fdtest.GenerateLeaf(dir, ca, "dra-admin.test")
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := fdtest.GenerateLeaf(dir, ca, "operator.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Token: testToken, TLS: TLSConfig{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: ca.CertFile}}
	if err := (Config{Addr: "127.0.0.1:0", Token: testToken, TLS: cfg.TLS}).Validate(); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, cfg, newFake(t))
	ctx := context.Background()

	good := &Client{Addr: s.Addr(), Token: testToken, CAFile: ca.CertFile, CertFile: cliCert, KeyFile: cliKey}
	if ps, err := good.Peers(ctx); err != nil || len(ps) != 2 {
		t.Fatalf("peers over TLS: %v %v", ps, err)
	}
	if _, err := good.Reload(ctx); err != nil {
		t.Errorf("reload over TLS: %v", err)
	}
	noCert := &Client{Addr: s.Addr(), Token: testToken, CAFile: ca.CertFile}
	if _, err := noCert.Peers(ctx); err == nil {
		t.Error("a client without a certificate was served")
	}
	plain := &Client{Addr: "http://" + s.Addr(), Token: testToken}
	if _, err := plain.Peers(ctx); err == nil {
		t.Error("plain HTTP was served")
	}
	var ae *Error
	noToken := &Client{Addr: s.Addr(), CAFile: ca.CertFile, CertFile: cliCert, KeyFile: cliKey}
	if _, err := noToken.Peers(ctx); !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Errorf("certificate without token: %v, want 401", err)
	}
}

func TestTLSConfigValidate(t *testing.T) {
	dir := t.TempDir()
	ca, err := fdtest.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := fdtest.GenerateLeaf(dir, ca, "dra-admin.test")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   Config
		field string // "" valid
	}{
		{"tls", Config{Addr: "127.0.0.1:0", TLS: TLSConfig{CertFile: cert, KeyFile: key}}, ""},
		{"client ca", Config{Addr: "127.0.0.1:0", TLS: TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: ca.CertFile}}, ""},
		{"cert without key", Config{Addr: "127.0.0.1:0", TLS: TLSConfig{CertFile: cert}}, "admin.tls"},
		{"missing file", Config{Addr: "127.0.0.1:0", TLS: TLSConfig{CertFile: cert, KeyFile: dir + "/none.pem"}}, "admin.tls"},
		{"client ca alone", Config{Addr: "127.0.0.1:0", TLS: TLSConfig{ClientCAFile: ca.CertFile}}, "admin.tls.client_ca_file"},
		{"bad client ca", Config{Addr: "127.0.0.1:0", TLS: TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: key}}, "admin.tls"},
		{"read token on all interfaces", Config{Addr: ":9868", ReadToken: "r"}, ""},
		{"public reads on all interfaces", Config{Addr: ":9868", PublicReads: true}, ""},
		{"same tokens", Config{Addr: "127.0.0.1:0", Token: "t", ReadToken: "t"}, "admin.read_token"},
		{"read token with space", Config{Addr: "127.0.0.1:0", ReadToken: "a b"}, "admin.read_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field+": ") {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
		})
	}
}
