package loadgen

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/test/fdtest"
	"github.com/dra-project/dra/wire"
)

// fakeNode is a scripted Diameter node for one client connection.
type fakeNode struct {
	t    *testing.T
	l    net.Listener
	id   identity
	ans  answerer
	done chan struct{}
}

func newFakeNode(t *testing.T, script func(n *fakeNode, nc net.Conn, rd *wire.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{t: t, l: l, done: make(chan struct{}),
		id:  identity{host: "node.fake.test", realm: "fake.test", product: "fake", advertise: []uint32{wire.RelayAppID}},
		ans: newAnswerer("node.fake.test", "fake.test", 2001, 0)}
	go func() {
		defer close(n.done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		script(n, nc, wire.NewReader(nc, 0))
	}()
	t.Cleanup(func() {
		l.Close()
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			t.Error("fake node did not finish")
		}
	})
	return l.Addr().String()
}

// next reads a message, failing the test on error.
func (n *fakeNode) next(rd *wire.Reader) wire.Msg {
	m, err := rd.Next()
	if err != nil {
		n.t.Errorf("fake node: %v", err)
		return nil
	}
	return m
}

// open reads the CER and answers it with resultCode.
func (n *fakeNode) open(nc net.Conn, rd *wire.Reader, check func(cer wire.Msg)) {
	cer := n.next(rd)
	if cer == nil {
		return
	}
	if cer.Code() != wire.CmdCapabilitiesExchange || !cer.IsRequest() {
		n.t.Errorf("first message: command %d", cer.Code())
	}
	if check != nil {
		check(cer)
	}
	nc.Write(n.id.cea(cer, nc.LocalAddr()))
}

func strAVP(m wire.Msg, code uint32) string {
	a, _ := m.Find(code, 0)
	return string(a.Data)
}

func u32AVP(m wire.Msg, code uint32) uint32 {
	a, _ := m.Find(code, 0)
	v, _ := a.Uint32()
	return v
}

// The client announces itself in CER, answers DWR with DWA, refuses an
// application request with 3001, and ends with DPR.
func TestClientBaseProtocol(t *testing.T) {
	type seen struct {
		cer, dwa, unsupported, dpr bool
	}
	got := make(chan seen, 1)
	addr := newFakeNode(t, func(n *fakeNode, nc net.Conn, rd *wire.Reader) {
		var s seen
		n.open(nc, rd, func(cer wire.Msg) {
			s.cer = strAVP(cer, wire.AVPOriginHost) == "load-1.lg.test" &&
				strAVP(cer, wire.AVPOriginRealm) == "lg.test" &&
				strAVP(cer, wire.AVPProductName) == "draload" &&
				u32AVP(cer, wire.AVPAuthApplicationID) == wire.RelayAppID
			if _, ok := cer.Find(wire.AVPHostIPAddress, 0); !ok {
				s.cer = false
			}
		})
		first := true
		for {
			m := n.next(rd)
			if m == nil {
				break
			}
			switch {
			case first && m.IsRequest():
				first = false
				dwr := wire.NewMsg(wire.FlagRequest, wire.CmdDeviceWatchdog, 0, 77, 78).
					AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, n.id.host).
					AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, n.id.realm)
				rar := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, wire.CmdReAuth, 4, 79, 80).
					AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "x;1;2").
					AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, n.id.host)
				nc.Write(append(append([]byte(nil), dwr...), rar...))
				nc.Write(n.ans.answer(m))
			case m.IsRequest() && m.Code() == wire.CmdDisconnectPeer:
				s.dpr = u32AVP(m, wire.AVPDisconnectCause) == disconnectRebooting
				nc.Write(n.id.dpa(m))
				got <- s
				return
			case m.IsRequest():
				nc.Write(n.ans.answer(m))
			case m.Code() == wire.CmdDeviceWatchdog:
				s.dwa = m.HopByHop() == 77 && m.EndToEnd() == 78 && u32AVP(m, wire.AVPResultCode) == 2001 &&
					strAVP(m, wire.AVPOriginHost) == "load-1.lg.test"
			case m.Code() == wire.CmdReAuth:
				s.unsupported = m.HopByHop() == 79 && m.IsError() &&
					u32AVP(m, wire.AVPResultCode) == wire.ResultCommandUnsupported &&
					strAVP(m, wire.AVPSessionID) == "x;1;2"
			}
		}
		got <- s
	})
	r := run(t, ClientConfig{Addr: addr, OriginHost: "load-%d.lg.test", OriginRealm: "lg.test",
		InFlight: 2, Count: 50, Mix: mustMix(t, MixConfig{})})
	if r.Answered != 50 || len(r.Errors) != 0 || r.Peer != "node.fake.test" {
		t.Errorf("answered %d, errors %v, peer %q", r.Answered, r.Errors, r.Peer)
	}
	if s := <-got; !s.cer || !s.dwa || !s.unsupported || !s.dpr {
		t.Errorf("fake node saw %+v", s)
	}
}

// A node that disconnects during the run (DPR, then close): the client
// answers DPA, counts the requests in flight as lost and ends by itself.
func TestNodeDisconnects(t *testing.T) {
	dpa := make(chan bool, 1)
	addr := newFakeNode(t, func(n *fakeNode, nc net.Conn, rd *wire.Reader) {
		n.open(nc, rd, nil)
		for answered := 0; ; {
			m := n.next(rd)
			if m == nil {
				return
			}
			if !m.IsRequest() {
				dpa <- m.Code() == wire.CmdDisconnectPeer && u32AVP(m, wire.AVPResultCode) == 2001
				return
			}
			if answered++; answered <= 10 {
				nc.Write(n.ans.answer(m))
			} else if answered == 11 {
				nc.Write(n.id.dpr(5, 6))
			}
		}
	})
	r := run(t, ClientConfig{Addr: addr, InFlight: 3, Duration: time.Hour, Mix: mustMix(t, MixConfig{})})
	if !<-dpa {
		t.Error("no DPA to the node's DPR")
	}
	if r.Answered != 10 || r.Lost != r.Sent-10 || r.Lost == 0 {
		t.Errorf("sent %d answered %d lost %d", r.Sent, r.Answered, r.Lost)
	}
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "sent DPR") {
		t.Errorf("errors %v", r.Errors)
	}
}

func TestCERRefused(t *testing.T) {
	addr := newFakeNode(t, func(n *fakeNode, nc net.Conn, rd *wire.Reader) {
		cer := n.next(rd)
		nc.Write(wire.ErrorAnswer(cer, wire.ErrorSpec{OriginHost: n.id.host, OriginRealm: n.id.realm,
			ResultCode: wire.ResultUnknownPeer, Message: "who are you"}))
	})
	c, err := NewClient(ClientConfig{Addr: addr, InFlight: 1, Count: 1, Mix: mustMix(t, MixConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "3010") || !strings.Contains(err.Error(), "who are you") {
		t.Errorf("got %v", err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key, err := fdtest.GenerateCerts(dir, "srv.load.test")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := ServerTLS(cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startServer(t, ServerConfig{TLS: srvTLS})
	cliTLS, err := ClientTLS(ca, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, ClientConfig{Addr: addr, Conns: 2, InFlight: 10, Count: 500, TLS: cliTLS, Mix: mustMix(t, MixConfig{})})
	if r.Answered != 500 || len(r.Errors) != 0 {
		t.Errorf("answered %d, errors %v", r.Answered, r.Errors)
	}

	// Another CA: the handshake fails and Run says so.
	ca2, _, _, err := fdtest.GenerateCerts(t.TempDir(), "other.load.test")
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := ClientTLS(ca2, "", "", "")
	c, err := NewClient(ClientConfig{Addr: addr, InFlight: 1, Count: 1, TLS: bad, Mix: mustMix(t, MixConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("untrusted server: %v", err)
	}
}

// Shutdown sends DPR to the client, which answers DPA and ends its run.
func TestServerShutdown(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{})
	c, err := NewClient(ClientConfig{Addr: addr, InFlight: 2, Duration: time.Hour, Mix: mustMix(t, MixConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan *Result, 1)
	go func() {
		r, _ := c.Run(context.Background())
		res <- r
	}()
	waitFor(t, func() bool { return srv.Stats().Requests > 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v (the client did not answer DPA)", err)
	}
	r := <-res
	if r == nil || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "Disconnect-Cause 0") {
		t.Errorf("result %+v", r)
	}
}
