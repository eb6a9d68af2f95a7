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
	cur   int
	res   time.Duration
	fire  func(*peers.Conn, uint32)
}

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
		w.mu.Lock()
		if w.slots[cur] == nil {
			w.slots[cur] = batch[:0]
		}
		w.mu.Unlock()
	}
}
