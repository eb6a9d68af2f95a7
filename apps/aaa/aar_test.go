package aaa

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// usersFixture: alice is PAP-only (PBKDF2), bob may use CHAP.
func usersFixture(t testing.TB) string {
	t.Helper()
	h, err := HashPassword("alice-pw", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return writeUsers(t, "# test users", "alice "+h, "bob "+ChapSecret("bob-secret"))
}

func TestAuthentication(t *testing.T) {
	cfg := testConfig(t)
	cfg.UsersFile = usersFixture(t)
	cfg.Lab = false
	cfg.FramedMTU = 1400
	a := startAgent(t, cfg, "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")
	challenge := []byte("0123456789abcdef")

	tests := []struct {
		name   string
		user   string
		art    int32
		creds  []*diam.AVP
		code   uint32
		failed uint32 // Failed-AVP code expected, 0 for none
	}{
		{"PAP accept pbkdf2", "alice", 3, []*diam.AVP{pap("alice-pw")}, 2001, 0},
		{"PAP reject pbkdf2", "alice", 3, []*diam.AVP{pap("wrong")}, 4001, 0},
		{"PAP accept chap user", "bob", 3, []*diam.AVP{pap("bob-secret")}, 2001, 0},
		{"PAP reject unknown user", "mallory", 3, []*diam.AVP{pap("x")}, 4001, 0},
		{"CHAP accept", "bob", 3, chap(7, "bob-secret", challenge), 2001, 0},
		{"CHAP reject wrong secret", "bob", 3, chap(7, "guess", challenge), 4001, 0},
		{"CHAP reject PAP-only user", "alice", 3, chap(7, "alice-pw", challenge), 4001, 0},
		{"CHAP without challenge", "bob", 3, chap(7, "bob-secret", challenge)[:1], 5005, avp.CHAPChallenge},
		{"no credentials", "bob", 3, nil, 4001, 0},
		{"authorize only known", "alice", 2, nil, 2001, 0},
		{"authorize only unknown", "mallory", 2, nil, 5003, 0},
		{"authenticate only", "alice", 1, []*diam.AVP{pap("alice-pw")}, 2001, 0},
		{"bad Auth-Request-Type", "alice", 9, []*diam.AVP{pap("alice-pw")}, 5004, avp.AuthRequestType},
		{"missing User-Name", "", 3, []*diam.AVP{pap("alice-pw")}, 5005, avp.UserName},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := fmt.Sprintf("nas.client.test;auth;%d", i)
			ans := n.call(t, n.aar(sid, tt.user, tt.art, tt.creds...))
			if got := resultOf(ans); got != tt.code {
				t.Fatalf("Result-Code %s, want %d", describe(ans), tt.code)
			}
			if got := failedCode(ans); got != tt.failed {
				t.Errorf("Failed-AVP holds %d, want %d", got, tt.failed)
			}
			if ans.AVP[0].Code != avp.SessionID || str(ans.AVP[0]) != sid {
				t.Errorf("first AVP %d %q, want Session-Id %q", ans.AVP[0].Code, str(ans.AVP[0]), sid)
			}
			if h := str(find(ans.AVP, avp.OriginHost)); h != draHost {
				t.Errorf("Origin-Host %q", h)
			}
			_, stored := a.srv.Session(sid)
			wantSession := tt.code == 2001 && tt.art != 1
			if stored != wantSession {
				t.Errorf("session stored %v, want %v", stored, wantSession)
			}
			if !wantSession {
				if find(ans.AVP, avp.FramedIPAddress) != nil {
					t.Error("Framed-IP-Address without a session")
				}
				return
			}
			ip := framedAddr(ans)
			if !netip.MustParsePrefix(cfg.Pool).Contains(ip) {
				t.Errorf("Framed-IP-Address %v outside the pool", ip)
			}
			for code, want := range map[uint32]uint32{
				avp.SessionTimeout: 86400, avp.AuthorizationLifetime: 3600,
				avp.AuthGracePeriod: 300, avp.FramedMTU: 1400, avp.AuthSessionState: 0,
			} {
				got, ok := u32(find(ans.AVP, code))
				if !ok || got != want {
					t.Errorf("AVP %d = %d (present %v), want %d", code, got, ok, want)
				}
			}
			if art, _ := u32(find(ans.AVP, avp.AuthRequestType)); art != uint32(tt.art) {
				t.Errorf("Auth-Request-Type %d", art)
			}
		})
	}
}

func TestLabDemoUser(t *testing.T) {
	a := startAgent(t, testConfig(t), "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")
	if ans := n.call(t, n.aar("s;demo;1", LabUser, 3, pap(LabPassword))); resultOf(ans) != 2001 {
		t.Fatalf("demo PAP: %s", describe(ans))
	}
	if ans := n.call(t, n.aar("s;demo;2", LabUser, 3, chap(1, LabPassword, []byte("challenge"))...)); resultOf(ans) != 2001 {
		t.Fatalf("demo CHAP: %s", describe(ans))
	}
}

func TestAllocationUniqueAndReleased(t *testing.T) {
	cfg := testConfig(t)
	cfg.Pool = "10.9.0.0/26" // 62 usable addresses
	a := startAgent(t, cfg, "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")

	const sessions = 62
	addrs := make([]netip.Addr, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			ans := n.call(t, n.aar(fmt.Sprintf("s;alloc;%d", i), LabUser, 3, pap(LabPassword)))
			if resultOf(ans) != 2001 {
				t.Errorf("AAR %d: %s", i, describe(ans))
				return
			}
			addrs[i] = framedAddr(ans)
		})
	}
	wg.Wait()
	seen := map[netip.Addr]int{}
	for i, ip := range addrs {
		if j, dup := seen[ip]; dup {
			t.Fatalf("sessions %d and %d share %v", j, i, ip)
		}
		seen[ip] = i
	}
	// The pool is full now.
	if ans := n.call(t, n.aar("s;alloc;full", LabUser, 3, pap(LabPassword))); resultOf(ans) != 5012 {
		t.Fatalf("AAR on a full pool: %s", describe(ans))
	}
	// STR releases the address; the next session may have it.
	if ans := n.call(t, n.str("s;alloc;5")); resultOf(ans) != 2001 {
		t.Fatalf("STR: %s", describe(ans))
	}
	if _, ok := a.srv.Session("s;alloc;5"); ok {
		t.Fatal("session kept after STR")
	}
	ans := n.call(t, n.aar("s;alloc;new", LabUser, 3, pap(LabPassword)))
	if resultOf(ans) != 2001 || framedAddr(ans) != addrs[5] {
		t.Fatalf("AAR after STR: %s with %v, want the released %v", describe(ans), framedAddr(ans), addrs[5])
	}
}

func TestReauthorizationKeepsAddress(t *testing.T) {
	a := startAgent(t, testConfig(t), "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")
	first := n.call(t, n.aar("s;re", LabUser, 3, pap(LabPassword)))
	again := n.call(t, n.aar("s;re", LabUser, 2))
	if resultOf(first) != 2001 || resultOf(again) != 2001 || framedAddr(first) != framedAddr(again) {
		t.Fatalf("first %s %v, re-authorization %s %v", describe(first), framedAddr(first), describe(again), framedAddr(again))
	}
	if len(a.srv.Sessions()) != 1 {
		t.Errorf("%d sessions", len(a.srv.Sessions()))
	}
}

func TestSTRErrors(t *testing.T) {
	a := startAgent(t, testConfig(t), "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")
	noCause := n.request(cmdSessionTermination, "s;str;2")
	tests := []struct {
		name   string
		req    *diam.Message
		code   uint32
		failed uint32
	}{
		{"unknown session", n.str("s;str;unknown"), 5002, 0},
		{"missing Termination-Cause", noCause, 5005, avp.TerminationCause},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans := n.call(t, tt.req)
			if resultOf(ans) != tt.code || failedCode(ans) != tt.failed {
				t.Fatalf("got %s Failed-AVP %d, want %d with %d", describe(ans), failedCode(ans), tt.code, tt.failed)
			}
		})
	}
}

func TestUnsupportedCommand(t *testing.T) {
	a := startAgent(t, testConfig(t), "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")
	// An accounting request (271) sent with the NASREQ application id.
	m := diam.NewMessage(diam.Accounting, diam.RequestFlag|diam.ProxiableFlag, AppID, 0, 0, dict.Default)
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("s;acr"))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(n.host))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(nasRealm))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(draRealm))
	ans := n.call(t, m)
	if resultOf(ans) != 3001 || ans.Header.CommandFlags&diam.ErrorFlag == 0 {
		t.Fatalf("got %s flags %#x, want 3001 with E bit", describe(ans), ans.Header.CommandFlags)
	}
}
