package peers

import (
	"log/slog"
	"sync"
	"time"
)

// logLimiter keeps a repeated warning about unidentified connections (a
// flood of connections over the limit, or that never send CER) to one
// line per interval: the first occurrence is logged at once, the others
// are counted and reported with the next line.
type logLimiter struct {
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many occurrences were
// suppressed since the last line.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return true, suppressed
}

// warn logs msg with args through log unless an identical warning was
// logged less than l.every ago.
func (l *logLimiter) warn(log *slog.Logger, msg string, args ...any) {
	ok, n := l.allow(time.Now())
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	log.Warn(msg, args...)
}
