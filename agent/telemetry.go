package agent

import (
	"context"
	"fmt"
	"reflect"

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
	a.tel.Observe(telemetry.Sources{Router: a.router, Peers: a.peers})
	if h := a.tel.Handler(); h != nil {
		a.admin.Handle("GET /metrics", h)
	}
}

// reloadTelemetry applies a new telemetry section: the sampling ratio
// changes live; exporters and endpoints need a restart.
func (a *Agent) reloadTelemetry(old, cfg *configs.Config) (needRestart bool) {
	o, n := old.Telemetry, cfg.Telemetry
	o.Traces.SamplingRatio, n.Traces.SamplingRatio = nil, nil
	if !reflect.DeepEqual(o, n) {
		return true
	}
	rc, err := cfg.Telemetry.Resolve(nil)
	if err != nil {
		return true // refused by validation before a reload gets here
	}
	tr := a.tel.Tracing()
	if tr.Tracer != nil {
		tr.Ratio = rc.SamplingRatio
	}
	a.router.SetTracing(tr)
	return false
}

// Telemetry returns the agent's telemetry.
func (a *Agent) Telemetry() *telemetry.Telemetry { return a.tel }

