package fdtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

const wait = 8 * time.Second

// pair starts node B accepting A (incoming only), then node A dialling B.
func pair(t *testing.T, tlsOn bool) (a, b *Node) {
	t.Helper()
	idA, idB := "a.fd.test", "b.fd.test"
	cfgA := Config{Identity: idA, Realm: "fd.test", TcTimer: 2}
	cfgB := Config{Identity: idB, Realm: "fd.test", TcTimer: 2, TLSListen: tlsOn,
		Peers: []Peer{{Identity: idA, TLS: tlsOn}}}
	if tlsOn {
		dir := t.TempDir()
		ca, err := GenerateCA(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			cfg *Config
			id  string
		}{{&cfgA, idA}, {&cfgB, idB}} {
			cert, key, err := GenerateLeaf(dir, ca, x.id)
			if err != nil {
				t.Fatal(err)
			}
			x.cfg.TLS = &Certs{CAFile: ca.CertFile, CertFile: cert, KeyFile: key}
		}
	}
	b = Start(t, cfgB)
	addr := b.Addr()
	if tlsOn {
		addr = b.TLSAddr()
	}
	cfgA.Peers = []Peer{{Identity: idB, Addr: addr, TLS: tlsOn}}
	a = Start(t, cfgA)
	a.WaitPeerState(t, idB, StateOpen, wait)
	b.WaitPeerState(t, idA, StateOpen, wait)
	return a, b
}

func TestOpenAndDPROnStop(t *testing.T) {
	t.Parallel()
	a, b := pair(t, false)
	a.WaitLog(t, `No TLS protection negotiated with peer 'b\.fd\.test'`, wait)
	a.Stop()
	a.Stop() // idempotent
	if a.Running() {
		t.Fatal("a still running after Stop")
	}
	if !strings.Contains(a.Log(), "SENT to 'b.fd.test': 'Disconnect-Peer-Request'") {
		t.Errorf("a did not log the DPR it sent")
	}
	b.WaitLog(t, `Peer 'a\.fd\.test' sent a DPR with cause: REBOOTING`, wait)
	b.WaitPeerState(t, "a.fd.test", StateClosed, wait)
	got := strings.Join(b.PeerStates("a.fd.test"), " ")
	if !strings.Contains(got, "STATE_OPEN STATE_CLOSING STATE_CLOSED") {
		t.Errorf("b's states for a: %s", got)
	}
}

func TestOpenOverTLS(t *testing.T) {
	t.Parallel()
	a, b := pair(t, true)
	a.WaitLog(t, `Connected to 'b\.fd\.test' \(TCP,TLS,`, wait)
	b.WaitLog(t, `Connected to 'a\.fd\.test' \(TCP,TLS,`, wait)
	a.Stop()
	b.WaitPeerState(t, "a.fd.test", StateClosed, wait)
}

func TestKillIsNoticed(t *testing.T) {
	t.Parallel()
	a, b := pair(t, false)
	a.Kill()
	b.WaitPeerState(t, "a.fd.test", StateClosed, wait)
	if strings.Contains(b.Log(), "sent a DPR") {
		t.Error("b saw a DPR from a killed node")
	}
}

// An unknown peer is refused with 3010; the dialling node logs the CEA.
func TestUnknownPeerGets3010(t *testing.T) {
	t.Parallel()
	b := Start(t, Config{Identity: "b3010.fd.test"})
	a := Start(t, Config{Identity: "a3010.fd.test",
		Peers: []Peer{{Identity: "b3010.fd.test", Addr: b.Addr()}}})
	b.WaitLog(t, `Rejected CER from peer 'a3010\.fd\.test', validation failed \(returning DIAMETER_UNKNOWN_PEER\)`, wait)
	a.WaitLog(t, `Connection to 'b3010\.fd\.test' failed: 'CEA with unexpected error code'`, wait)
	a.WaitLog(t, `Result-Code\(268\)\[-M\]='DIAMETER_UNKNOWN_PEER' \(3010 `, wait)
	a.WaitPeerState(t, "b3010.fd.test", StateClosed, wait)
}

// Two NoRelay nodes without application extensions share no application.
func TestNoRelayGets5010(t *testing.T) {
	t.Parallel()
	b := Start(t, Config{Identity: "b5010.fd.test", NoRelay: true,
		Peers: []Peer{{Identity: "a5010.fd.test"}}})
	a := Start(t, Config{Identity: "a5010.fd.test", NoRelay: true,
		Peers: []Peer{{Identity: "b5010.fd.test", Addr: b.Addr()}}})
	b.WaitLog(t, `No common application with peer 'a5010\.fd\.test', sending DIAMETER_NO_COMMON_APPLICATION`, wait)
	a.WaitLog(t, `Result-Code\(268\)\[-M\]='DIAMETER_NO_COMMON_APPLICATION' \(5010 `, wait)
	// With NoRelay the CER lists no application id at all.
	line := b.WaitLog(t, `Capabilities-Exchange-Request\(257\)`, wait)
	if strings.Contains(line, "Application-Id") {
		t.Errorf("NoRelay CER advertises an application: %s", line)
	}
}

// The Go side can complete a mutual TLS handshake with a node's TLS port
// using certificates from the same CA.
func TestGoTLSHandshake(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := GenerateLeaf(dir, ca, "fd.fd.test")
	if err != nil {
		t.Fatal(err)
	}
	goCert, goKey, err := GenerateLeaf(dir, ca, "go.fd.test")
	if err != nil {
		t.Fatal(err)
	}
	n := Start(t, Config{Identity: "fd.fd.test", TLSListen: true,
		TLS: &Certs{CAFile: ca.CertFile, CertFile: cert, KeyFile: key}})
	pair, err := tls.LoadX509KeyPair(goCert, goKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(n.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp", n.TLSAddr(), &tls.Config{
		RootCAs: pool, ServerName: "fd.fd.test", Certificates: []tls.Certificate{pair},
	})
	if err != nil {
		t.Fatalf("TLS handshake with freeDiameter: %v", err)
	}
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestStartFailsOnBadConfig(t *testing.T) {
	t.Parallel()
	c := Config{Identity: "x.fd.test", Extensions: []Extension{{Name: "dict_dcca_3gpp"}}}
	// dict_dcca_3gpp needs dict_dcca (and dict_nasreq) loaded first: the
	// daemon exits, and Start must report it rather than time out.
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(ft, c)
	}()
	<-done
	if !ft.failed {
		t.Fatal("Start did not fail")
	}
	if !strings.Contains(ft.msg, "depends on [dict_dcca]") {
		t.Errorf("failure message lacks the daemon's reason:\n%s", ft.msg)
	}
}

func TestRender(t *testing.T) {
	c := Config{Identity: "r.fd.test", NoRelay: true, TwTimer: 6, TcTimer: 3,
		Peers: []Peer{
			{Identity: "p1.fd.test", Addr: "127.0.0.1:3868", TcTimer: 4, TwTimer: 7},
			{Identity: "p2.fd.test", Addr: "127.0.0.1:5868", TLS: true},
			{Identity: "p3.fd.test"},
		},
		Extensions: []Extension{{Name: "dict_nasreq"}, {Name: "dbg_msg_dumps", Arg: "0x0080"}},
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	r := &resolved{realm: "fd.test", host: "127.0.0.1", port: 1000,
		certs: Certs{CAFile: "/c", CertFile: "/p", KeyFile: "/k"}, extFiles: []string{"", "0x0080"},
		aclFile: "/acl", aclIndex: -1}
	got := render(&c, r)
	for _, want := range []string{
		`Identity = "r.fd.test";`, `Realm = "fd.test";`, `Port = 1000;`, `SecPort = 0;`,
		"No_SCTP;", "No_IPv6;", "NoRelay;", "TcTimer = 3;", "TwTimer = 6;",
		`TLS_Cred = "/p", "/k";`, `TLS_CA = "/c";`,
		`LoadExtension = "/usr/lib/freeDiameter/dict_nasreq.fdx";`,
		`LoadExtension = "/usr/lib/freeDiameter/dbg_msg_dumps.fdx" : "0x0080";`,
		`LoadExtension = "/usr/lib/freeDiameter/acl_wl.fdx" : "/acl";`,
		`ConnectPeer = "p1.fd.test" { ConnectTo = "127.0.0.1"; Port = 3868; No_SCTP; Prefer_TCP; No_TLS; TcTimer = 4; TwTimer = 7; };`,
		`ConnectPeer = "p2.fd.test" { ConnectTo = "127.0.0.1"; Port = 5868; No_SCTP; Prefer_TCP; };`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "p3.fd.test") {
		t.Errorf("incoming-only peer rendered as ConnectPeer:\n%s", got)
	}
	if acl := aclLines(c.Peers); acl != "ALLOW_IPSEC p3.fd.test\n" {
		t.Errorf("acl_wl lines %q", acl)
	}
	for _, bad := range []Config{
		{},
		{Identity: "x.fd.test", ListenAddr: "0.0.0.0:3868"},
		{Identity: "x.fd.test", Peers: []Peer{{Identity: "y", Addr: "192.0.2.1:3868"}}},
		{Identity: "x.fd.test", TwTimer: 5},
		{Identity: "x.fd.test", Peers: []Peer{{Identity: "y", TLS: true}}},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("validate accepted %+v", bad)
		}
	}
}

func TestGenerateCerts(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, err := GenerateCerts(dir, "g.fd.test")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("bad CA PEM")
	}
	for _, name := range []string{"g.fd.test", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if leaf.Subject.CommonName != "g.fd.test" {
		t.Errorf("CN %q", leaf.Subject.CommonName)
	}
	if _, _, _, err := GenerateCerts(dir, "h.fd.test"); err != nil {
		t.Errorf("second identity in the same dir: %v", err)
	}
}

// fakeT records a fatal failure instead of ending the real test.
type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatal(args ...any) {
	f.failed = true
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// freeDiameter ignores ListenOn = "127.0.0.1"; the loopback guard must keep
// its servers on the loopback interface anyway.
func TestListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	n := Start(t, Config{Identity: "lo.fd.test", TLSListen: true})
	ports := map[string]bool{}
	for _, a := range []string{n.Addr(), n.TLSAddr()} {
		_, p, _ := splitLoopback(a)
		ports[fmt.Sprintf("%04X", p)] = true
	}
	found := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" { // LISTEN
				continue
			}
			host, port, ok := strings.Cut(fields[1], ":")
			if !ok || !ports[port] {
				continue
			}
			found++
			if host != "0100007F" && host != "00000000000000000000000001000000" {
				t.Errorf("%s: listening on %s:%s, not on loopback", f, host, port)
			}
		}
	}
	if found == 0 {
		t.Fatal("no listening socket of the node found in /proc/net/tcp*: the loopback check proves nothing")
	}
	if found != 2 {
		t.Errorf("found %d listening sockets, want 2", found)
	}
}

func TestIPv6Loopback(t *testing.T) {
	t.Parallel()
	b := Start(t, Config{Identity: "b6.fd.test", ListenAddr: "[::1]:0",
		Peers: []Peer{{Identity: "a6.fd.test"}}})
	if !strings.HasPrefix(b.Addr(), "[::1]:") {
		t.Fatalf("Addr %s", b.Addr())
	}
	a := Start(t, Config{Identity: "a6.fd.test", Peers: []Peer{{Identity: "b6.fd.test", Addr: b.Addr()}}})
	a.WaitPeerState(t, "b6.fd.test", StateOpen, wait)
	b.WaitPeerState(t, "a6.fd.test", StateOpen, wait)
}
