package interop

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/test/fdtest"
)

// freeDiameter dials the agent: CER/CEA succeed on both sides, the
// negotiated application is Relay, and watchdogs flow both ways.
func TestFreeDiameterDialsAgent(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	fd := fdtest.Start(t, fdtest.Config{Identity: "fd1.fd.test", TwTimer: 6,
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a)}}})
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 10*time.Second)
	in := waitPeer(t, a, "fd1.fd.test", 5*time.Second, isOpen)
	if in.Role != "responder" || in.ProductName != "freeDiameter" || in.Realm != "fd.test" {
		t.Errorf("peer row: %+v", in)
	}
	if len(in.Apps) != 1 || in.Apps[0] != 0xffffffff {
		t.Errorf("negotiated %v, want Relay", in.Apps)
	}
	// Within one Tw (6 s, ±2 s jitter on both sides) watchdog messages cross.
	// (freeDiameter logs an answer to its own request as "(no model)0/280".)
	fd.WaitLog(t, `RCV from '`+draHost+`': .*0/280 `, 20*time.Second)
	fd.WaitLog(t, `SENT to '`+draHost+`': .*0/280 `, 20*time.Second)
	if st, wd := a.Peers().Peer("fd1.fd.test").State(); !st.Open() || wd != peers.WatchdogOkay {
		t.Errorf("after watchdogs: %s/%s", st, wd)
	}
}

// The agent dials freeDiameter and keeps the connection.
func TestAgentDialsFreeDiameter(t *testing.T) {
	t.Parallel()
	fd := fdtest.Start(t, fdtest.Config{Identity: "fd2.fd.test", Peers: []fdtest.Peer{{Identity: draHost}}})
	a := startAgent(t, "peers:\n  - host: fd2.fd.test\n    realm: fd.test\n    connect: true\n    address: "+fd.Addr()+"\n")
	in := waitPeer(t, a, "fd2.fd.test", 10*time.Second, isOpen)
	if in.Role != "initiator" {
		t.Errorf("role %q", in.Role)
	}
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 5*time.Second)
}

// A freeDiameter node that advertises no application (NoRelay, and no
// application extension) has nothing in common with the agent: 5010.
func TestNoCommonApplication(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	fd := fdtest.Start(t, fdtest.Config{Identity: "fd3.fd.test", NoRelay: true,
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a)}}})
	fd.WaitLog(t, `DIAMETER_NO_COMMON_APPLICATION' \(5010`, 10*time.Second)
	if _, ok := a.Peers().Table().Get("fd3.fd.test"); ok {
		t.Error("refused peer is in the peer table")
	}
	if st := fd.PeerState(draHost); st == fdtest.StateOpen {
		t.Error("freeDiameter reports the connection open")
	}
}

// With accept_unknown_peers off, an unlisted peer gets 3010.
func TestUnknownPeerRefused(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "accept_unknown_peers: false\npeers:\n  - host: someone.else.test\n")
	fd := fdtest.Start(t, fdtest.Config{Identity: "fd4.fd.test",
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a)}}})
	fd.WaitLog(t, `DIAMETER_UNKNOWN_PEER' \(3010`, 10*time.Second)
	if st := fd.PeerState(draHost); st == fdtest.StateOpen {
		t.Error("freeDiameter reports the connection open")
	}
}

// On shutdown the agent sends DPR (REBOOTING) and freeDiameter answers DPA
// promptly, so shutdown does not wait for the disconnect timer.
func TestAgentShutdownSendsDPR(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "timers:\n  watchdog: 6s\n  reconnect: 1s\n  reconnect_max: 2s\n  disconnect: 4s\n")
	fd := fdtest.Start(t, fdtest.Config{Identity: "fd5.fd.test",
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a)}}})
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 10*time.Second)
	waitPeer(t, a, "fd5.fd.test", 5*time.Second, isOpen)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %s: the DPA did not arrive", d)
	}
	fd.WaitLog(t, `Peer '`+draHost+`' sent a DPR with cause: REBOOTING`, 5*time.Second)
	fd.WaitLog(t, `SENT to '`+draHost+`': 'Disconnect-Peer-Answer'`, 5*time.Second)
}

// freeDiameter's own shutdown DPR is answered by the agent, which then
// shows the peer closed with the cause.
func TestFreeDiameterShutdownDPRAnswered(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "peers:\n  - host: fd6.fd.test\n")
	fd := fdtest.Start(t, fdtest.Config{Identity: "fd6.fd.test",
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a)}}})
	waitPeer(t, a, "fd6.fd.test", 10*time.Second, isOpen)
	// The agent is open once its CEA is sent; freeDiameter only once it
	// has read it, and a freeDiameter stopped before that closes without
	// DPR.
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 10*time.Second)
	start := time.Now()
	fd.StopWithin(8 * time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("freeDiameter needed %s to stop: our DPA did not arrive", d)
	}
	in := waitPeer(t, a, "fd6.fd.test", 5*time.Second, func(in *peers.PeerInfo) bool { return in.State == peers.StateClosed })
	if !strings.Contains(in.LastError, "DPR received (REBOOTING)") {
		t.Errorf("last error %q", in.LastError)
	}
}
