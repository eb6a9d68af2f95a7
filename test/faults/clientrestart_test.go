package faults

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/wire"
)

// rawClient is a client connection driven by hand: CER with a given
// Origin-State-Id, then requests.
type rawClient struct {
	nc net.Conn
	rd *wire.Reader
}

func dialClient(t *testing.T, addr, host string, stateID uint32) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{nc: nc, rd: wire.NewReader(nc, 0)}
	cer := wire.NewMsg(wire.FlagRequest, wire.CmdCapabilitiesExchange, 0, 1, 1)
	cer = cer.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, host)
	cer = cer.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "client.test")
	cer = cer.AppendAVP(wire.AVPHostIPAddress, wire.AVPFlagMandatory, 0, []byte{0, 1, 127, 0, 0, 1})
	cer = cer.AppendUint32AVP(wire.AVPVendorID, wire.AVPFlagMandatory, 0, 0)
	cer = cer.AppendStringAVP(wire.AVPProductName, 0, 0, "faults")
	cer = cer.AppendUint32AVP(wire.AVPOriginStateID, wire.AVPFlagMandatory, 0, stateID)
	cer = cer.AppendUint32AVP(wire.AVPAuthApplicationID, wire.AVPFlagMandatory, 0, wire.RelayAppID)
	if _, err := nc.Write(cer); err != nil {
		t.Fatal(err)
	}
	if code := dratest.ResultCode(c.next(t)); code != wire.ResultSuccess {
		t.Fatalf("CEA %d", code)
	}
	return c
}

// next returns the next message other than a DWR (answered) within 3 s.
func (c *rawClient) next(t *testing.T) wire.Msg {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		m, err := c.rd.Next()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if m.AppID() == 0 && m.Code() == wire.CmdDeviceWatchdog && m.IsRequest() {
			dwa := wire.NewMsg(0, wire.CmdDeviceWatchdog, 0, m.HopByHop(), m.EndToEnd())
			dwa = dwa.AppendUint32AVP(wire.AVPResultCode, wire.AVPFlagMandatory, 0, wire.ResultSuccess)
			dwa = dwa.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "c.client.test")
			dwa = dwa.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "client.test")
			c.nc.Write(dwa)
			continue
		}
		return m
	}
}

// TestClientRestartServedAtOnce: with Tw 30 s, a client that restarts
// (new Origin-State-Id), whether the agent still holds its old connection
// or has seen it close, has its first request on the new connection
// relayed at once: the CER/CEA is proof of life. A client that reconnects
// after a lost connection without restarting (same Origin-State-Id) is not
// routed to until its DWAs (RFC 3539 REOPEN), but its own requests are
// served too. An unlisted client is forgotten once its connection closes,
// so only a listed one can meet REOPEN.
func TestClientRestartServedAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name       string
		listed     bool // in the agent's peers (else admitted as unknown, and forgotten once closed)
		closeOld   bool
		newStateID uint32
	}{
		{"restart, old connection still open", false, false, 2},
		{"restart, old connection still open, listed client", true, false, 2},
		{"restart, old connection closed, listed client", true, true, 2},
		{"reconnect after a lost connection, same Origin-State-Id, listed client", true, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := server(t, "s.srv.test", nil)
			peerLines := dratest.DialYAML(s)
			if tt.listed {
				peerLines += "  - host: c.client.test\n"
			}
			a := dratest.StartAgent(t, fmt.Sprintf(`identity: {origin_host: %s, origin_realm: faults.test}
listen: [{address: "127.0.0.1:0"}]
accept_unknown_peers: true
%stimers: {watchdog: 30s}
routes:
  - {realm: %s, action: relay, peers: [{host: s.srv.test}]}
`, draHost, peerLines, srvRealm))
			dratest.WaitPeers(t, a, "s.srv.test")
			addr := a.Addrs()[0].String()
			call := func(c *rawClient, session string) (uint32, time.Duration) {
				t.Helper()
				req := dratest.Request(4, 272, session, "c.client.test", "client.test", srvRealm, "")
				req.SetHopByHop(7)
				req.SetEndToEnd(7)
				start := time.Now()
				if _, err := c.nc.Write(req); err != nil {
					t.Fatal(err)
				}
				ans := c.next(t)
				return dratest.ResultCode(ans), time.Since(start)
			}
			old := dialClient(t, addr, "c.client.test", 1)
			if code, _ := call(old, "c;1"); code != wire.ResultSuccess {
				t.Fatalf("first connection: %d", code)
			}
			if tt.closeOld {
				old.nc.Close()
				waitFor(t, "old connection gone", 3*time.Second, func() bool {
					p := a.Peers().Peer("c.client.test")
					return p == nil || p.Active() == nil
				})
			}
			c := dialClient(t, addr, "c.client.test", tt.newStateID)
			code, d := call(c, "c;2")
			t.Logf("first request after the new CER: %d after %s", code, d)
			if code != wire.ResultSuccess || d > time.Second {
				t.Errorf("first request after the new CER: %d after %s, want 2001 at once", code, d)
			}
			// A restarted client can be sent requests (a server's RAR) at
			// once; one that only reconnected waits for its DWAs.
			restarted := tt.newStateID != 1
			if routable := a.Peers().Peer("c.client.test").Active() != nil; routable != restarted {
				t.Errorf("client routable: %v, want %v", routable, restarted)
			}
		})
	}
}
