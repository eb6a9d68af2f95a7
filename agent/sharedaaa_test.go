package agent_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// With state.backend redis, two agents' AAA share one address pool and
// their sessions: an address granted through one agent is not granted
// through the other, the session's STR through the other agent ends it,
// and its address is granted again.
func TestAAASharesPoolAcrossAgentsOnRedis(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	agents := make([]string, 2)
	for i := range agents {
		a := dratest.StartAgent(t, fmt.Sprintf(`identity: {origin_host: dra%[3]d.lab.test, origin_realm: lab.test}
listen: [{address: "127.0.0.1:0"}]
accept_unknown_peers: true
routes:
  - {realm: lab.test, action: local}
state:
  backend: redis
  redis: {addrs: ["%[2]s"], timeout: 2s}
apps:
  aaa:
    enabled: true
    lab: true
    data_dir: %[1]s/aaa
    pool: 10.7.0.0/30
`, t.TempDir(), r.Addr, i))
		agents[i] = a.Addrs()[0].String()
	}
	clients := make([]*dratest.Node, 2)
	for i := range clients {
		host := fmt.Sprintf("dra%d.lab.test", i)
		clients[i] = dratest.Start(t, dratest.Options{Host: fmt.Sprintf("nas%d.client.test", i), Realm: "client.test",
			Dial: []peers.PeerConfig{{Identity: host, Addr: agents[i], Connect: true}}})
		clients[i].WaitOpen(t, host)
	}
	call := func(agent int, cmd uint32, sid string) (uint32, netip.Addr) {
		m := dratest.Request(1, cmd, sid, fmt.Sprintf("nas%d.client.test", agent), "client.test", "lab.test", "")
		if cmd == 265 {
			m = m.AppendUint32AVP(274, wire.AVPFlagMandatory, 0, 3) // Auth-Request-Type AUTHORIZE_AUTHENTICATE
			m = m.AppendStringAVP(1, wire.AVPFlagMandatory, 0, "demo")
			m = m.AppendStringAVP(2, wire.AVPFlagMandatory, 0, "demo")
		} else {
			m = m.AppendUint32AVP(295, wire.AVPFlagMandatory, 0, 1) // Termination-Cause LOGOUT
		}
		a := clients[agent].Call(t, fmt.Sprintf("dra%d.lab.test", agent), m)
		var ip netip.Addr
		if f, ok := a.Find(8, 0); ok { // Framed-IP-Address
			ip, _ = netip.AddrFromSlice(f.Data)
		}
		return dratest.ResultCode(a), ip
	}
	code0, ip0 := call(0, 265, "nas;shared;1")
	code1, ip1 := call(1, 265, "nas;shared;2")
	if code0 != wire.ResultSuccess || code1 != wire.ResultSuccess || ip0 == ip1 {
		t.Fatalf("AARs through the two agents: %d %v, %d %v", code0, ip0, code1, ip1)
	}
	if code, _ := call(1, 265, "nas;shared;3"); code != wire.ResultUnableToComply {
		t.Fatalf("third AAR on a pool of two: %d, want 5012", code)
	}
	if code, _ := call(1, 275, "nas;shared;1"); code != wire.ResultSuccess {
		t.Fatalf("STR through the other agent: %d", code)
	}
	if code, ip := call(0, 265, "nas;shared;4"); code != wire.ResultSuccess || ip != ip0 {
		t.Fatalf("AAR after the STR: %d %v, want %v", code, ip, ip0)
	}
}
