package configs

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// MinWatchdog is the smallest Tw RFC 3539 allows.
const MinWatchdog = 6 * time.Second

// Validate checks every field and returns all problems at once, each naming
// its field, joined and wrapping ErrInvalid. A list item's field left
// unset (a peer's transport or watchdog_interval) stands for its default.
func (c *Config) Validate() error { return c.validate(nil) }

// validate is Validate knowing which keys the user set (nil: all of
// them), so that each problem is reported once, at the key the user wrote,
// and a key an environment variable set names the variable.
func (c *Config) validate(set setKeys) error {
	v := validator{set: set}
	v.identity("identity.origin_host", c.Identity.OriginHost)
	v.identity("identity.origin_realm", c.Identity.OriginRealm)
	if c.Identity.ProductName == "" {
		v.add("identity.product_name", "must not be empty")
	}
	for i, a := range c.Identity.HostIPAddresses {
		if net.ParseIP(a) == nil {
			v.add(fmt.Sprintf("identity.host_ip_addresses[%d]", i), "%q is not an IP address", a)
		}
	}
	if len(c.Listen) == 0 && !anyConnect(c.Peers) {
		v.add("listen", "no listener and no peer to connect to: the agent would have no peers")
	}
	seenAddr := map[string]int{}
	for i, l := range c.Listen {
		f := fmt.Sprintf("listen[%d]", i)
		v.hostPort(f+".address", l.Address, true)
		if j, dup := seenAddr[l.Address]; dup {
			v.add(f+".address", "%q is also listen[%d]", l.Address, j)
		}
		seenAddr[l.Address] = i
		v.transport(f, l.Transport, l.TLS, true)
	}
	seenPeer := map[string]int{}
	for i, p := range c.Peers {
		f := fmt.Sprintf("peers[%d]", i)
		v.identity(f+".host", p.Host)
		key := strings.ToLower(p.Host)
		if j, dup := seenPeer[key]; dup {
			v.add(f+".host", "%q is also peers[%d]", p.Host, j)
		}
		seenPeer[key] = i
		if p.Realm != "" {
			v.identity(f+".realm", p.Realm)
		}
		if p.Connect || p.Address != "" {
			v.hostPort(f+".address", p.Address, false)
		}
		if strings.EqualFold(p.Host, c.Identity.OriginHost) {
			v.add(f+".host", "%q is the agent's own identity", p.Host)
		}
		v.transport(f, p.Transport, p.TLS, false)
		// Unset, it is timers.watchdog, checked there.
		if p.WatchdogInterval != 0 && p.WatchdogInterval < MinWatchdog {
			v.add(f+".watchdog_interval", "%s is below the RFC 3539 minimum of %s", p.WatchdogInterval, MinWatchdog)
		}
	}
	if c.Routing.Timeout < 100*time.Millisecond {
		v.add("routing.timeout", "%s is below 100ms", c.Routing.Timeout)
	}
	if c.Routing.Retries < 0 || c.Routing.Retries > 7 {
		v.add("routing.retries", "%d is not between 0 and 7", c.Routing.Retries)
	}
	if _, err := c.RoutingTable(); err != nil {
		v.errs = append(v.errs, err)
	}
	for i, r := range c.Routes {
		if r.Retries != nil && (*r.Retries < 0 || *r.Retries > 7) {
			v.add(fmt.Sprintf("routes[%d].retries", i), "%d is not between 0 and 7", *r.Retries)
		}
		for j, p := range r.Peers {
			if _, known := seenPeer[strings.ToLower(p.Host)]; !known && !c.AcceptUnknownPeers {
				v.add(fmt.Sprintf("routes[%d].peers[%d].host", i, j), "%q is not a configured peer (and accept_unknown_peers is off)", p.Host)
			}
		}
	}
	for _, app := range []struct {
		on  bool
		err func() error
	}{{c.Apps.CDF.Enabled, c.Apps.CDF.Validate}, {c.Apps.OCS.Enabled, c.Apps.OCS.Validate}, {c.Apps.AAA.Enabled, c.Apps.AAA.Validate}} {
		if app.on {
			if err := app.err(); err != nil {
				v.errs = append(v.errs, fmt.Errorf("%w: apps: %w", ErrInvalid, err))
			}
		}
	}
	for _, app := range []struct {
		name string
		w    LocalWorkers
	}{{"cdf", c.Apps.CDF.LocalWorkers}, {"ocs", c.Apps.OCS.LocalWorkers}, {"aaa", c.Apps.AAA.LocalWorkers}} {
		name, w := app.name, app.w
		if w.Workers < 0 || w.Workers > MaxLocalWorkers {
			v.add("apps."+name+".workers", "%d is not between 0 (the default) and %d", w.Workers, MaxLocalWorkers)
		}
		if w.Queue < 0 || w.Queue > MaxLocalQueue {
			v.add("apps."+name+".queue", "%d is not between 0 (the default) and %d", w.Queue, MaxLocalQueue)
		}
	}
	if err := c.Admin.Validate(); err != nil {
		v.errs = append(v.errs, fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	if _, err := c.Telemetry.Resolve(nil); err != nil {
		v.errs = append(v.errs, fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	if err := c.Policy.Validate(); err != nil {
		v.errs = append(v.errs, err) // configs/policy.go
	}
	v.validateState(c.State) // configs/state.go
	t := c.Timers
	if t.Watchdog < MinWatchdog {
		v.add("timers.watchdog", "%s is below the RFC 3539 minimum of %s", t.Watchdog, MinWatchdog)
	}
	if t.Reconnect < time.Second {
		v.add("timers.reconnect", "%s is below 1s", t.Reconnect)
	}
	if t.ReconnectMax < t.Reconnect {
		if v.wrote("timers.reconnect") && !v.wrote("timers.reconnect_max") {
			v.add("timers.reconnect", "%s is above timers.reconnect_max (%s, its default)", t.Reconnect, t.ReconnectMax)
		} else {
			v.add("timers.reconnect_max", "%s is below timers.reconnect (%s)", t.ReconnectMax, t.Reconnect)
		}
	}
	if t.Capabilities <= 0 {
		v.add("timers.capabilities", "must be positive")
	}
	if t.Disconnect <= 0 {
		v.add("timers.disconnect", "must be positive")
	}
	l := c.Limits
	if l.MaxMessageSize < 4096 || l.MaxMessageSize > 1<<24 || l.MaxMessageSize%4 != 0 {
		v.add("limits.max_message_size", "%d must be a multiple of 4 between 4096 and 16777216", l.MaxMessageSize)
	}
	if l.MaxConnections < 1 {
		v.add("limits.max_connections", "must be at least 1")
	}
	if l.WriteQueue < 16 {
		v.add("limits.write_queue", "%d is below 16", l.WriteQueue)
	}
	if l.MaxAVPs < 16 || l.MaxAVPs > 1<<21 {
		v.add("limits.max_avps", "%d must be between 16 and 2097152", l.MaxAVPs)
	}
	if l.MaxAVPDepth < 2 || l.MaxAVPDepth > 64 {
		v.add("limits.max_avp_depth", "%d must be between 2 and 64", l.MaxAVPDepth)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", "%q is not one of text, json", c.Log.Format)
	}
	return v.err()
}

func anyConnect(ps []Peer) bool {
	for _, p := range ps {
		if p.Connect {
			return true
		}
	}
	return false
}

type validator struct {
	errs []error
	set  setKeys // nil: every key counts as written
}

// wrote reports whether the user set key.
func (v *validator) wrote(key string) bool {
	if v.set == nil {
		return true
	}
	_, ok := v.set[key]
	return ok
}

func (v *validator) add(field, format string, args ...any) {
	if env := v.set[field]; env != "" {
		field += " (" + env + ")"
	}
	v.errs = append(v.errs, fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...)))
}

func (v *validator) err() error { return errors.Join(v.errs...) }

// identity checks a DiameterIdentity (RFC 6733 §4.3.1: an FQDN).
func (v *validator) identity(field, s string) {
	if s == "" {
		v.add(field, "must not be empty")
		return
	}
	if len(s) > 255 {
		v.add(field, "%q is longer than 255 octets", s)
		return
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			v.add(field, "%q is not a valid FQDN (empty or over-long label)", s)
			return
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_'
			if !ok {
				v.add(field, "%q is not a valid FQDN (character %q)", s, ch)
				return
			}
		}
	}
}

func (v *validator) hostPort(field, s string, listen bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.add(field, "%q is not host:port: %v", s, err)
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (!listen && n == 0) {
		v.add(field, "%q has an invalid port", s)
	}
	if listen && host != "" && net.ParseIP(host) == nil {
		v.add(field, "%q: a listener needs an IP address, not a name", s)
	}
	if !listen && host == "" {
		v.add(field, "%q has no host", s)
	}
}

func (v *validator) transport(field, transport string, t TLS, listener bool) {
	switch transport {
	case "", "tcp": // unset: tcp
		if t != (TLS{}) {
			if transport == "" {
				v.add(field+".tls", "set, but transport is unset and defaults to tcp: add transport: tls")
			} else {
				v.add(field+".tls", "set, but transport is tcp")
			}
		}
		return
	case "tls":
	case "sctp":
		v.add(field+".transport", "sctp is not supported yet; use tcp or tls")
		return
	default:
		v.add(field+".transport", "%q is not one of tcp, tls", transport)
		return
	}
	if listener && (t.CertFile == "" || t.KeyFile == "") {
		v.add(field+".tls", "a TLS listener needs cert_file and key_file")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.add(field+".tls", "cert_file and key_file go together")
	}
	if !listener && t.CAFile == "" {
		v.add(field+".tls.ca_file", "required: the server certificate is always verified")
	}
	switch t.ClientAuth {
	case "", "none":
	case "request", "require":
		if !listener {
			v.add(field+".tls.client_auth", "only applies to listeners")
		} else if t.CAFile == "" {
			v.add(field+".tls.ca_file", "required to verify client certificates (client_auth %s)", t.ClientAuth)
		}
	default:
		v.add(field+".tls.client_auth", "%q is not one of none, request, require", t.ClientAuth)
	}
	if listener && t.ServerName != "" {
		v.add(field+".tls.server_name", "only applies to outgoing peers")
	}
	if len(v.errs) > 0 {
		return // file problems would only repeat the ones above
	}
	var err error
	if listener {
		_, err = t.ServerTLS()
	} else {
		_, err = t.ClientTLS("peer")
	}
	if err != nil {
		v.add(field+".tls", "%v", err)
	}
}
