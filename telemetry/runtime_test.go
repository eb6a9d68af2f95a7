package telemetry_test

import "testing"

// TestRuntimeMetrics: /metrics serves the Go runtime and process series
// (goroutines, heap, GC, memory limit, resident memory, descriptors), and
// they say something true of the running agent.
func TestRuntimeMetrics(t *testing.T) {
	a, _ := topology(t, "admin: {address: \"127.0.0.1:0\"}\n")
	fams := scrape(t, a.AdminAddr())
	tests := []struct {
		name string
		min  float64 // the value is at least this
	}{
		{"go_goroutines", 3},
		{"go_threads", 1},
		{"go_memstats_heap_inuse_bytes", 1 << 20},
		{"go_memstats_heap_released_bytes", 0},
		{"go_gc_gomemlimit_bytes", 1},
		{"go_gc_gogc_percent", 1},
		{"go_gc_duration_seconds", 0},
		{"process_resident_memory_bytes", 1 << 20},
		{"process_open_fds", 3},
		{"process_cpu_seconds_total", 0},
	}
	for _, tt := range tests {
		f, ok := fams[tt.name]
		if !ok || len(f.Metric) == 0 {
			t.Errorf("no series %s", tt.name)
			continue
		}
		m := f.Metric[0]
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Summary != nil:
			v = float64(m.Summary.GetSampleCount())
		}
		if v < tt.min {
			t.Errorf("%s = %v, want at least %v", tt.name, v, tt.min)
		}
	}
}
