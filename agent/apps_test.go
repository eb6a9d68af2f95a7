package agent_test

import (
	"fmt"
	"testing"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// The three local applications, enabled from configuration, answer over
// the agent's own socket; a client that negotiated only Relay reaches them
// all.
func TestLocalApplicationsThroughTheAgent(t *testing.T) {
	dir := t.TempDir()
	a := dratest.StartAgent(t, fmt.Sprintf(`identity: {origin_host: dra.lab.test, origin_realm: lab.test}
listen: [{address: "127.0.0.1:0"}]
accept_unknown_peers: true
routes:
  - {realm: lab.test, action: local}
apps:
  cdf: {enabled: true, data_dir: %[1]s/cdf}
  ocs: {enabled: true, data_dir: %[1]s/ocs, lab_mode: true}
  aaa: {enabled: true, data_dir: %[1]s/aaa, lab: true}
`, dir))
	c := dratest.Start(t, dratest.Options{Host: "nas.client.test", Realm: "client.test",
		Dial: []peers.PeerConfig{{Identity: "dra.lab.test", Addr: a.Addrs()[0].String(), Connect: true}}})
	act := c.WaitOpen(t, "dra.lab.test")
	for _, id := range []uint32{1, 3, 4} {
		if !act.Apps.Supports(id) {
			t.Errorf("application %d not negotiated", id)
		}
	}

	acr := dratest.Request(3, 271, "nas;1;1", "nas.client.test", "client.test", "lab.test", "")
	acr = acr.AppendUint32AVP(480, wire.AVPFlagMandatory, 0, 2) // Accounting-Record-Type START
	acr = acr.AppendUint32AVP(485, wire.AVPFlagMandatory, 0, 0) // Accounting-Record-Number
	acr = acr.AppendUint32AVP(wire.AVPAcctApplicationID, wire.AVPFlagMandatory, 0, 3)
	if ans := c.Call(t, "dra.lab.test", acr); dratest.ResultCode(ans) != wire.ResultSuccess || dratest.String(ans, wire.AVPOriginHost) != "dra.lab.test" {
		t.Fatalf("ACR: %d %s", dratest.ResultCode(ans), dratest.String(ans, wire.AVPErrorMessage))
	}

	aar := dratest.Request(1, 265, "nas;1;2", "nas.client.test", "client.test", "lab.test", "")
	aar = aar.AppendUint32AVP(274, wire.AVPFlagMandatory, 0, 3) // Auth-Request-Type AUTHORIZE_AUTHENTICATE
	aar = aar.AppendStringAVP(wire.AVPUserName, wire.AVPFlagMandatory, 0, "demo")
	aar = aar.AppendStringAVP(2, wire.AVPFlagMandatory, 0, "demo") // User-Password
	ans := c.Call(t, "dra.lab.test", aar)
	if dratest.ResultCode(ans) != wire.ResultSuccess {
		t.Fatalf("AAR: %d %s", dratest.ResultCode(ans), dratest.String(ans, wire.AVPErrorMessage))
	}
	if _, ok := ans.Find(8, 0); !ok { // Framed-IP-Address
		t.Error("AAA without Framed-IP-Address")
	}

	ccr := dratest.Request(4, 272, "nas;1;3", "nas.client.test", "client.test", "lab.test", "")
	ccr = ccr.AppendStringAVP(461, wire.AVPFlagMandatory, 0, "32251@3gpp.org") // Service-Context-Id
	ccr = ccr.AppendUint32AVP(416, wire.AVPFlagMandatory, 0, 4)                // CC-Request-Type EVENT
	ccr = ccr.AppendUint32AVP(415, wire.AVPFlagMandatory, 0, 0)                // CC-Request-Number
	sub := wire.AppendUint32AVP(nil, 450, wire.AVPFlagMandatory, 0, 0)
	sub = wire.AppendStringAVP(sub, 444, wire.AVPFlagMandatory, 0, "15550001111")
	ccr = ccr.AppendAVP(443, wire.AVPFlagMandatory, 0, sub)
	ccr = ccr.AppendUint32AVP(436, wire.AVPFlagMandatory, 0, 2) // Requested-Action CHECK_BALANCE
	if ans := c.Call(t, "dra.lab.test", ccr); dratest.ResultCode(ans) != wire.ResultSuccess {
		t.Fatalf("CCR: %d %s", dratest.ResultCode(ans), dratest.String(ans, wire.AVPErrorMessage))
	}
	if a.OCS() == nil || a.CDF() == nil || a.AAA() == nil {
		t.Fatal("applications not exposed")
	}
}
