package peers

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	l := &logLimiter{every: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0}, {time.Second, false, 0}, {2 * time.Second, false, 0}, {9 * time.Second, false, 0},
		{10 * time.Second, true, 3}, {11 * time.Second, false, 0}, {30 * time.Second, true, 1}, {45 * time.Second, true, 0},
	} {
		ok, n := l.allow(t0.Add(tc.at))
		if ok != tc.ok || n != tc.suppressed {
			t.Errorf("at %v: allow = %v, %d; want %v, %d", tc.at, ok, n, tc.ok, tc.suppressed)
		}
	}

	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	w := &logLimiter{every: time.Hour}
	for range 1000 {
		w.warn(log, "connection refused: limit reached", "limit", 10)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Errorf("%d lines for 1000 refusals within the interval, want 1", n)
	}
}
