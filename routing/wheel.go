package routing

import (
	"context"
	"sync"
	"time"

	"github.com/dra-project/dra/peers"
)

// wheelResolution is the granularity of request timeouts.
const wheelResolution = 20 * time.Millisecond

// wheel is a timing wheel for request timeouts: one goroutine and one
// ticker for every pending request, no timer per request. An entry names
// the connection and hop-by-hop id; when it fires, whoever still holds the
// pending entry on that connection has timed out. Entries of requests that
// were answered fire harmlessly.
type wheel struct {
	mu    sync.Mutex
	slots [][]wentry
	// spare holds the arrays of slots that fired, for the next slots to
	// fill: only the slots within Tx of now hold entries, so arrays are
	// recycled rather than kept by every one of the 4096 slots (which
	// would retain each slot's largest array forever).
	spare [][]wentry
	cur   int
	res   time.Duration
	fire  func(*peers.Conn, uint32)
}

// maxSpare bounds the recycled arrays; maxSpareCap drops an array grown by
// a peak far above the usual slot size.
const (
	maxSpare    = 512
	maxSpareCap = 4096
)

type wentry struct {
	conn     *peers.Conn
	hbh      uint32
	deadline int64 // unix nanos
}

func newWheel(ctx context.Context, res time.Duration, fire func(*peers.Conn, uint32)) *wheel {
	w := &wheel{slots: make([][]wentry, 4096), res: res, fire: fire}
	go w.run(ctx)
	return w
}

func (w *wheel) add(c *peers.Conn, hbh uint32, deadline time.Time) {
	// Round up: an entry must not fire before its deadline (it would only
	// be re-added).
	ticks := int((time.Until(deadline) + w.res - 1) / w.res)
	ticks = max(1, min(ticks, len(w.slots)-1))
	w.mu.Lock()
	i := (w.cur + ticks) % len(w.slots)
	if w.slots[i] == nil {
		if n := len(w.spare); n > 0 {
			w.slots[i] = w.spare[n-1]
			w.spare[n-1] = nil
			w.spare = w.spare[:n-1]
		}
	}
	w.slots[i] = append(w.slots[i], wentry{c, hbh, deadline.UnixNano()})
	w.mu.Unlock()
}

func (w *wheel) run(ctx context.Context) {
	t := time.NewTicker(w.res)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.tick()
	}
}

// tick advances the wheel one slot and fires (or re-adds, when beyond the
// wheel's span) the entries found there.
func (w *wheel) tick() {
	w.mu.Lock()
	w.cur = (w.cur + 1) % len(w.slots)
	cur := w.cur
	batch := w.slots[cur]
	w.slots[cur] = nil
	w.mu.Unlock()
	now := time.Now().UnixNano()
	for i, e := range batch {
		if e.deadline > now {
			w.add(e.conn, e.hbh, time.Unix(0, e.deadline)) // beyond the wheel's span
		} else {
			w.fire(e.conn, e.hbh)
		}
		batch[i] = wentry{}
	}
	if batch != nil && cap(batch) <= maxSpareCap {
		w.mu.Lock()
		if len(w.spare) < maxSpare {
			w.spare = append(w.spare, batch[:0])
		}
		w.mu.Unlock()
	}
}
