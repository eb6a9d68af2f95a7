package peers

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/wire"
)

// echoHandler answers every request at once on its connection, as the
// router does, and records the largest answer backlog it saw and any send
// error other than ErrClosed.
type echoHandler struct {
	maxOwed atomic.Int64
	served  atomic.Int64
	mu      sync.Mutex
	errs    []error
}

func (h *echoHandler) HandleMessage(p *Peer, c *Conn, m wire.Msg) {
	if !m.IsRequest() {
		wire.PutBuf(m)
		return
	}
	m.SetFlags(m.Flags() &^ wire.FlagRequest)
	if err := c.SendVia(m, c); err != nil {
		wire.PutBuf(m)
		if !errors.Is(err, ErrClosed) {
			h.mu.Lock()
			h.errs = append(h.errs, err)
			h.mu.Unlock()
		}
	}
	h.served.Add(1)
	if n := int64(c.OwedLen()); n > h.maxOwed.Load() {
		h.maxOwed.Store(n)
	}
}

func (h *echoHandler) PeerDown(*Peer, *Conn) {}

// TestPeerThatDoesNotReadIsPausedThenClosed: a peer that sends requests
// and never reads its answers. The agent must not refuse the answers it
// owes (no ErrQueueFull from Send), must stop reading the peer once they
// fill the write queue (the queue never grows past it), and must close the
// connection once the peer has read nothing for the write timeout,
// counting the pause, the close and the answers lost with it.
func TestPeerThatDoesNotReadIsPausedThenClosed(t *testing.T) {
	old := writeTimeout
	writeTimeout = 300 * time.Millisecond
	t.Cleanup(func() { writeTimeout = old })

	o := fastOpts("agent.test")
	o.Watchdog = time.Minute // only the write timeout may end the connection
	o.WriteQueue = 32
	h := &echoHandler{}
	o.Handler = h
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Abort() })

	rc := dialRaw(t, m.Addrs()[0].String())
	if code := resultCode(t, rc.exchange(t, Local{OriginHost: "mute.test", OriginRealm: "test", Relay: true})); code != wire.ResultSuccess {
		t.Fatalf("CEA %d", code)
	}
	rc.nc.SetDeadline(time.Time{})
	req := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, 272, 4, 0, 0)
	req = req.AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "mute.test;1")
	req = req.AppendAVP(1000, 0, 99, make([]byte, 1000))
	req.SetLen(len(req))
	writeErr := make(chan error, 1)
	go func() {
		for i := uint32(1); ; i++ {
			req.SetHopByHop(i)
			if _, err := rc.nc.Write(req); err != nil {
				writeErr <- err
				return
			}
		}
	}()
	select {
	case err := <-writeErr:
		t.Logf("client write ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the connection of a peer that reads nothing was not closed")
	}
	waitFor(t, "the stalled close counted", 5*time.Second, func() bool { return m.Overload().StalledCloses == 1 })
	ov := m.Overload()
	t.Logf("served %d requests, largest answer backlog %d, %+v", h.served.Load(), h.maxOwed.Load(), ov)
	if ov.ReadPauses == 0 {
		t.Error("reading was never paused")
	}
	if ov.AnswersLost == 0 {
		t.Error("no answers counted as lost with the closed connection")
	}
	if n := h.maxOwed.Load(); n > int64(o.WriteQueue) {
		t.Errorf("answer backlog reached %d, above the write queue of %d", n, o.WriteQueue)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) > 0 {
		t.Errorf("%d answers refused by Send, first: %v", len(h.errs), h.errs[0])
	}
}
