// Package telemetry connects the agent to OpenTelemetry: a tracer for the
// router's request spans, an exporter chosen by configuration and the
// standard OTEL_* environment (OTLP over gRPC or HTTP, stdout, none), a
// meter whose instruments read the router's and the peer layer's counters
// and are served to Prometheus, and a log/slog handler that stamps log
// records with the trace and span ids of the request they concern.
//
// Nothing here runs on the forwarding path: the router counts with
// atomics and samples before any span exists (routing.Tracing); this
// package reads those counters when metrics are collected.
package telemetry
