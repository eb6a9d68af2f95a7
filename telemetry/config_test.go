package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestResolve(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	off := false
	for _, tc := range []struct {
		name  string
		cfg   Config
		env   map[string]string
		check func(Resolved) bool
		field string // the field a validation error must name, "" for none
	}{
		{"defaults", Config{}, nil, func(r Resolved) bool {
			return r.ServiceName == "dra" && r.TraceExporter == "none" && r.TraceProtocol == "http/protobuf" &&
				r.SamplingRatio == 1 && r.Prometheus && r.MetricExporter == "none" && r.MetricInterval == 30*time.Second
		}, ""},
		{"environment", Config{}, map[string]string{
			"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
			"OTEL_TRACES_SAMPLER_ARG": "0.25", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_METRIC_EXPORT_INTERVAL": "5000",
		}, func(r Resolved) bool {
			return r.TraceExporter == "otlp" && r.TraceProtocol == "grpc" && r.SamplingRatio == 0.25 &&
				r.MetricExporter == "otlp" && r.MetricProtocol == "grpc" && r.MetricInterval == 5*time.Second
		}, ""},
		{"configuration wins", Config{Traces: Traces{Exporter: "stdout", SamplingRatio: f(0.01)}, Metrics: Metrics{Prometheus: &off}},
			map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "always_on"}, func(r Resolved) bool {
				return r.TraceExporter == "stdout" && r.SamplingRatio == 0.01 && !r.Prometheus
			}, ""},
		{"always_off", Config{}, map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, func(r Resolved) bool { return r.SamplingRatio == 0 }, ""},
		{"bad exporter", Config{Traces: Traces{Exporter: "zipkin"}}, nil, nil, "telemetry.traces.exporter"},
		{"bad protocol", Config{Traces: Traces{Protocol: "thrift"}}, nil, nil, "telemetry.traces.protocol"},
		{"bad endpoint", Config{Traces: Traces{Endpoint: "127.0.0.1:4318"}}, nil, nil, "telemetry.traces.endpoint"},
		{"bad ratio", Config{Traces: Traces{SamplingRatio: f(1.5)}}, nil, nil, "telemetry.traces.sampling_ratio"},
		{"bad sampler", Config{}, map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, nil, "OTEL_TRACES_SAMPLER"},
		{"bad sampler arg", Config{}, map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, nil, "OTEL_TRACES_SAMPLER_ARG"},
		{"bad metric exporter", Config{Metrics: Metrics{Exporter: "statsd"}}, nil, nil, "telemetry.metrics.exporter"},
		{"short interval", Config{Metrics: Metrics{Interval: time.Millisecond}}, nil, nil, "telemetry.metrics.interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.cfg.Resolve(func(k string) string { return tc.env[k] })
			if tc.field != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("error %v, want one naming %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(r) {
				t.Errorf("resolved %+v", r)
			}
		})
	}
}

func TestWithPath(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":            "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":           "http://127.0.0.1:4318/v1/traces",
		"https://c.example.net/otlp/v1/tr": "https://c.example.net/otlp/v1/tr",
	} {
		if got := withPath(in, "/v1/traces"); got != want {
			t.Errorf("withPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("t").Start(context.Background(), "req")
	defer span.End()
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewTextHandler(&buf, nil))).With("component", "routing")
	log.InfoContext(ctx, "traced")
	log.Info("untraced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log: %q", buf.String())
	}
	sc := span.SpanContext()
	if !strings.Contains(lines[0], "trace_id="+sc.TraceID().String()) || !strings.Contains(lines[0], "span_id="+sc.SpanID().String()) ||
		!strings.Contains(lines[0], "component=routing") {
		t.Errorf("traced line: %s", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("untraced line: %s", lines[1])
	}
}
