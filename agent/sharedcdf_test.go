package agent_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dra-project/dra/apps/cdf"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// With state.backend redis, two agents' CDFs keep one accounting session
// per Session-Id and write each record once: a START through agent 0 and
// its INTERIM and STOP through agent 1 are answered 2001 (not 5002), and
// each record's retransmission to the other agent is answered 2001
// without a second CDR in either agent's journal.
func TestCDFSharesSessionsAcrossAgentsOnRedis(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	dirs := make([]string, 2)
	clients := make([]*dratest.Node, 2)
	for i := range dirs {
		dirs[i] = filepath.Join(t.TempDir(), "cdf")
		a := dratest.StartAgent(t, fmt.Sprintf(`identity: {origin_host: dra%[3]d.lab.test, origin_realm: lab.test}
listen: [{address: "127.0.0.1:0"}]
accept_unknown_peers: true
routes:
  - {realm: lab.test, action: local}
state:
  backend: redis
  redis: {addrs: ["%[2]s"], timeout: 2s}
apps:
  cdf: {enabled: true, data_dir: %[1]s}
`, dirs[i], r.Addr, i))
		host := fmt.Sprintf("dra%d.lab.test", i)
		clients[i] = dratest.Start(t, dratest.Options{Host: fmt.Sprintf("pgw%d.client.test", i), Realm: "client.test",
			Dial: []peers.PeerConfig{{Identity: host, Addr: a.Addrs()[0].String(), Connect: true}}})
		clients[i].WaitOpen(t, host)
	}
	const sid = "pgw;agents;1"
	acr := func(agent int, typ, num uint32, resent bool) uint32 {
		m := dratest.Request(cdf.AppID, wire.CmdAccounting, sid, fmt.Sprintf("pgw%d.client.test", agent), "client.test", "lab.test", "")
		m = m.AppendUint32AVP(480, wire.AVPFlagMandatory, 0, typ) // Accounting-Record-Type
		m = m.AppendUint32AVP(485, wire.AVPFlagMandatory, 0, num) // Accounting-Record-Number
		m = m.AppendUint32AVP(259, wire.AVPFlagMandatory, 0, cdf.AppID)
		if resent {
			m.SetFlags(m.Flags() | wire.FlagRetransmit)
		}
		return dratest.ResultCode(clients[agent].Call(t, fmt.Sprintf("dra%d.lab.test", agent), m))
	}
	for _, step := range []struct {
		name     string
		agent    int
		typ, num uint32
	}{
		{"START through agent 0", 0, cdf.StartRecord, 0},
		{"INTERIM through agent 1", 1, cdf.InterimRecord, 1},
		{"STOP through agent 1", 1, cdf.StopRecord, 2},
	} {
		if code := acr(step.agent, step.typ, step.num, false); code != wire.ResultSuccess {
			t.Fatalf("%s: %d", step.name, code)
		}
		if code := acr(1-step.agent, step.typ, step.num, true); code != wire.ResultSuccess {
			t.Fatalf("%s resent to the other agent: %d", step.name, code)
		}
	}
	count := map[uint32]int{}
	for _, d := range dirs {
		if err := cdf.ReadJournal(d, func(r cdf.Record) error { count[r.RecordNumber]++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for num := range uint32(3) {
		if count[num] != 1 {
			t.Errorf("record %d: %d CDRs across both journals, want 1", num, count[num])
		}
	}
}
