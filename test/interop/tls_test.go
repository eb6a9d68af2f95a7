package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/test/fdtest"
)

// tlsPKI is one throw-away CA with leaves for the agent and the
// freeDiameter nodes of a test.
type tlsPKI struct {
	dir string
	ca  *fdtest.CA
}

func newPKI(t *testing.T) *tlsPKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := fdtest.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &tlsPKI{dir: dir, ca: ca}
}

// leaf returns the certificates of identity, signed by the CA.
func (p *tlsPKI) leaf(t *testing.T, identity string) fdtest.Certs {
	t.Helper()
	cert, key, err := fdtest.GenerateLeaf(p.dir, p.ca, identity)
	if err != nil {
		t.Fatal(err)
	}
	return fdtest.Certs{CAFile: p.ca.CertFile, CertFile: cert, KeyFile: key}
}

// agentLog keeps what the agent logs (and forwards it to the test log).
type agentLog struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *agentLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(b)
	l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func (l *agentLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// wait waits until the agent has logged a line matching re and returns it.
func (l *agentLog) wait(t *testing.T, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			if rx.MatchString(line) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not log /%s/ within %s", re, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startAgentYAML is startAgent for a complete configuration (a TLS listener
// cannot be added to startAgent's): identity and timers are prepended
// unless given. It also returns what the agent logs.
func startAgentYAML(t *testing.T, y string) (*agent.Agent, *agentLog) {
	t.Helper()
	if !hasKey(y, "identity") {
		y = fmt.Sprintf("identity:\n  origin_host: %s\n  origin_realm: %s\n", draHost, draRealm) + y
	}
	if !hasKey(y, "timers") {
		y += "timers:\n  watchdog: 6s\n  reconnect: 1s\n  reconnect_max: 2s\n"
	}
	cfg, err := configs.Parse([]byte(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	al := &agentLog{t: t}
	a, err := agent.New(cfg, slog.New(slog.NewTextHandler(al, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return a, al
}

// hasKey reports whether the YAML document y has the top-level key.
func hasKey(y, key string) bool {
	return strings.HasPrefix(y, key+":") || strings.Contains(y, "\n"+key+":")
}

// tlsListenerYAML is a mutual-TLS listener on a free loopback port.
func tlsListenerYAML(c fdtest.Certs) string {
	return fmt.Sprintf(`listen:
  - address: 127.0.0.1:0
    transport: tls
    tls:
      cert_file: %s
      key_file: %s
      ca_file: %s
      client_auth: require
      verify_identity: true
`, c.CertFile, c.KeyFile, c.CAFile)
}

// tlsPeerYAML is one peer the agent dials over TLS with its own client
// certificate; extra lines go under tls:.
func tlsPeerYAML(host, address string, c fdtest.Certs, extra string) string {
	return fmt.Sprintf(`  - host: %s
    realm: fd.test
    address: %s
    connect: true
    transport: tls
    tls:
      ca_file: %s
      cert_file: %s
      key_file: %s
      verify_identity: true
%s`, host, address, c.CAFile, c.CertFile, c.KeyFile, extra)
}

// neverOpen fails if the agent's row for id is ever open during d.
func neverOpen(t *testing.T, a *agent.Agent, id string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if in, ok := a.Peers().Table().Get(id); ok && in.State.Open() {
			t.Fatalf("peer %s is open: %+v", id, in)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeDiameter dials the agent's TLS listener (TLS from the first byte,
// RFC 6733 §2.1) with mutual TLS: both certificates come from one CA, the
// agent requires a client certificate and checks that it names the CER's
// Origin-Host.
func TestTLSFreeDiameterDialsAgent(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	a, _ := startAgentYAML(t, tlsListenerYAML(pki.leaf(t, draHost))+"peers:\n  - host: fdt1.fd.test\n")
	fdCerts := pki.leaf(t, "fdt1.fd.test")
	fd := fdtest.Start(t, fdtest.Config{Identity: "fdt1.fd.test", TLS: &fdCerts,
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a), TLS: true}}})
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 10*time.Second)
	in := waitPeer(t, a, "fdt1.fd.test", 5*time.Second, isOpen)
	if !in.TLS || in.Role != "responder" {
		t.Errorf("peer row: TLS %v, role %q: %+v", in.TLS, in.Role, in)
	}
	// freeDiameter names the transport of the connection: TCP with TLS.
	fd.WaitLog(t, `Connected to '`+draHost+`' \(TCP,TLS,`, 5*time.Second)
	if strings.Contains(fd.Log(), "No TLS protection negotiated") {
		t.Error("freeDiameter reports no TLS protection")
	}
}

// The agent dials freeDiameter's TLS port with its own client certificate
// and the shared CA, and checks the server certificate names the peer.
func TestTLSAgentDialsFreeDiameter(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	fdCerts := pki.leaf(t, "fdt2.fd.test")
	fd := fdtest.Start(t, fdtest.Config{Identity: "fdt2.fd.test", TLS: &fdCerts, TLSListen: true,
		Peers: []fdtest.Peer{{Identity: draHost, TLS: true}}})
	a, _ := startAgentYAML(t, "listen:\n  - address: 127.0.0.1:0\npeers:\n"+tlsPeerYAML("fdt2.fd.test", fd.TLSAddr(), pki.leaf(t, draHost), ""))
	in := waitPeer(t, a, "fdt2.fd.test", 10*time.Second, isOpen)
	if !in.TLS || in.Role != "initiator" {
		t.Errorf("peer row: TLS %v, role %q: %+v", in.TLS, in.Role, in)
	}
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 5*time.Second)
	fd.WaitLog(t, `Connected to '`+draHost+`' \(TCP,TLS,`, 5*time.Second)
}

// A client certificate from a CA the agent does not trust: the agent's TLS
// handshake fails and the peer never opens, although freeDiameter itself
// trusts the agent's certificate.
func TestTLSClientFromOtherCARefused(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	agentCerts := pki.leaf(t, draHost)
	a, al := startAgentYAML(t, tlsListenerYAML(agentCerts)+"peers:\n  - host: fdt3.fd.test\n")
	// No Config.TLS: fdtest makes the node a CA of its own.
	fd := fdtest.Start(t, fdtest.Config{Identity: "fdt3.fd.test", TrustCAs: []string{agentCerts.CAFile},
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a), TLS: true}}})
	// GnuTLS sends a client certificate only if it chains to one of the CAs
	// the server's CertificateRequest names, so the agent sees none; a
	// client that sends it anyway meets "signed by unknown authority".
	line := al.wait(t, `tls handshake failed`, 10*time.Second)
	if !strings.Contains(line, "client didn't provide a certificate") && !strings.Contains(line, "certificate signed by unknown authority") {
		t.Errorf("agent log: %s", line)
	}
	fd.WaitLog(t, `A TLS fatal alert has been received`, 5*time.Second)
	fd.WaitLog(t, `'STATE_WAITCEA'\t-> 'STATE_CLOSED'\t'`+draHost+`'`, 5*time.Second)
	neverOpen(t, a, "fdt3.fd.test", time.Second)
	if in, _ := a.Peers().Table().Get("fdt3.fd.test"); in == nil || in.State != peers.StateClosed {
		t.Errorf("peer row: %+v", in)
	}
	for _, s := range fd.PeerStates(draHost) {
		if s == fdtest.StateOpen {
			t.Errorf("freeDiameter went open: %v", fd.PeerStates(draHost))
		}
	}
}

// A client whose certificate comes from the trusted CA but names another
// host is refused by default on a mutual TLS listener (verify_identity
// unset): a certificate of the CA must not claim any Origin-Host. Written
// false, the check is off and the same client opens. (freeDiameter will not
// run with a certificate that does not name it: the client is our own.)
func TestTLSIdentityVerifiedByDefault(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	listener := strings.Replace(tlsListenerYAML(pki.leaf(t, draHost)), "      verify_identity: true\n", "", 1)
	if strings.Contains(listener, "verify_identity") {
		t.Fatal("listener still sets verify_identity")
	}
	for _, tt := range []struct {
		name, extra, host string
		open              bool
	}{
		{"default", "", "c5.client.test", false},
		{"turned off", "      verify_identity: false\n", "c6.client.test", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, al := startAgentYAML(t, listener+tt.extra+"peers:\n  - host: "+tt.host+"\n")
			other := pki.leaf(t, "impostor-"+tt.host) // trusted CA, another name
			cert, err := tls.LoadX509KeyPair(other.CertFile, other.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(pki.ca.Cert)
			c := dratest.Start(t, dratest.Options{Host: tt.host, Realm: "client.test",
				Dial: []peers.PeerConfig{{Identity: draHost, Addr: addr(a), Connect: true,
					TLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: draHost}}}})
			if tt.open {
				c.WaitOpen(t, draHost)
				waitPeer(t, a, tt.host, 10*time.Second, isOpen)
				return
			}
			al.wait(t, `certificate does not name Origin-Host`, 10*time.Second)
			neverOpen(t, a, tt.host, time.Second)
		})
	}
}

// The agent dials a freeDiameter whose certificate (from the trusted CA)
// does not name the configured server_name: the handshake fails, the peer
// never opens and its row says why.
func TestTLSServerNameMismatchRefused(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	fdCerts := pki.leaf(t, "fdt4.fd.test")
	fd := fdtest.Start(t, fdtest.Config{Identity: "fdt4.fd.test", TLS: &fdCerts, TLSListen: true,
		Peers: []fdtest.Peer{{Identity: draHost, TLS: true}}})
	a, _ := startAgentYAML(t, "listen:\n  - address: 127.0.0.1:0\npeers:\n"+tlsPeerYAML("fdt4.fd.test", fd.TLSAddr(), pki.leaf(t, draHost),
		"      server_name: other.fd.test\n"))
	in := waitPeer(t, a, "fdt4.fd.test", 10*time.Second, func(in *peers.PeerInfo) bool { return in.LastError != "" })
	t.Logf("last error: %s", in.LastError)
	if !strings.Contains(in.LastError, "certificate") || !strings.Contains(in.LastError, "other.fd.test") {
		t.Errorf("last error %q does not say the certificate does not name other.fd.test", in.LastError)
	}
	neverOpen(t, a, "fdt4.fd.test", 2500*time.Millisecond) // one redial (reconnect 1s) included
	if in, _ := a.Peers().Table().Get("fdt4.fd.test"); in.TLS {
		t.Errorf("peer row: %+v", in)
	}
	for _, s := range fd.PeerStates(draHost) {
		if s == fdtest.StateOpen {
			t.Errorf("freeDiameter went open: %v", fd.PeerStates(draHost))
		}
	}
}
