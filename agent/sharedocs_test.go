package agent_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// With state.backend redis, two agents' OCS share one balance: units
// debited through one agent are gone on the other.
func TestOCSSharesBalanceAcrossAgentsOnRedis(t *testing.T) {
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
  ocs:
    enabled: true
    data_dir: %[1]s/ocs
    accounts: [{type: end_user_e164, data: "15550001111", balance: {units: 1000}}]
`, t.TempDir(), r.Addr, i))
		agents[i] = a.Addrs()[0].String()
	}
	debit := func(agent int, sid string) uint32 {
		host := fmt.Sprintf("dra%d.lab.test", agent)
		c := dratest.Start(t, dratest.Options{Host: fmt.Sprintf("pgw%d.client.test", agent), Realm: "client.test",
			Dial: []peers.PeerConfig{{Identity: host, Addr: agents[agent], Connect: true}}})
		c.WaitOpen(t, host)
		ccr := dratest.Request(4, 272, sid, fmt.Sprintf("pgw%d.client.test", agent), "client.test", "lab.test", "")
		ccr = ccr.AppendStringAVP(461, wire.AVPFlagMandatory, 0, "32251@3gpp.org") // Service-Context-Id
		ccr = ccr.AppendUint32AVP(416, wire.AVPFlagMandatory, 0, 4)                // CC-Request-Type EVENT
		ccr = ccr.AppendUint32AVP(415, wire.AVPFlagMandatory, 0, 0)                // CC-Request-Number
		sub := wire.AppendUint32AVP(nil, 450, wire.AVPFlagMandatory, 0, 0)
		sub = wire.AppendStringAVP(sub, 444, wire.AVPFlagMandatory, 0, "15550001111")
		ccr = ccr.AppendAVP(443, wire.AVPFlagMandatory, 0, sub)
		ccr = ccr.AppendUint32AVP(436, wire.AVPFlagMandatory, 0, 0) // Requested-Action DIRECT_DEBITING
		units := wire.AppendAVP(nil, 417, wire.AVPFlagMandatory, 0, binary.BigEndian.AppendUint64(nil, 600))
		ccr = ccr.AppendAVP(437, wire.AVPFlagMandatory, 0, units) // Requested-Service-Unit
		return dratest.ResultCode(c.Call(t, host, ccr))
	}
	if code := debit(0, "pgw;shared;1"); code != wire.ResultSuccess {
		t.Fatalf("600 units through agent 0: %d", code)
	}
	if code := debit(1, "pgw;shared;2"); code != 4012 {
		t.Fatalf("600 more units through agent 1: %d, want 4012 DIAMETER_CREDIT_LIMIT_REACHED", code)
	}
}
