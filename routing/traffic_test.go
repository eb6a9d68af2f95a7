package routing_test

import (
	"fmt"
	"testing"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// Requests with made-up application ids and command codes are counted
// together as "other", so that they cannot grow the counters: 20,000
// distinct (application, command) pairs leave a handful of keys. Requests
// refused by validation are not counted as requests at all (their answers
// are). Before, every pair was a key and every new key copied a map shard:
// 58 s for 20,000 pairs.
func TestTrafficDistinctPairsBounded(t *testing.T) {
	srv := server(t, "srv.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(srv))+`routes:
  - {realm: a.test, action: relay, peers: [{host: srv.a.test}]}
`)
	waitPeers(t, a, "srv.a.test")
	c := client(t, a, "nas.client.test")

	const n, invalid, window = 20000, 500, 256
	chans := make([]<-chan wire.Msg, 0, window)
	wait := func() {
		for _, ch := range chans {
			<-ch
		}
		chans = chans[:0]
	}
	for i := range n {
		// Application ids 100000 and up, commands 1000000 and up: in no
		// dictionary, route or local application.
		req := dratest.Request(uint32(100000+i), uint32(1000000+i), fmt.Sprintf("nas;%d", i), "nas.client.test", "client.test", "a.test", "")
		chans = append(chans, c.Send(t, draHost, req))
		if len(chans) == window {
			wait()
		}
	}
	for i := range invalid {
		// An empty Origin-Realm: refused by validation (5004).
		req := dratest.Request(uint32(200000+i), uint32(2000000+i), fmt.Sprintf("bad;%d", i), "nas.client.test", "", "a.test", "")
		chans = append(chans, c.Send(t, draHost, req))
		if len(chans) == window {
			wait()
		}
	}
	wait()

	tr := a.Router().Traffic()
	t.Logf("%d traffic keys", tr.Keys())
	if k := tr.Keys(); k > 6 {
		t.Errorf("%d traffic keys after %d distinct application/command pairs, want at most 6", k, n+invalid)
	}
	s := tr.Snapshot()
	want := []routing.RequestCount{{App: routing.Other, Command: routing.Other, Peer: "nas.client.test", Count: n}}
	if fmt.Sprint(s.Requests) != fmt.Sprint(want) {
		t.Errorf("requests %+v, want %+v", s.Requests, want)
	}
	answers := map[string]uint64{}
	for _, r := range s.Answers {
		answers[fmt.Sprintf("%s/%d/%s/%s", routing.AppLabel(r.App), r.Command, routing.ResultLabel(r.ResultCode), r.Peer)] += r.Count
	}
	wantAnswers := map[string]uint64{
		fmt.Sprintf("other/%d/2001/srv.a.test", routing.Other): n,
		fmt.Sprintf("other/%d/5004/", routing.Other):           invalid,
	}
	if fmt.Sprint(answers) != fmt.Sprint(wantAnswers) {
		t.Errorf("answers %v, want %v", answers, wantAnswers)
	}
}
