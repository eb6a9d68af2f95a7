package peers

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/dra-project/dra/test/fdtest"
	"github.com/dra-project/dra/wire"
)

// TestTLSHandshakesCountTowardTheLimit: connections still in their TLS
// handshake hold places under MaxConnections (a flood of handshakes used
// to get past it), the handshake is bounded by the capabilities timer, and
// both refusals are counted by reason.
func TestTLSHandshakesCountTowardTheLimit(t *testing.T) {
	dir := t.TempDir()
	ca, err := fdtest.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := fdtest.GenerateLeaf(dir, ca, "b.test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	o := fastOpts("b.test")
	o.Listeners = []Listener{{Addr: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}}
	o.MaxConnections = 2
	o.CapabilitiesTimeout = 700 * time.Millisecond
	b := startNode(t, o)

	// Two clients that connect and never start the handshake.
	dialRaw(t, b.addr())
	dialRaw(t, b.addr())
	waitFor(t, "two handshakes counted", time.Second, func() bool { return b.m.nconns.Load() == 2 })
	third := dialRaw(t, b.addr())
	if !third.closed(t) {
		t.Fatal("a connection over the limit was accepted while two handshakes were pending")
	}
	waitFor(t, "limit refusal counted", time.Second, func() bool { return b.m.Unopened()["connection_limit"] == 1 })
	// The capabilities timer ends the silent handshakes and frees the places.
	waitFor(t, "handshakes timed out", 3*time.Second, func() bool {
		return b.m.Unopened()["tls_handshake"] == 2 && b.m.nconns.Load() == 0
	})
}

// TestUnopenedReasons: connections closed before their peer opened are
// counted by why.
func TestUnopenedReasons(t *testing.T) {
	o := fastOpts("b.test")
	o.CapabilitiesTimeout = 500 * time.Millisecond
	b := startNode(t, o)

	silent := dialRaw(t, b.addr())
	early := dialRaw(t, b.addr())
	early.nc.Close()
	notCER := dialRaw(t, b.addr())
	notCER.send(t, wire.NewMsg(wire.FlagRequest, wire.CmdDeviceWatchdog, 0, 1, 1))
	if !notCER.closed(t) || !silent.closed(t) {
		t.Fatal("connections not closed")
	}
	want := map[string]uint64{"cer_timeout": 1, "closed_before_cer": 1, "not_cer": 1, "connection_limit": 0, "tls_handshake": 0}
	waitFor(t, "reasons counted", 2*time.Second, func() bool {
		got := b.m.Unopened()
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	})
	if got := b.m.Unopened(); len(got) != nUnopened {
		t.Errorf("reasons %v, want all %d", got, nUnopened)
	}
}
