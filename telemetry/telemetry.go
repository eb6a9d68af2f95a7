package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/dra-project/dra/routing"
)

// Scope is the instrumentation scope of the agent's spans and metrics.
const Scope = "github.com/dra-project/dra"

// Telemetry owns the tracer and meter providers and their exporters.
type Telemetry struct {
	cfg      Resolved
	tp       *sdktrace.TracerProvider // nil when traces are off
	mp       *sdkmetric.MeterProvider
	registry *prometheus.Registry // nil when Prometheus is off
	sources  *sources
	reg      metric.Registration
}

// Option adjusts New (for tests and embedding).
type Option func(*options)

type options struct {
	spanExporter   sdktrace.SpanExporter
	metricReader   sdkmetric.Reader
	syncSpanExport bool
	attrs          []attribute.KeyValue
}

// WithSpanExporter exports spans to e, whatever the configuration says
// (an in-memory exporter in tests). Spans are exported as they end.
func WithSpanExporter(e sdktrace.SpanExporter) Option {
	return func(o *options) { o.spanExporter, o.syncSpanExport = e, true }
}

// WithMetricReader adds a reader to the meter provider (a manual reader
// in tests). Build it with sdkmetric.WithProducer(Producer(t)) to see the
// latency histograms too.
func WithMetricReader(r sdkmetric.Reader) Option {
	return func(o *options) { o.metricReader = r }
}

// WithResource adds resource attributes (e.g. service.instance.id).
func WithResource(attrs ...attribute.KeyValue) Option {
	return func(o *options) { o.attrs = append(o.attrs, attrs...) }
}

// New builds the providers and exporters the configuration asks for. The
// instruments read their values from the sources given to Observe.
func New(ctx context.Context, cfg Config, opts ...Option) (*Telemetry, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	rc, err := cfg.Resolve(nil)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{cfg: rc, sources: &sources{}}
	res, err := resource.New(ctx,
		resource.WithAttributes(append([]attribute.KeyValue{attribute.String("service.name", rc.ServiceName)}, o.attrs...)...),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	// Traces.
	var sp sdktrace.SpanProcessor
	switch {
	case o.spanExporter != nil:
		sp = sdktrace.NewSimpleSpanProcessor(o.spanExporter)
	case rc.TraceExporter == "otlp":
		e, err := traceExporter(ctx, rc)
		if err != nil {
			return nil, fmt.Errorf("telemetry: traces: %w", err)
		}
		sp = sdktrace.NewBatchSpanProcessor(e)
	case rc.TraceExporter == "stdout":
		e, err := stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
		if err != nil {
			return nil, fmt.Errorf("telemetry: traces: %w", err)
		}
		sp = sdktrace.NewBatchSpanProcessor(e)
	}
	if sp != nil {
		// The router decides which requests are sampled; every span it
		// starts is recorded.
		t.tp = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(sp),
			sdktrace.WithSampler(sdktrace.AlwaysSample()))
	}

	// Metrics.
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	prod := producer{t.sources}
	if rc.Prometheus {
		t.registry = prometheus.NewRegistry()
		if err := registerRuntime(t.registry); err != nil {
			t.shutdownTraces(ctx)
			return nil, err
		}
		pe, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithProducer(prod), otelprom.WithoutScopeInfo())
		if err != nil {
			return nil, fmt.Errorf("telemetry: prometheus: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(pe))
	}
	if rc.MetricExporter == "otlp" {
		e, err := metricExporter(ctx, rc)
		if err != nil {
			t.shutdownTraces(ctx)
			return nil, fmt.Errorf("telemetry: metrics: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(e,
			sdkmetric.WithInterval(rc.MetricInterval), sdkmetric.WithProducer(prod))))
	}
	if o.metricReader != nil {
		mopts = append(mopts, sdkmetric.WithReader(o.metricReader))
	}
	t.mp = sdkmetric.NewMeterProvider(mopts...)
	if t.reg, err = registerInstruments(t.mp.Meter(Scope), t.sources); err != nil {
		t.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: instruments: %w", err)
	}
	return t, nil
}

// Producer is the producer of the latency histograms, for readers built
// outside New (WithMetricReader).
func Producer(t *Telemetry) sdkmetric.Producer { return producer{t.sources} }

func traceExporter(ctx context.Context, rc Resolved) (sdktrace.SpanExporter, error) {
	if rc.TraceProtocol == "grpc" {
		var o []otlptracegrpc.Option
		if rc.TraceEndpoint != "" {
			o = append(o, otlptracegrpc.WithEndpointURL(rc.TraceEndpoint))
		}
		return otlptracegrpc.New(ctx, o...)
	}
	var o []otlptracehttp.Option
	if rc.TraceEndpoint != "" {
		o = append(o, otlptracehttp.WithEndpointURL(withPath(rc.TraceEndpoint, "/v1/traces")))
	}
	return otlptracehttp.New(ctx, o...)
}

func metricExporter(ctx context.Context, rc Resolved) (sdkmetric.Exporter, error) {
	if rc.MetricProtocol == "grpc" {
		var o []otlpmetricgrpc.Option
		if rc.MetricEndpoint != "" {
			o = append(o, otlpmetricgrpc.WithEndpointURL(rc.MetricEndpoint))
		}
		return otlpmetricgrpc.New(ctx, o...)
	}
	var o []otlpmetrichttp.Option
	if rc.MetricEndpoint != "" {
		o = append(o, otlpmetrichttp.WithEndpointURL(withPath(rc.MetricEndpoint, "/v1/metrics")))
	}
	return otlpmetrichttp.New(ctx, o...)
}

// withPath adds the OTLP/HTTP signal path to a collector URL that has no
// path (http://collector:4318 -> http://collector:4318/v1/traces).
func withPath(endpoint, path string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint
	}
	u.Path = path
	return u.String()
}

// Resolved returns the configuration in effect.
func (t *Telemetry) Resolved() Resolved { return t.cfg }

// Tracing is what the router needs to trace requests: a tracer and the
// sampling ratio (a nil Tracer when traces are off).
func (t *Telemetry) Tracing() routing.Tracing {
	if t.tp == nil {
		return routing.Tracing{}
	}
	return routing.Tracing{Tracer: t.tp.Tracer(Scope), Ratio: t.cfg.SamplingRatio}
}

// TracerProvider returns the tracer provider, nil when traces are off.
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if t.tp == nil {
		return nil
	}
	return t.tp
}

// MeterProvider returns the meter provider.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Handler serves the metrics in the Prometheus text format; nil when
// Prometheus is off.
func (t *Telemetry) Handler() http.Handler {
	if t.registry == nil {
		return nil
	}
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Observe sets what the instruments read. Fields left nil are not
// reported.
func (t *Telemetry) Observe(s Sources) { t.sources.set(s) }

// Shutdown flushes the exporters and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.reg != nil {
		errs = append(errs, t.reg.Unregister())
	}
	errs = append(errs, t.shutdownTraces(ctx))
	if t.mp != nil {
		errs = append(errs, t.mp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (t *Telemetry) shutdownTraces(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}
