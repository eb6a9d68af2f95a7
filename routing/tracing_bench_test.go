package routing_test

import (
	"context"
	"fmt"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dra-project/dra/routing"
)

// BenchmarkForwardTraced is BenchmarkForward at 64 in flight with request
// tracing off, at 1% and at 100%: spans go through a batch processor to an
// exporter that discards them, so the figure is the agent's own cost of
// tracing (span creation, attributes, batching), not a collector's.
func BenchmarkForwardTraced(b *testing.B) {
	rig := newForwardRig(b)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	const inflight = 64
	for _, ratio := range []float64{0, 0.01, 1} {
		b.Run(fmt.Sprintf("sampled=%g%%", ratio*100), func(b *testing.B) {
			rig.router.SetTracing(routing.Tracing{Tracer: tp.Tracer("bench"), Ratio: ratio})
			defer rig.router.SetTracing(routing.Tracing{})
			rig.run(b, inflight)
		})
	}
}
