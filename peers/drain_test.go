package peers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/wire"
)

// TestDPRWithRequestsPending: a peer sends DPR while a request we sent it
// is pending. RFC 6733 §5.4: the DPA carries an error (messages are in
// flight), the peer may still answer until the connection closes, and only
// what is left unanswered then is failed over (PeerDown at the close, not
// at the DPR).
func TestDPRWithRequestsPending(t *testing.T) {
	o := fastOpts("b.test")
	o.Watchdog = 30 * time.Second // no DWR to get in the way
	b := startNode(t, o)
	rc := dialRaw(t, b.addr())
	raw := Local{OriginHost: "raw.test", OriginRealm: "test", ProductName: "x", Relay: true, OriginStateID: 1}
	if code := resultCode(t, rc.exchange(t, raw)); code != wire.ResultSuccess {
		t.Fatalf("CEA %d", code)
	}
	act := waitUsable(t, b, "raw.test", 3*time.Second)
	req := appRequest()
	hbh, err := act.Conn.SendRequest(req, "pending")
	if err != nil {
		t.Fatal(err)
	}
	got := rc.read(t) // req itself belongs to the connection now
	if got.HopByHop() != hbh || !got.IsRequest() {
		t.Fatalf("read %d/%v, want the request %d", got.HopByHop(), got.IsRequest(), hbh)
	}

	rc.send(t, builder{l: &raw}.dpr(CauseRebooting, 99, 99))
	dpa := rc.read(t)
	if dpa.Code() != wire.CmdDisconnectPeer || dpa.IsRequest() || dpa.HopByHop() != 99 {
		t.Fatalf("read command %d request %v hbh %d, want the DPA", dpa.Code(), dpa.IsRequest(), dpa.HopByHop())
	}
	if code := resultCode(t, dpa); code != wire.ResultUnableToComply {
		t.Errorf("DPA Result-Code %d with a request in flight, want 5012 (RFC 6733 §5.4)", code)
	}
	if msg, _ := dpa.Find(wire.AVPErrorMessage, 0); !strings.Contains(string(msg.Data), "1 requests") {
		t.Errorf("DPA Error-Message %q", msg.Data)
	}
	if st, _ := b.m.Peer("raw.test").State(); st != StateClosing {
		t.Errorf("state %s after DPR, want Closing", st)
	}
	if b.m.Peer("raw.test").Active() != nil {
		t.Error("a peer that sent DPR is still routed to")
	}
	if n := b.rec.downCount(); n != 0 {
		t.Errorf("PeerDown at the DPR (%d): the pending request is failed over before the peer could answer it", n)
	}

	// The peer still answers, then closes as the DPA receiver does.
	ans := wire.NewMsg(wire.FlagProxiable, got.Code(), got.AppID(), hbh, got.EndToEnd())
	ans = ans.AppendUint32AVP(wire.AVPResultCode, wire.AVPFlagMandatory, 0, wire.ResultSuccess)
	rc.send(t, ans)
	select {
	case m := <-b.rec.got:
		if m.IsRequest() || m.HopByHop() != hbh {
			t.Errorf("handler got %d/%v, want the answer %d", m.HopByHop(), m.IsRequest(), hbh)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the answer sent after the DPR was not delivered")
	}
	rc.nc.Close()
	waitFor(t, "PeerDown when the connection closes", 2*time.Second, func() bool { return b.rec.downCount() == 1 })

	// An orderly disconnect: the peer's next connection is usable at once.
	rc2 := dialRaw(t, b.addr())
	if code := resultCode(t, rc2.exchange(t, raw)); code != wire.ResultSuccess {
		t.Fatalf("CEA %d", code)
	}
	if _, wd := b.m.Peer("raw.test").State(); wd != WatchdogOkay {
		t.Errorf("watchdog %s after reconnecting from a DPR, want OKAY", wd)
	}
}

// TestDisconnectDrainsFirst: an operator disconnect (and a shutdown)
// takes the connection out of routing at once, refuses the peer's new
// requests with 3002, lets the pending requests be answered, and only then
// sends DPR; a shutdown ends within the disconnect timer.
func TestDisconnectDrainsFirst(t *testing.T) {
	for _, tt := range []struct {
		name string
		stop func(*testing.T, *testNode) error
		why  string
	}{
		{"disconnect", func(_ *testing.T, n *testNode) error { return n.m.Disconnect("raw.test") }, "peer being disconnected"},
		{"shutdown", func(t *testing.T, n *testNode) error {
			go n.m.Shutdown(context.Background())
			waitFor(t, "draining", time.Second, func() bool { return n.m.Peer("raw.test").Active() == nil })
			return nil
		}, "agent shutting down"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := fastOpts("b.test")
			o.Watchdog = 30 * time.Second
			o.DisconnectTimeout = 2 * time.Second
			b := startNode(t, o)
			rc := dialRaw(t, b.addr())
			raw := Local{OriginHost: "raw.test", OriginRealm: "test", ProductName: "x", Relay: true, OriginStateID: 1}
			if code := resultCode(t, rc.exchange(t, raw)); code != wire.ResultSuccess {
				t.Fatalf("CEA %d", code)
			}
			act := waitUsable(t, b, "raw.test", 3*time.Second)
			req := appRequest()
			hbh, err := act.Conn.SendRequest(req, "pending")
			if err != nil {
				t.Fatal(err)
			}
			got := rc.read(t) // req itself belongs to the connection now
			start := time.Now()
			if err := tt.stop(t, b); err != nil {
				t.Fatal(err)
			}
			if b.m.Peer("raw.test").Active() != nil {
				t.Error("a draining connection is still routed to")
			}
			// The peer's new request is refused, with the reason.
			rc.send(t, wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, wire.CmdCreditControl, capAppCC, 5, 6).
				AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "raw.test;2"))
			refusal := rc.read(t)
			if code := resultCode(t, refusal); code != wire.ResultUnableToDeliver || refusal.HopByHop() != 5 {
				t.Errorf("new request while draining: %d (hbh %d), want 3002", code, refusal.HopByHop())
			}
			if msg, _ := refusal.Find(wire.AVPErrorMessage, 0); string(msg.Data) != tt.why {
				t.Errorf("Error-Message %q, want %q", msg.Data, tt.why)
			}
			// No DPR while the request is pending: the answer goes first.
			time.Sleep(100 * time.Millisecond)
			if st, _ := b.m.Peer("raw.test").State(); !st.Open() {
				t.Fatalf("state %s with a request pending: DPR sent before its answer", st)
			}
			ans := wire.NewMsg(wire.FlagProxiable, got.Code(), got.AppID(), hbh, got.EndToEnd())
			ans = ans.AppendUint32AVP(wire.AVPResultCode, wire.AVPFlagMandatory, 0, wire.ResultSuccess)
			answered := time.Now()
			rc.send(t, ans)
			dpr := rc.read(t)
			if dpr.Code() != wire.CmdDisconnectPeer || !dpr.IsRequest() {
				t.Fatalf("read command %d, want DPR", dpr.Code())
			}
			if d := time.Since(answered); d > 500*time.Millisecond {
				t.Errorf("DPR %s after the last answer: the drain waited for its bound", d)
			}
			rc.send(t, builder{l: &raw}.dpa(dpr))
			if !rc.closed(t) {
				t.Error("connection not closed after the DPA")
			}
			if d := time.Since(start); d > o.DisconnectTimeout {
				t.Errorf("disconnected after %s, beyond the disconnect timer %s", d, o.DisconnectTimeout)
			}
		})
	}
}

// TestShutdownClosesSilentConnections: a connection that has sent no CER
// holds nothing pending; it must not hold a shutdown up until the
// capabilities timer.
func TestShutdownClosesSilentConnections(t *testing.T) {
	o := fastOpts("b.test")
	o.CapabilitiesTimeout = 10 * time.Second
	b := startNode(t, o)
	rc := dialRaw(t, b.addr())
	waitFor(t, "connection accepted", time.Second, func() bool { return b.m.nconns.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := b.m.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if d := time.Since(start); d > o.DisconnectTimeout {
		t.Errorf("shutdown took %s with a silent connection, beyond the disconnect timer %s", d, o.DisconnectTimeout)
	}
	if !rc.closed(t) {
		t.Error("silent connection left open")
	}
}
