package peers

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// logLimiter keeps a repeated warning (a flood of connections over the
// limit or that never send CER, peers that read their answers too slowly,
// requests shed under overload) to one line per interval: the first
// occurrence is logged at once, the others are counted and reported with
// the next line. Within the interval an occurrence costs two atomic
// operations.
type logLimiter struct {
	every time.Duration

	last       atomic.Int64 // unix nanos of the last line, 0 before the first
	suppressed atomic.Int64
	mu         sync.Mutex
}

// allow reports whether to log now, and how many occurrences were
// suppressed since the last line.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	n := now.UnixNano()
	if last := l.last.Load(); last != 0 && n-last < int64(l.every) {
		l.suppressed.Add(1)
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if last := l.last.Load(); last != 0 && n-last < int64(l.every) {
		l.suppressed.Add(1)
		return false, 0
	}
	l.last.Store(n)
	return true, int(l.suppressed.Swap(0))
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

// LogLimiter is the same limiter for other packages: a warning logged
// through it appears at most once per interval, with the number of
// occurrences suppressed since the previous line.
type LogLimiter struct{ l logLimiter }

// NewLogLimiter returns a limiter of one line per every.
func NewLogLimiter(every time.Duration) *LogLimiter {
	return &LogLimiter{l: logLimiter{every: every}}
}

// Allow reports whether to log now, and how many occurrences were
// suppressed since the last line; it lets the caller build the line's
// arguments only when it is written.
func (l *LogLimiter) Allow() (ok bool, suppressed int) { return l.l.allow(time.Now()) }
