package peers

import (
	"net"
	"testing"
	"time"
)

// TestFirstRedialsComeSoon: a server that is down when the peer is first
// dialled is retried within seconds, not after a whole Tc (30 s here), and
// the connect error shown for the peer is cleared once it opens.
func TestFirstRedialsComeSoon(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there yet

	ao := fastOpts("a.test")
	ao.Listeners = nil
	ao.Reconnect, ao.ReconnectMax = 30*time.Second, 5*time.Minute
	ao.Peers = []PeerConfig{{Identity: "b.test", Addr: addr, Connect: true}}
	a := startNode(t, ao)
	waitFor(t, "the refused dial", 2*time.Second, func() bool {
		in, ok := a.m.Table().Get("b.test")
		return ok && in.LastError != ""
	})

	bo := fastOpts("b.test")
	bo.Listeners = []Listener{{Addr: addr}}
	startNode(t, bo)
	start := time.Now()
	in := waitState(t, a, "b.test", StateIOpen, 8*time.Second)
	t.Logf("open %s after the server came up", time.Since(start).Round(time.Millisecond))
	if in.LastError != "" {
		t.Errorf("stale last error on the open peer: %q", in.LastError)
	}
}
