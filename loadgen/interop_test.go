package loadgen

import (
	"slices"
	"testing"
	"time"

	"github.com/dra-project/dra/test/fdtest"
)

// The client against freeDiameter, an independent implementation: CER/CEA
// open the connections, every request gets an answer (freeDiameter serves
// no application here, so the answers are errors: the codes are logged),
// and the DPR at the end is answered with a DPA.
func TestFreeDiameterInterop(t *testing.T) {
	fd := fdtest.Start(t, fdtest.Config{Identity: "fd1.fd.test", TwTimer: 6,
		Peers: []fdtest.Peer{{Identity: "load-1.load.test"}, {Identity: "load-2.load.test"}}})
	for _, tc := range []struct {
		mix       MixConfig
		inFlight  int
		rate      float64
		count     int64
		destRealm string
	}{
		// freeDiameter 1.2.1 answers 3002 DIAMETER_UNABLE_TO_DELIVER both
		// for its own realm (no application extension loaded) and for
		// another realm (no route).
		{MixConfig{Name: MixGeneric}, 20, 0, 400, "fd.test"},
		{MixConfig{Name: MixCCR}, 0, 2000, 200, "elsewhere.test"},
		{MixConfig{Name: MixACR, Updates: 1}, 10, 0, 99, "fd.test"},
		{MixConfig{Name: MixAAR}, 10, 0, 100, "fd.test"},
	} {
		tc.mix.DestRealm = tc.destRealm
		mark := fd.Mark()
		r := run(t, ClientConfig{Addr: fd.Addr(), Conns: 2, InFlight: tc.inFlight, Rate: tc.rate, Count: tc.count,
			Timeout: 5 * time.Second, Mix: mustMix(t, tc.mix)})
		t.Logf("%s to %s: sent %d, answered %d, result codes %v, p50 %v p99 %v",
			tc.mix.Name, tc.destRealm, r.Sent, r.Answered, r.ResultCodes, r.Latency.P50, r.Latency.P99)
		if r.Sent != uint64(tc.count) || r.Answered != r.Sent || r.Unanswered != 0 || r.Late != 0 {
			t.Errorf("%s: sent %d answered %d unanswered %d late %d", tc.mix.Name, r.Sent, r.Answered, r.Unanswered, r.Late)
		}
		if r.Peer != "fd1.fd.test" || r.PeerProduct != "freeDiameter" {
			t.Errorf("peer %q %q", r.Peer, r.PeerProduct)
		}
		// No error: in particular each DPR got its DPA in time.
		if len(r.Errors) != 0 {
			t.Errorf("%s: errors %v", tc.mix.Name, r.Errors)
		}
		if _, ok := r.ResultCodes[0]; ok {
			t.Errorf("%s: answers without a result code", tc.mix.Name)
		}
		fd.WaitLogSince(t, mark, `Peer 'load-1.load.test' sent a DPR with cause: REBOOTING`, 5*time.Second)
		fd.WaitLogSince(t, mark, `Peer 'load-2.load.test' sent a DPR with cause: REBOOTING`, 5*time.Second)
	}
	if states := fd.PeerStates("load-1.load.test"); !slices.Contains(states, fdtest.StateOpen) {
		t.Errorf("freeDiameter states for load-1: %v", states)
	}
}
