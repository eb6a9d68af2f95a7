package telemetry

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config configures traces and metrics.
type Config struct {
	// ServiceName is the resource's service.name (OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override it); default "dra".
	ServiceName string  `mapstructure:"service_name"`
	Traces      Traces  `mapstructure:"traces"`
	Metrics     Metrics `mapstructure:"metrics"`
}

// Traces configures request tracing.
type Traces struct {
	// Exporter: none, otlp or stdout. Empty: OTEL_TRACES_EXPORTER, else
	// none.
	Exporter string `mapstructure:"exporter"`
	// Protocol of the OTLP exporter: grpc or http/protobuf. Empty:
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL, else
	// http/protobuf.
	Protocol string `mapstructure:"protocol"`
	// Endpoint is the OTLP collector's URL (http://127.0.0.1:4318 for
	// HTTP, where /v1/traces is added when the URL has no path;
	// http://127.0.0.1:4317 for gRPC). Empty: the exporter's
	// OTEL_EXPORTER_OTLP_* environment, else its default.
	Endpoint string `mapstructure:"endpoint"`
	// SamplingRatio is the fraction of requests traced, 0 to 1. Unset:
	// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, else 1 (every
	// request: at high rates set a ratio such as 0.01).
	SamplingRatio *float64 `mapstructure:"sampling_ratio"`
}

// Metrics configures metrics.
type Metrics struct {
	// Prometheus serves the metrics on the admin API's /metrics (default
	// true; the admin API must be enabled).
	Prometheus *bool `mapstructure:"prometheus"`
	// Exporter pushes metrics too: none or otlp. Empty:
	// OTEL_METRICS_EXPORTER when it says otlp, else none.
	Exporter string `mapstructure:"exporter"`
	// Protocol and Endpoint as for traces (OTEL_EXPORTER_OTLP_METRICS_*).
	Protocol string `mapstructure:"protocol"`
	Endpoint string `mapstructure:"endpoint"`
	// Interval between pushes; default 30s (OTEL_METRIC_EXPORT_INTERVAL).
	Interval time.Duration `mapstructure:"interval"`
}

// FieldError is a problem with one configuration field.
type FieldError struct {
	Field string // e.g. "telemetry.traces.exporter"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Resolved is a Config with the environment and defaults applied.
type Resolved struct {
	ServiceName    string
	TraceExporter  string // none, otlp or stdout
	TraceProtocol  string // grpc or http/protobuf
	TraceEndpoint  string
	SamplingRatio  float64
	Prometheus     bool
	MetricExporter string // none or otlp
	MetricProtocol string
	MetricEndpoint string
	MetricInterval time.Duration
}

// Resolve applies the OTEL_* environment (through getenv; os.Getenv when
// nil) and the defaults, and validates the result. Every problem is a
// *FieldError; several are joined.
func (c Config) Resolve(getenv func(string) string) (Resolved, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	first := func(vs ...string) string {
		for _, v := range vs {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
		return ""
	}
	r := Resolved{
		ServiceName:    first(c.ServiceName, "dra"),
		TraceExporter:  strings.ToLower(first(c.Traces.Exporter, getenv("OTEL_TRACES_EXPORTER"), "none")),
		TraceProtocol:  strings.ToLower(first(c.Traces.Protocol, getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf")),
		TraceEndpoint:  c.Traces.Endpoint,
		SamplingRatio:  1,
		Prometheus:     c.Metrics.Prometheus == nil || *c.Metrics.Prometheus,
		MetricExporter: strings.ToLower(first(c.Metrics.Exporter, "none")),
		MetricProtocol: strings.ToLower(first(c.Metrics.Protocol, getenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf")),
		MetricEndpoint: c.Metrics.Endpoint,
		MetricInterval: c.Metrics.Interval,
	}
	if c.Metrics.Exporter == "" && strings.Contains(getenv("OTEL_METRICS_EXPORTER"), "otlp") {
		r.MetricExporter = "otlp"
	}
	switch r.TraceExporter {
	case "none", "otlp", "stdout", "console":
		if r.TraceExporter == "console" {
			r.TraceExporter = "stdout"
		}
	default:
		bad("telemetry.traces.exporter", "%q is not one of none, otlp, stdout", r.TraceExporter)
	}
	if r.MetricExporter != "none" && r.MetricExporter != "otlp" {
		bad("telemetry.metrics.exporter", "%q is not one of none, otlp", r.MetricExporter)
	}
	for _, p := range []struct{ field, v string }{
		{"telemetry.traces.protocol", r.TraceProtocol}, {"telemetry.metrics.protocol", r.MetricProtocol},
	} {
		if p.v != "grpc" && p.v != "http/protobuf" {
			bad(p.field, "%q is not one of grpc, http/protobuf", p.v)
		}
	}
	for _, e := range []struct{ field, v string }{
		{"telemetry.traces.endpoint", r.TraceEndpoint}, {"telemetry.metrics.endpoint", r.MetricEndpoint},
	} {
		if e.v == "" {
			continue
		}
		u, err := url.Parse(e.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(e.field, "%q is not an http:// or https:// URL", e.v)
		}
	}
	if c.Traces.SamplingRatio != nil {
		r.SamplingRatio = *c.Traces.SamplingRatio
		if !(r.SamplingRatio >= 0 && r.SamplingRatio <= 1) {
			bad("telemetry.traces.sampling_ratio", "%v is not between 0 and 1", r.SamplingRatio)
		}
	} else if s := strings.ToLower(getenv("OTEL_TRACES_SAMPLER")); s != "" {
		switch s {
		case "always_on", "parentbased_always_on":
			r.SamplingRatio = 1
		case "always_off", "parentbased_always_off":
			r.SamplingRatio = 0
		case "traceidratio", "parentbased_traceidratio":
			r.SamplingRatio = 1
			if arg := getenv("OTEL_TRACES_SAMPLER_ARG"); arg != "" {
				v, err := strconv.ParseFloat(arg, 64)
				if err != nil || v < 0 || v > 1 {
					bad("OTEL_TRACES_SAMPLER_ARG", "%q is not a ratio between 0 and 1", arg)
				} else {
					r.SamplingRatio = v
				}
			}
		default:
			bad("OTEL_TRACES_SAMPLER", "%q is not supported (always_on, always_off, traceidratio and their parentbased_ forms)", s)
		}
	}
	if r.MetricInterval == 0 {
		r.MetricInterval = 30 * time.Second
		if v := getenv("OTEL_METRIC_EXPORT_INTERVAL"); v != "" {
			if ms, err := strconv.Atoi(v); err == nil && ms > 0 {
				r.MetricInterval = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if r.MetricInterval < 100*time.Millisecond {
		bad("telemetry.metrics.interval", "%v is too short (at least 100ms)", r.MetricInterval)
	}
	return r, errors.Join(errs...)
}
