package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/admin"
	"github.com/dra-project/dra/apps/aaa"
	"github.com/dra-project/dra/apps/cdf"
	"github.com/dra-project/dra/apps/ocs"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/telemetry"
)

// Agent is a configured, startable Diameter agent.
type Agent struct {
	cfg    atomic.Pointer[configs.Config] // the running configuration
	reload sync.Mutex                     // one reload at a time
	log    *slog.Logger
	peers  *peers.Manager
	router *routing.Router
	admin  *admin.Server
	apps   *localApps
	tel    *telemetry.Telemetry // agent/telemetry.go
	path   string               // the configuration file, for reloads; "" for the embedded one

	reloads reloads // reload.go

	// pol is the policy kept across reloads (agent/policy.go).
	pol *agentPolicy
	// state is the state store opened at start (agent/state.go).
	state *stateStore
}

// SetConfigPath records the file the configuration came from, so that the
// admin API can reload it.
func (a *Agent) SetConfigPath(path string) { a.path = path }

// New builds an agent from a validated configuration.
func New(cfg *configs.Config, log *slog.Logger, with ...Option) (*Agent, error) {
	var o options
	for _, f := range with {
		f(&o)
	}
	opts, err := PeerOptions(cfg)
	if err != nil {
		return nil, err
	}
	table, err := cfg.RoutingTable()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{log: log}
	a.cfg.Store(cfg)
	if err := a.openState(cfg); err != nil {
		return nil, err
	}
	if err := a.preparePolicy(cfg); err != nil {
		a.state.close()
		return nil, err
	}
	a.router = routing.New(table, RouterOptions(cfg, log))
	if err := a.startTelemetry(cfg, o); err != nil {
		a.router.Close()
		a.state.close()
		return nil, err
	}
	if a.apps, err = startApps(cfg, a.router, a.state.s, log); err != nil {
		a.router.Close()
		a.tel.Shutdown(context.Background())
		a.state.close()
		return nil, err
	}
	ropts, commit := a.routerOptions(cfg)
	commit()
	a.router.Update(table, ropts)
	opts.Local.Apps = append(opts.Local.Apps, a.apps.adverts...)
	opts.Logger = log
	opts.Handler = a.router
	opts.Admit = a.pol.state.Gate
	m, err := peers.New(opts)
	if err != nil {
		a.router.Close()
		a.apps.close()
		a.tel.Shutdown(context.Background())
		a.state.close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.router.Attach(m)
	a.peers = m
	a.admin = admin.New(cfg.Admin, backend{a}, log)
	a.observeTelemetry()
	return a, nil
}

// Start opens the listeners and starts dialing peers.
func (a *Agent) Start() error {
	if err := a.admin.Start(); err != nil {
		return fmt.Errorf("agent: admin api: %w", err)
	}
	if err := a.peers.Start(); err != nil {
		a.admin.Shutdown(context.Background())
		return fmt.Errorf("agent: %w", err)
	}
	cfg := a.cfg.Load()
	a.log.Info("agent started", "origin_host", cfg.Identity.OriginHost, "origin_realm", cfg.Identity.OriginRealm)
	return nil
}

// Shutdown disconnects every peer with DPR and stops.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.log.Info("agent stopping: draining peers, then DPR")
	err := a.peers.Shutdown(ctx)
	a.router.Close()
	a.admin.Shutdown(ctx)
	return errors.Join(err, a.apps.close(), a.tel.Shutdown(ctx), a.state.close())
}

// Ready reports whether every mandatory peer is open with its watchdog
// OKAY and the state store (Redis) answers, and otherwise what is not.
func (a *Agent) Ready() (bool, string) {
	if ok, why := a.state.ready(); !ok {
		return false, why
	}
	var missing []string
	for _, p := range a.cfg.Load().Peers {
		if !p.Mandatory {
			continue
		}
		if pp := a.peers.Peer(p.Host); pp == nil || pp.Active() == nil {
			missing = append(missing, p.Host)
		}
	}
	if len(missing) > 0 {
		return false, "mandatory peers not open: " + strings.Join(missing, ", ")
	}
	return true, "ready"
}

// routerOptions are RouterOptions with the running local applications and
// cfg's policy. The policy's peer ACL is not installed yet: commit does it,
// when the generation is published.
func (a *Agent) routerOptions(cfg *configs.Config) (o routing.Options, commit func()) {
	o = RouterOptions(cfg, a.log)
	o.Local = a.apps.handlers
	o.LocalPools = a.apps.pools
	o.Binder = a.state.binder
	return o, a.pol.apply(&o, cfg)
}

// CDF, OCS and AAA return the local applications (nil when disabled).
func (a *Agent) CDF() *cdf.Server { return a.apps.CDF }

// OCS returns the embedded OCS, nil when disabled.
func (a *Agent) OCS() *ocs.Server { return a.apps.OCS }

// AAA returns the embedded AAA server, nil when disabled.
func (a *Agent) AAA() *aaa.Server { return a.apps.AAA }

// Router returns the router.
func (a *Agent) Router() *routing.Router { return a.router }

// RouterOptions maps the configuration onto the router's options.
func RouterOptions(cfg *configs.Config, log *slog.Logger) routing.Options {
	return routing.Options{
		Timeout:         cfg.Routing.Timeout,
		Retries:         cfg.Routing.Retries,
		FailoverOnBusy:  cfg.Routing.FailoverOnBusy,
		FollowRedirects: cfg.Routing.FollowRedirects,
		Logger:          log,
	}
}

// Peers returns the peer manager.
func (a *Agent) Peers() *peers.Manager { return a.peers }

// AdminAddr is the admin API's bound address, "" when it is off.
func (a *Agent) AdminAddr() string { return a.admin.Addr() }

// Addrs returns the bound listener addresses.
func (a *Agent) Addrs() []net.Addr { return a.peers.Addrs() }

// PeerOptions maps the configuration onto the peer layer's options.
func PeerOptions(cfg *configs.Config) (peers.Options, error) {
	id := cfg.Identity
	o := peers.Options{
		Local: peers.Local{
			OriginHost:         id.OriginHost,
			OriginRealm:        id.OriginRealm,
			ProductName:        id.ProductName,
			VendorID:           id.VendorID,
			FirmwareRevision:   id.FirmwareRevision,
			SupportedVendorIDs: id.SupportedVendorIDs,
			Relay:              true,
			OriginStateID:      uint32(time.Now().Unix()),
		},
		AcceptUnknown:       cfg.AcceptUnknownPeers,
		Watchdog:            cfg.Timers.Watchdog,
		Reconnect:           cfg.Timers.Reconnect,
		ReconnectMax:        cfg.Timers.ReconnectMax,
		CapabilitiesTimeout: cfg.Timers.Capabilities,
		DisconnectTimeout:   cfg.Timers.Disconnect,
		MaxMessageSize:      cfg.Limits.MaxMessageSize,
		MaxAVPs:             cfg.Limits.MaxAVPs,
		MaxAVPDepth:         cfg.Limits.MaxAVPDepth,
		MaxConnections:      cfg.Limits.MaxConnections,
		WriteQueue:          cfg.Limits.WriteQueue,
	}
	for _, s := range id.HostIPAddresses {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return o, fmt.Errorf("agent: identity.host_ip_addresses: %w", err)
		}
		o.Local.HostIPs = append(o.Local.HostIPs, ip)
	}
	for i, l := range cfg.Listen {
		pl := peers.Listener{Addr: l.Address,
			VerifyIdentity: l.TLS.VerifiesIdentity(l.Transport == "tls" && l.TLS.ClientAuth == "require")}
		if l.Transport == "tls" {
			tc, err := l.TLS.ServerTLS()
			if err != nil {
				return o, fmt.Errorf("agent: listen[%d].tls: %w", i, err)
			}
			pl.TLS = tc
		}
		o.Listeners = append(o.Listeners, pl)
	}
	for i, p := range cfg.Peers {
		pc := peers.PeerConfig{
			Identity: p.Host, Realm: p.Realm, Addr: p.Address, Connect: p.Connect,
			VerifyIdentity: p.TLS.VerifiesIdentity(p.Transport == "tls"), Watchdog: p.WatchdogInterval,
		}
		if p.Transport == "tls" {
			host, _, _ := net.SplitHostPort(p.Address)
			if host == "" || net.ParseIP(host) != nil {
				host = p.Host
			}
			tc, err := p.TLS.ClientTLS(host)
			if err != nil {
				return o, fmt.Errorf("agent: peers[%d].tls: %w", i, err)
			}
			pc.TLS = tc
		}
		o.Peers = append(o.Peers, pc)
	}
	return o, nil
}
