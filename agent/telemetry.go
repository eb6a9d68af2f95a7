package agent

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/telemetry"
)

// Option adjusts New.
type Option func(*options)

type options struct {
	telemetry []telemetry.Option
}

// WithTelemetry passes options to the telemetry setup (an in-memory span
// exporter or a manual metric reader in tests).
func WithTelemetry(o ...telemetry.Option) Option {
	return func(opts *options) { opts.telemetry = append(opts.telemetry, o...) }
}

// startTelemetry builds the tracer and meter providers and turns tracing
// on in the router (which must exist).
func (a *Agent) startTelemetry(cfg *configs.Config, o options) error {
	t, err := telemetry.New(context.Background(), cfg.Telemetry, append([]telemetry.Option{
		telemetry.WithResource(attribute.String("service.instance.id", cfg.Identity.OriginHost)),
	}, o.telemetry...)...)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.tel = t
	a.router.SetTracing(t.Tracing())
	return nil
}

// observeTelemetry points the instruments at the running parts and mounts
// /metrics on the admin API.
func (a *Agent) observeTelemetry() {
	a.tel.Observe(telemetry.Sources{Router: a.router, Peers: a.peers, Policy: a.policyCounts, Reloads: a.reloadCounts, State: a.state.counts})
	if h := a.tel.Handler(); h != nil {
		a.admin.Handle("GET /metrics", h)
	}
}

// applySampling applies a reloaded telemetry.traces.sampling_ratio (the
// only telemetry setting that changes live; exporters and endpoints need a
// restart, as configs.Compare reports).
func (a *Agent) applySampling(cfg *configs.Config) {
	tr := a.tel.Tracing()
	if tr.Tracer == nil {
		return
	}
	if rc, err := cfg.Telemetry.Resolve(nil); err == nil {
		tr.Ratio = rc.SamplingRatio
		a.router.SetTracing(tr)
	}
}

// Telemetry returns the agent's telemetry.
func (a *Agent) Telemetry() *telemetry.Telemetry { return a.tel }

// policyCounts feeds the dra.policy.* metrics.
func (a *Agent) policyCounts() ([]telemetry.Count, int) {
	p := a.pol.state
	var rlUnavailable uint64
	if p.Shared != nil {
		rlUnavailable = p.Shared.Unavailable.Load()
	}
	return []telemetry.Count{
		{Name: "refused_address", Value: p.Gate.RefusedAddr.Load()},
		{Name: "refused_peer", Value: p.Gate.RefusedPeer.Load()},
		{Name: "doic_report", Value: p.Overload.Received.Load()},
		{Name: "doic_throttled", Value: p.Overload.Throttled.Load()},
		{Name: "doic_diverted", Value: p.Overload.Diverted.Load()},
		{Name: "rate_limit_unavailable", Value: rlUnavailable},
	}, len(p.Overload.Reports(time.Now()))
}

// reloadCounts feeds the dra.reloads metric.
func (a *Agent) reloadCounts() (ok, failed uint64) {
	s := a.ReloadStats()
	return s.OK, s.Failed
}
