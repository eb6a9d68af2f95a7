package agent

import (
	"fmt"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/policy"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/state"
)

// agentPolicy is the agent's policy: the state kept across reloads (rate
// buckets, DOIC reports, topology sessions, the peer admission gate) and
// the policy compiled from the configuration being applied.
type agentPolicy struct {
	state *policy.State
	cur   *policy.Policy
}

// preparePolicy compiles cfg.Policy for the next routing generation and
// installs its peer ACL. On error nothing changes: the running
// configuration keeps serving.
func (a *Agent) preparePolicy(cfg *configs.Config) error {
	if a.pol == nil {
		a.pol = &agentPolicy{state: policy.NewState(a.log)}
		if a.state != nil && a.state.s.Backend() == state.BackendRedis {
			// Rate limits count in Redis: a limit is the cluster's.
			a.pol.state.Shared = policy.NewShared(a.state.s.Buckets())
		}
	}
	p, err := policy.Build(cfg.Policy, policy.Identity{OriginHost: cfg.Identity.OriginHost, OriginRealm: cfg.Identity.OriginRealm}, a.pol.state)
	if err != nil {
		return fmt.Errorf("agent: policy: %w", err)
	}
	a.pol.cur = p
	a.pol.state.Gate.Set(p)
	return nil
}

// apply compiles cfg's policy and adds it to router options: its request
// stages as middleware, its hooks. It returns commit, which makes it the
// running policy and installs its peer ACL: the caller runs it when it
// publishes the options, so that a reload refused after this point leaves
// the running ACL alone. Reloads validate the configuration first
// (configs.Config.Validate checks the policy section), so a policy that
// cannot be built never gets here; if one did, the previous policy is kept
// and the error logged.
func (ap *agentPolicy) apply(o *routing.Options, cfg *configs.Config) (commit func()) {
	if ap == nil {
		return func() {}
	}
	p, err := policy.Build(cfg.Policy, policy.Identity{OriginHost: cfg.Identity.OriginHost, OriginRealm: cfg.Identity.OriginRealm}, ap.state)
	if err != nil {
		o.Logger.Error("policy not rebuilt: the previous policy is kept", "err", err)
		p = ap.cur
	}
	if p == nil {
		return func() {}
	}
	if mw := p.Middleware(); mw != nil {
		o.Middleware = append(o.Middleware, mw)
	}
	o.Hooks = p.Hooks()
	return func() {
		ap.cur = p
		ap.state.Gate.Set(p)
	}
}

// Policy returns the policy state (counters, DOIC reports).
func (a *Agent) Policy() *policy.State { return a.pol.state }
