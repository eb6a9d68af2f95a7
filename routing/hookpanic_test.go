package routing_test

import (
	"strings"
	"testing"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// TestPanickingHooksAnswered: a policy hook that panics on the answer
// path (reader goroutines, the timer wheel, failover), where no recoverer
// runs, costs the request a 5012 from the agent, is counted and logged,
// and the agent goes on serving.
func TestPanickingHooksAnswered(t *testing.T) {
	stalled := server(t, "stalled.a.test", "a.test", func(*dratest.Node, wire.Msg) wire.Msg { return nil })
	backup := server(t, "backup.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(stalled, backup))+`routes:
  - realm: a.test
    action: relay
    peers: [{host: backup.a.test}]
  - realm: slow.test
    action: relay
    timeout: 200ms
    peers: [{host: stalled.a.test, priority: 1}, {host: backup.a.test, priority: 2}]
`)
	waitPeers(t, a, "stalled.a.test", "backup.a.test")
	c := client(t, a, "pgw.client.test")
	sid := func(r *routing.Request) string { return string(r.SessionID()) }
	a.Router().SetHooks(&routing.Hooks{
		Peer: func(r *routing.Request, _ *peers.Active) bool {
			if sid(r) == "boom;peer" || (sid(r) == "boom;retry" && r.Tried() > 0) {
				panic("peer hook")
			}
			return true
		},
		Egress: func(r *routing.Request, _ *peers.Active, out wire.Msg) wire.Msg {
			if sid(r) == "boom;egress" {
				wire.PutBuf(out)
				panic("egress hook")
			}
			return out
		},
		Answer: func(r *routing.Request, from *peers.Peer, ans wire.Msg) wire.Msg {
			switch {
			case sid(r) == "boom;relayed" && from != nil:
				wire.PutBuf(ans) // a hook that released the answer before failing
				panic("answer hook")
			case sid(r) == "boom;local" && from == nil:
				panic("answer hook on the agent's answer")
			}
			return ans
		},
	})
	tests := []struct {
		sid, realm string
		code       uint32
	}{
		{"boom;relayed", "a.test", wire.ResultUnableToComply},
		{"boom;local", "nowhere.test", wire.ResultUnableToComply},
		{"boom;egress", "a.test", wire.ResultUnableToComply},
		{"boom;peer", "a.test", wire.ResultUnableToDeliver},
		// Tx expires on the stalled server; the retry runs on the timer
		// wheel and its Peer hook panics.
		{"boom;retry", "slow.test", wire.ResultUnableToDeliver},
		{"fine;1", "a.test", wire.ResultSuccess},
	}
	st := a.Router().Stats()
	for _, tt := range tests {
		t.Run(tt.sid, func(t *testing.T) {
			before := st.Panics.Load()
			ans := c.Call(t, draHost, dratest.Request(4, ccr, tt.sid, "pgw.client.test", "client.test", tt.realm, ""))
			if got := dratest.ResultCode(ans); got != tt.code {
				t.Fatalf("Result-Code %d (%s), want %d", got, dratest.String(ans, wire.AVPErrorMessage), tt.code)
			}
			if got := dratest.String(ans, wire.AVPSessionID); got != tt.sid {
				t.Errorf("Session-Id %q", got)
			}
			if tt.code == wire.ResultUnableToComply && dratest.String(ans, wire.AVPOriginHost) != draHost {
				t.Errorf("5012 from %q, want the agent", dratest.String(ans, wire.AVPOriginHost))
			}
			wantPanics := uint64(1)
			if !strings.HasPrefix(tt.sid, "boom;") {
				wantPanics = 0
			}
			if got := st.Panics.Load() - before; got != wantPanics {
				t.Errorf("%d panics counted, want %d", got, wantPanics)
			}
		})
	}
}

// TestPanickingOriginatorCallback: the callback of a request the agent
// originated runs on the reader goroutine of the connection its answer
// came on; a panic there is recovered and counted.
func TestPanickingOriginatorCallback(t *testing.T) {
	a := startAgent(t, "accept_unknown_peers: true\n")
	c := client(t, a, "pgw.client.test")
	st := a.Router().Stats()
	before := st.Panics.Load()
	got := make(chan wire.Msg, 1)
	a.Router().Originate(dratest.Request(4, 258, "dra;p;1", draHost, draRealm, "client.test", "pgw.client.test"), func(m wire.Msg) {
		got <- m
		panic("originator callback")
	})
	if m := <-got; dratest.ResultCode(m) != wire.ResultSuccess {
		t.Fatalf("answer %d", dratest.ResultCode(m))
	}
	// The agent still relays, and counted the panic.
	a.Router().Originate(dratest.Request(4, 258, "dra;p;2", draHost, draRealm, "client.test", "pgw.client.test"), func(m wire.Msg) { got <- m })
	if m := <-got; dratest.ResultCode(m) != wire.ResultSuccess {
		t.Fatalf("answer %d after the panic", dratest.ResultCode(m))
	}
	if n := st.Panics.Load() - before; n != 1 {
		t.Errorf("%d panics counted, want 1", n)
	}
	if c.Count() != 2 {
		t.Errorf("client received %d requests", c.Count())
	}
}
