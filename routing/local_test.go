package routing_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// Each local application has its own workers: a burst of slow AARs (the
// AAA checks PBKDF2 passwords at ~100 ms each; here they wait until
// released) holds none of the workers CCRs need, and AARs beyond the AAA's
// queue are answered 3004 DIAMETER_TOO_BUSY with an Error-Message at once
// rather than waiting. Before, the applications shared 64 workers: the
// burst occupied all of them and the CCRs waited behind it.
func TestSlowLocalApplicationDoesNotDelayOthers(t *testing.T) {
	a := startAgent(t, "accept_unknown_peers: true\nroutes:\n  - {name: here, realm: local.test, action: local}\n")
	c := client(t, a, "nas.client.test")
	rt := a.Router()

	release := make(chan struct{})
	answer := func(r *routing.Request) routing.Answer {
		return wire.ErrorAnswer(r.Msg, wire.ErrorSpec{OriginHost: draHost, OriginRealm: draRealm, ResultCode: wire.ResultSuccess})
	}
	slow := routing.HandlerFunc(func(_ context.Context, r *routing.Request) (routing.Answer, error) {
		<-release
		return answer(r), nil
	})
	fast := routing.HandlerFunc(func(_ context.Context, r *routing.Request) (routing.Answer, error) {
		return answer(r), nil
	})
	const aaaWorkers, aaaQueue = 4, 16
	rt.Update(rt.Table(), routing.Options{
		Local:      map[uint32]routing.Handler{1: slow, 4: fast},
		LocalPools: map[uint32]routing.LocalPool{1: {Workers: aaaWorkers, Queue: aaaQueue}, 4: {Workers: 4}},
		Logger:     dratest.Logger(t, 0),
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	// 200 AARs of distinct sessions: far more than the 64 shared workers
	// there were, and than the AAA's workers and queue.
	const burst = 200
	aars := make([]<-chan wire.Msg, burst)
	for i := range aars {
		aars[i] = c.Send(t, draHost, dratest.Request(1, 265, fmt.Sprintf("nas;aar;%d", i), "nas.client.test", "client.test", "local.test", ""))
	}
	// A CCR behind them on the same connection is answered at once. The
	// agent reads in order and answers a refused request from the reader,
	// so by then every AAR has been queued or refused, and the refusals
	// have arrived (in order, on the same connection).
	ccrs := 0
	ccr := func() {
		t.Helper()
		start := time.Now()
		ch := c.Send(t, draHost, dratest.Request(4, 272, fmt.Sprintf("nas;ccr;%d", ccrs), "nas.client.test", "client.test", "local.test", ""))
		ccrs++
		select {
		case ans := <-ch:
			if code := dratest.ResultCode(ans); code != wire.ResultSuccess {
				t.Fatalf("CCR answered %d", code)
			}
		case <-time.After(time.Second):
			t.Fatalf("CCR not answered within 1 s while the AAA is stalled (%d AARs waiting)", rt.LocalQueued())
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("CCR answered in %v", d)
		}
	}
	ccr()
	busy := 0
	var pending []int
	for i, ch := range aars {
		select {
		case ans := <-ch:
			if code := dratest.ResultCode(ans); code != wire.ResultTooBusy || dratest.String(ans, wire.AVPErrorMessage) == "" {
				t.Fatalf("AAR %d answered %d %q while the AAA is stalled, want 3004 with an Error-Message", i, code, dratest.String(ans, wire.AVPErrorMessage))
			}
			busy++
		default:
			pending = append(pending, i)
		}
	}
	if held := len(pending); held == 0 || held > aaaWorkers+aaaQueue {
		t.Errorf("%d AARs held by the AAA, want 1 to %d (its workers and queue)", held, aaaWorkers+aaaQueue)
	}
	// And so are more CCRs, while the AAA is still stalled.
	for range 50 {
		ccr()
	}
	if q := rt.LocalQueues(); len(q) != 2 || q[0].App != 1 || q[0].Workers != aaaWorkers || q[0].Busy != uint64(busy) || q[1].App != 4 || q[1].Workers != 4 {
		t.Errorf("local queues %+v", q)
	}

	// Released, every AAR held is served.
	close(release)
	for _, i := range pending {
		select {
		case ans := <-aars[i]:
			if code := dratest.ResultCode(ans); code != wire.ResultSuccess {
				t.Errorf("AAR %d answered %d once released", i, code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("AAR %d not answered once released", i)
		}
	}
	if n := rt.Shed(routing.ShedLocalQueue); n != uint64(busy) {
		t.Errorf("%d requests counted as shed (local_queue), want %d", n, busy)
	}
}
