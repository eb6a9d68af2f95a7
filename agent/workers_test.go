package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dra-project/dra/apps/aaa"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// apps.<app>.workers and queue size each local application's own workers.
// With the AAA given one worker and a queue of one, a burst of AARs
// checking real PBKDF2 passwords is mostly refused 3004 at once, and the
// ACRs behind it are answered by the CDF's workers without waiting for
// the AAA. Before, the keys did not exist and the burst took its share of
// 64 workers shared with the CDF and the OCS.
func TestLocalApplicationWorkersFromConfig(t *testing.T) {
	dir := t.TempDir()
	hash, err := aaa.HashPassword("secret", 200000) // tens of ms per check
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("alice "+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := dratest.StartAgent(t, fmt.Sprintf(`identity: {origin_host: dra.lab.test, origin_realm: lab.test}
listen: [{address: "127.0.0.1:0"}]
accept_unknown_peers: true
routes:
  - {realm: lab.test, action: local}
apps:
  cdf: {enabled: true, data_dir: %[1]s/cdf, workers: 2}
  aaa: {enabled: true, data_dir: %[1]s/aaa, users_file: %[2]s, workers: 1, queue: 1}
`, dir, users))
	c := dratest.Start(t, dratest.Options{Host: "nas.client.test", Realm: "client.test",
		Dial: []peers.PeerConfig{{Identity: "dra.lab.test", Addr: a.Addrs()[0].String(), Connect: true}}})
	c.WaitOpen(t, "dra.lab.test")
	if q := a.Router().LocalQueues(); len(q) != 2 || q[0].App != 1 || q[0].Workers != 1 || q[0].Capacity != 1 || q[1].App != 3 || q[1].Workers != 2 {
		t.Errorf("local queues before any request %+v, want the AAA's and the CDF's, idle", q)
	}

	const burst = 10
	aars := make([]<-chan wire.Msg, burst)
	for i := range aars {
		aar := dratest.Request(1, 265, fmt.Sprintf("nas;aar;%d", i), "nas.client.test", "client.test", "lab.test", "")
		aar = aar.AppendUint32AVP(274, wire.AVPFlagMandatory, 0, 3) // Auth-Request-Type AUTHORIZE_AUTHENTICATE
		aar = aar.AppendStringAVP(wire.AVPUserName, wire.AVPFlagMandatory, 0, "alice")
		aar = aar.AppendStringAVP(2, wire.AVPFlagMandatory, 0, "secret") // User-Password
		aars[i] = c.Send(t, "dra.lab.test", aar)
	}
	for i := range 5 {
		acr := dratest.Request(3, 271, fmt.Sprintf("nas;acr;%d", i), "nas.client.test", "client.test", "lab.test", "")
		acr = acr.AppendUint32AVP(480, wire.AVPFlagMandatory, 0, 2) // Accounting-Record-Type START
		acr = acr.AppendUint32AVP(485, wire.AVPFlagMandatory, 0, 0) // Accounting-Record-Number
		acr = acr.AppendUint32AVP(wire.AVPAcctApplicationID, wire.AVPFlagMandatory, 0, 3)
		start := time.Now()
		select {
		case ans := <-c.Send(t, "dra.lab.test", acr):
			if code := dratest.ResultCode(ans); code != wire.ResultSuccess {
				t.Fatalf("ACR answered %d %s", code, dratest.String(ans, wire.AVPErrorMessage))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ACR not answered within 5 s")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("ACR %d answered in %v behind the AARs", i, d)
		}
	}
	codes := map[uint32]int{}
	for i, ch := range aars {
		select {
		case ans := <-ch:
			code := dratest.ResultCode(ans)
			codes[code]++
			if code == wire.ResultTooBusy && dratest.String(ans, wire.AVPErrorMessage) == "" {
				t.Errorf("AAR %d: 3004 without Error-Message", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("AAR %d not answered", i)
		}
	}
	// One in service and one queued at most; the rest refused.
	if codes[wire.ResultSuccess] < 1 || codes[wire.ResultSuccess] > 2 || codes[wire.ResultTooBusy] != burst-codes[wire.ResultSuccess] {
		t.Errorf("AAR answers by Result-Code %v, want 1 or 2 of 2001 and the rest 3004", codes)
	}
	q := a.Router().LocalQueues()
	if len(q) != 2 || q[0].App != 1 || q[0].Workers != 1 || q[0].Capacity != 1 || q[1].App != 3 || q[1].Workers != 2 || q[1].Capacity != 4096 {
		t.Errorf("local queues %+v, want the AAA with 1 worker and 1 place, the CDF with 2 and 4096", q)
	}
}
