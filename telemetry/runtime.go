package telemetry

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// registerRuntime adds the Go runtime and process series to the
// Prometheus registry that /metrics serves: goroutines and threads
// (go_goroutines, go_threads), the heap and the memory limit
// (go_memstats_*, go_gc_gomemlimit_bytes, go_gc_gogc_percent), garbage
// collections (go_gc_duration_seconds), and the process's resident memory,
// CPU time and open descriptors (process_*). Each connection holds one
// descriptor and one goroutine, so these show what the peers cost.
func registerRuntime(reg *prometheus.Registry) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("telemetry: runtime metrics: %w", err)
		}
	}
	return nil
}
