package aaa

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

const (
	draHost  = "dra.lab.test"
	draRealm = "lab.test"
	nasRealm = "client.test"
)

// testConfig is a lab config in a fresh directory with a fast expiry loop.
func testConfig(t testing.TB) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Lab = true
	cfg.DataDir = filepath.Join(t.TempDir(), "aaa")
	cfg.Pool = "10.9.0.0/24"
	cfg.ExpiryInterval = 20 * time.Millisecond
	cfg.AnswerTimeout = 5 * time.Second
	return cfg
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// writeUsers writes a users file with mode 0600.
func writeUsers(t testing.TB, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// agent is the server behind a router and a peer manager on 127.0.0.1.
type agent struct {
	srv *Server
	rt  *routing.Router
	m   *peers.Manager
}

func (a *agent) addr() string { return a.m.Addrs()[0].String() }

// stop shuts the agent down; the server is closed.
func (a *agent) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	a.m.Shutdown(ctx)
	a.rt.Close()
	if err := a.srv.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// startAgent builds the server and an agent around it.
func startAgent(t testing.TB, cfg Config, listen string) *agent {
	t.Helper()
	return startAgentWith(t, listen, func(orig Originator) (*Server, error) {
		return New(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, orig, testLogger(t))
	})
}

// startAgentWith is startAgent with the server that build returns.
func startAgentWith(t testing.TB, listen string, build func(Originator) (*Server, error)) *agent {
	t.Helper()
	table, err := realm.Build([]realm.Route{{Realm: draRealm, AnyApp: true, Action: realm.Local}})
	if err != nil {
		t.Fatal(err)
	}
	orig := &lateOriginator{}
	srv, err := build(orig)
	if err != nil {
		t.Fatal(err)
	}
	rt := routing.New(table, routing.Options{Local: map[uint32]routing.Handler{AppID: srv}})
	m, err := peers.New(peers.Options{
		Local:         peers.Local{OriginHost: draHost, OriginRealm: draRealm, Relay: true, Apps: srv.Apps()},
		Listeners:     []peers.Listener{{Addr: listen}},
		AcceptUnknown: true,
		Handler:       rt,
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.Attach(m)
	orig.rt = rt
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agent{srv: srv, rt: rt, m: m}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { a.stop(t) }) })
	return a
}

// lateOriginator is the router, known once built after the server.
type lateOriginator struct{ rt *routing.Router }

func (o *lateOriginator) Originate(m wire.Msg, done func(wire.Msg)) { o.rt.Originate(m, done) }

// nas is a NAS: a go-diameter client on a raw TCP connection that sends
// AAR/STR and answers ASR/RAR with answerCode.
type nas struct {
	t     testing.TB
	host  string
	conn  net.Conn
	wmu   sync.Mutex
	hbh   atomic.Uint32
	mu    sync.Mutex
	wait  map[uint32]chan *diam.Message
	reqs  chan *diam.Message // ASR and RAR received
	code  atomic.Uint32      // Result-Code for ASR/RAR
	onReq func(*diam.Message)
	done  chan struct{}
}

// dialNAS connects, exchanges CER/CEA advertising NASREQ, and serves the
// connection until the test ends.
func dialNAS(t testing.TB, addr, host string) *nas {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n := &nas{t: t, host: host, conn: c, wait: map[uint32]chan *diam.Message{},
		reqs: make(chan *diam.Message, 64), done: make(chan struct{})}
	n.code.Store(2001)
	cer := diam.NewRequest(diam.CapabilitiesExchange, 0, dict.Default)
	cer.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(host))
	cer.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(nasRealm))
	cer.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.ParseIP("127.0.0.1")))
	cer.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	cer.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("nas"))
	cer.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	cer.Header.HopByHopID, cer.Header.EndToEndID = 1, 1
	if _, err := cer.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	cea, err := diam.ReadMessage(c, dict.Default)
	if err != nil {
		t.Fatalf("CEA: %v", err)
	}
	if rc, _ := u32(find(cea.AVP, avp.ResultCode)); rc != 2001 {
		t.Fatalf("CEA Result-Code %d", rc)
	}
	c.SetReadDeadline(time.Time{})
	n.hbh.Store(100)
	go n.read()
	t.Cleanup(n.close)
	return n
}

func (n *nas) close() {
	n.conn.Close()
	<-n.done
}

func (n *nas) write(m *diam.Message) error {
	n.wmu.Lock()
	defer n.wmu.Unlock()
	_, err := m.WriteTo(n.conn)
	return err
}

func (n *nas) read() {
	defer close(n.done)
	for {
		m, err := diam.ReadMessage(n.conn, dict.Default)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				n.t.Logf("nas %s: read: %v", n.host, err)
			}
			return
		}
		if m.Header.CommandFlags&diam.RequestFlag == 0 {
			n.mu.Lock()
			ch := n.wait[m.Header.HopByHopID]
			delete(n.wait, m.Header.HopByHopID)
			n.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		a := m.Answer(0)
		switch m.Header.CommandCode {
		case diam.DeviceWatchdog:
			a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(2001))
		case diam.DisconnectPeer:
			a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(2001))
		default:
			n.reqs <- m
			a.AddAVP(find(m.AVP, avp.SessionID))
			a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(n.code.Load()))
		}
		a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(n.host))
		a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(nasRealm))
		if err := n.write(a); err != nil {
			return
		}
	}
}

// call sends a request and waits for its answer.
func (n *nas) call(t testing.TB, m *diam.Message) *diam.Message {
	t.Helper()
	a, err := n.try(m, 10*time.Second)
	if err != nil {
		t.Fatalf("command %d: %v", m.Header.CommandCode, err)
	}
	return a
}

// try sends a request and waits for its answer, the connection's end, or
// the timeout.
func (n *nas) try(m *diam.Message, timeout time.Duration) (*diam.Message, error) {
	id := n.hbh.Add(1)
	m.Header.HopByHopID, m.Header.EndToEndID = id, id
	ch := make(chan *diam.Message, 1)
	n.mu.Lock()
	n.wait[id] = ch
	n.mu.Unlock()
	if err := n.write(m); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-n.done:
		select {
		case a := <-ch:
			return a, nil
		default:
		}
		return nil, errors.New("connection closed")
	case <-time.After(timeout):
		return nil, errors.New("no answer")
	}
}

// request builds a NASREQ request from the NAS to the agent's realm.
func (n *nas) request(code uint32, sid string) *diam.Message {
	m := diam.NewMessage(code, diam.RequestFlag|diam.ProxiableFlag, AppID, 0, 0, dict.Default)
	if sid != "" {
		m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(sid))
	}
	m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(n.host))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(nasRealm))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(draRealm))
	return m
}

// aar builds an AAR; user "" leaves User-Name out.
func (n *nas) aar(sid, user string, art int32, extra ...*diam.AVP) *diam.Message {
	m := n.request(cmdAA, sid)
	m.NewAVP(avp.AuthRequestType, avp.Mbit, 0, datatype.Enumerated(art))
	if user != "" {
		m.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(user))
	}
	for _, a := range extra {
		m.AddAVP(a)
	}
	return m
}

func (n *nas) str(sid string) *diam.Message {
	m := n.request(cmdSessionTermination, sid)
	m.NewAVP(avp.TerminationCause, avp.Mbit, 0, datatype.Enumerated(1))
	return m
}

// pap is a User-Password AVP.
func pap(pw string) *diam.AVP {
	return diam.NewAVP(avp.UserPassword, avp.Mbit, 0, datatype.OctetString(pw))
}

// chap returns CHAP-Auth and CHAP-Challenge AVPs for secret, computing
// the response as MD5(ident || secret || challenge).
func chap(ident byte, secret string, challenge []byte) []*diam.AVP {
	h := md5.New()
	h.Write([]byte{ident})
	h.Write([]byte(secret))
	h.Write(challenge)
	resp := h.Sum(nil)
	auth := diam.NewAVP(avp.CHAPAuth, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.CHAPAlgorithm, avp.Mbit, 0, datatype.Enumerated(chapMD5)),
		diam.NewAVP(avp.CHAPIdent, avp.Mbit, 0, datatype.OctetString([]byte{ident})),
		diam.NewAVP(avp.CHAPResponse, avp.Mbit, 0, datatype.OctetString(resp)),
	}})
	return []*diam.AVP{auth, diam.NewAVP(avp.CHAPChallenge, avp.Mbit, 0, datatype.OctetString(challenge))}
}

// resultOf returns an answer's Result-Code.
func resultOf(m *diam.Message) uint32 { v, _ := u32(find(m.AVP, avp.ResultCode)); return v }

// framedAddr returns an answer's Framed-IP-Address.
func framedAddr(m *diam.Message) netip.Addr {
	a, _ := netip.AddrFromSlice(raw(find(m.AVP, avp.FramedIPAddress)))
	return a
}

// failedCode returns the code of the AVP inside Failed-AVP, or 0.
func failedCode(m *diam.Message) uint32 {
	f := find(m.AVP, avp.FailedAVP)
	if f == nil {
		return 0
	}
	g := group(f)
	if len(g) == 0 {
		return 0
	}
	return g[0].Code
}

func describe(m *diam.Message) string {
	return fmt.Sprintf("%d (%s)", resultOf(m), str(find(m.AVP, avp.ErrorMessage)))
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openAppend opens the session log for appending, as a crashed writer
// left it.
func openAppend(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, walName), os.O_WRONLY|os.O_APPEND, 0o600)
}
