package agent

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/peers"
)

// ReloadStats counts configuration reloads since the agent started, by
// every path (SIGHUP, a change of the file, the admin API, Reload).
type ReloadStats struct {
	// OK counts reloads applied; Failed counts files or configurations
	// refused (the running configuration kept serving).
	OK, Failed uint64
	// Last is when the last reload was attempted (zero: never).
	Last time.Time
	// LastError is why the last refused reload was refused ("" when none
	// was); it stays after later successes.
	LastError string
	// LastOK tells whether the last attempt was applied.
	LastOK bool
}

// reloads is the agent's reload bookkeeping.
type reloads struct {
	mu    sync.Mutex
	stats ReloadStats
	boot  *configs.Config // the configuration the agent started with
}

// ReloadStats returns the reload counters.
func (a *Agent) ReloadStats() ReloadStats {
	a.reloads.mu.Lock()
	defer a.reloads.mu.Unlock()
	return a.reloads.stats
}

// ReloadFile re-reads the configuration file the agent was started with
// (the embedded configuration and the environment when there is none) and
// applies it as Reload does. SIGHUP, a change of the file and the admin
// API all come here.
func (a *Agent) ReloadFile() (needRestart []string, err error) {
	a.reload.Lock()
	defer a.reload.Unlock()
	cfg, err := configs.Load(a.path)
	if err != nil {
		return nil, a.reloaded(nil, fmt.Errorf("agent: reload: %w", err))
	}
	return a.reloadLocked(cfg)
}

// Reload applies a new configuration to the running agent in one step.
//
// Everything of the new generation is built aside first: validation, the
// routing table, the peer options (TLS material read from disk), the
// router options. If any of it fails nothing is applied, the failure is
// logged on one line and counted, and the running configuration keeps
// serving. Otherwise the peer set is reconfigured (see
// peers.Manager.Reconfigure: peers added, changed in place or reconnected,
// removed after their pending requests are answered; unchanged peers keep
// their connection), and in its middle, once every peer the new routes name
// is known and before any peer they no longer name is removed, the routing
// table and router options are published with one atomic store. Requests
// already received finish on the generation they started with.
//
// Timers, limits and accept_unknown_peers apply live. Identity, listeners,
// the admin API, logging and the local applications need a restart: their
// changes are returned (and logged), not applied.
func (a *Agent) Reload(cfg *configs.Config) (needRestart []string, err error) {
	a.reload.Lock()
	defer a.reload.Unlock()
	return a.reloadLocked(cfg)
}

func (a *Agent) reloadLocked(cfg *configs.Config) ([]string, error) {
	needRestart, err := a.apply(cfg)
	return needRestart, a.reloaded(needRestart, err)
}

// reloaded counts and logs the outcome of one reload.
func (a *Agent) reloaded(needRestart []string, err error) error {
	r := &a.reloads
	r.mu.Lock()
	r.stats.Last = time.Now()
	r.stats.LastOK = err == nil
	if err != nil {
		r.stats.Failed++
		r.stats.LastError = oneLine(err)
	} else {
		r.stats.OK++
	}
	r.mu.Unlock()
	if err != nil {
		a.log.Error("reload refused: the running configuration keeps serving", "err", oneLine(err))
	} else if len(needRestart) > 0 {
		a.log.Warn("reloaded; these settings take effect only after a restart", "settings", needRestart)
	}
	return err
}

// oneLine joins the lines of a multi-problem validation error.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// apply builds the new generation and publishes it.
func (a *Agent) apply(cfg *configs.Config) ([]string, error) {
	if cfg == nil {
		return nil, errors.New("agent: reload: no configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent: reload: %w", err)
	}
	table, err := cfg.RoutingTable()
	if err != nil {
		return nil, fmt.Errorf("agent: reload: %w", err)
	}
	opts, err := PeerOptions(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: reload: %w", err)
	}
	ropts, commitPolicy := a.routerOptions(cfg)
	old := a.cfg.Load()
	boot := a.bootConfig()
	// Restart-only settings are compared with what is really running: the
	// configuration the agent started with.
	needRestart := configs.Compare(boot, cfg).NeedRestart
	d := configs.Compare(old, cfg)
	rc := peers.Reconfig{
		Peers:               opts.Peers,
		AcceptUnknown:       opts.AcceptUnknown,
		Watchdog:            opts.Watchdog,
		Reconnect:           opts.Reconnect,
		ReconnectMax:        opts.ReconnectMax,
		CapabilitiesTimeout: opts.CapabilitiesTimeout,
		DisconnectTimeout:   opts.DisconnectTimeout,
		MaxMessageSize:      opts.MaxMessageSize,
		MaxConnections:      opts.MaxConnections,
		WriteQueue:          opts.WriteQueue,
		DrainTimeout:        drainBound(cfg),
		// New routes are published once the peers they add are open
		// (bounded), so that they do not answer 3002 meanwhile.
		OpenTimeout: cfg.Timers.Capabilities,
	}
	res, err := a.peers.Reconfigure(rc, func() {
		commitPolicy()
		a.router.Update(table, ropts)
		a.applySampling(cfg)
		a.cfg.Store(cfg)
	})
	if err != nil {
		return nil, fmt.Errorf("agent: reload: %w", err)
	}
	var changed []string
	for _, c := range res.Changed {
		s := c.Identity + " (" + strings.Join(c.Fields, ",")
		if c.Reconnect {
			s += "; reconnecting"
		}
		changed = append(changed, s+")")
	}
	a.log.Info("configuration reloaded", "routes", table.Len(),
		"routes_added", d.RoutesAdded, "routes_removed", d.RoutesRemoved, "routes_changed", len(d.RoutesChanged),
		"peers_added", res.Added, "peers_removed", res.Removed, "peers_changed", changed, "peers_unchanged", res.Unchanged,
		"live", d.Live, "needs_restart", needRestart)
	return needRestart, nil
}

// bootConfig is the configuration the agent started with.
func (a *Agent) bootConfig() *configs.Config {
	a.reloads.mu.Lock()
	defer a.reloads.mu.Unlock()
	if a.reloads.boot == nil {
		a.reloads.boot = a.cfg.Load()
	}
	return a.reloads.boot
}

// Running returns the configuration in force for `dra check`: the live
// settings as last reloaded, the restart-only ones as started.
func (a *Agent) Running() configs.Running {
	cur, boot := a.cfg.Load(), a.bootConfig()
	r := configs.Snapshot(cur)
	b := configs.Snapshot(boot)
	r.Config.Identity, r.Config.Listen, r.Config.Admin, r.Config.Log = b.Config.Identity, b.Config.Listen, b.Config.Admin, b.Config.Log
	r.Config.Apps, r.Apps = b.Config.Apps, b.Apps
	return r
}

// drainBound is how long a removed or reconnecting peer's pending requests
// are waited for: the longest Tx of any route, and at least the disconnect
// timer. A request still pending then has been failed over by its Tx.
func drainBound(cfg *configs.Config) time.Duration {
	d := max(cfg.Timers.Disconnect, cfg.Routing.Timeout)
	for _, r := range cfg.Routes {
		d = max(d, r.Timeout)
	}
	return d
}
