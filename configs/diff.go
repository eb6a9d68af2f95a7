package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// Running is a configuration as an agent reports it (the admin API serves
// it, and `dra check` compares a file with it): the admin tokens and the
// state backend's password Redacted,
// and each local application compared by a digest of its settings, which
// may hold subscriber data. Its JSON form is {"config": View, "apps":
// digests}.
type Running struct {
	Config Config
	// Apps maps cdf, ocs and aaa to a digest of their settings; "" when
	// the application is disabled.
	Apps map[string]string
}

// Snapshot returns c as Running.
func Snapshot(c *Config) Running {
	r := Running{Config: *c, Apps: appDigests(c)}
	for _, t := range append([]*string{&r.Config.Admin.Token, &r.Config.Admin.ReadToken}, stateSecrets(&r.Config.State)...) {
		if *t != "" {
			*t = Redacted
		}
	}
	return r
}

// Diff is what changes from one configuration to the next.
type Diff struct {
	PeersAdded    []string `json:"peers_added,omitempty"`
	PeersRemoved  []string `json:"peers_removed,omitempty"`
	PeersChanged  []Change `json:"peers_changed,omitempty"`
	RoutesAdded   []string `json:"routes_added,omitempty"`
	RoutesRemoved []string `json:"routes_removed,omitempty"`
	RoutesChanged []Change `json:"routes_changed,omitempty"`
	// Live are the other settings that changed and take effect on reload
	// (routing.timeout, timers.watchdog, limits.write_queue, ...).
	Live []string `json:"live,omitempty"`
	// NeedRestart are the settings that changed but take effect only
	// after a restart: identity, listeners, the admin API, logging, the
	// local applications, and any setting not known to apply live.
	NeedRestart []string `json:"need_restart,omitempty"`
}

// Change is one peer or route whose settings changed: its name and the
// fields that differ.
type Change struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
}

// Empty reports whether nothing changes.
func (d *Diff) Empty() bool {
	return len(d.PeersAdded)+len(d.PeersRemoved)+len(d.PeersChanged)+len(d.RoutesAdded)+
		len(d.RoutesRemoved)+len(d.RoutesChanged)+len(d.Live)+len(d.NeedRestart) == 0
}

// liveSettings are the settings (sections or single keys) a reload applies
// besides peers and routes; a change anywhere else needs a restart.
var liveSettings = []string{
	"accept_unknown_peers", "routing", "timers", "policy",
	"limits.max_message_size", "limits.max_connections", "limits.write_queue",
	"telemetry.traces.sampling_ratio",
}

func isLive(key string) bool {
	for _, l := range liveSettings {
		if key == l || strings.HasPrefix(key, l+".") {
			return true
		}
	}
	return false
}

// Compare returns what changes from old to new.
func Compare(old, new *Config) Diff {
	d := CompareRunning(Snapshot(old), new)
	// A token changed for another (both Redacted in the snapshots).
	for key, changed := range map[string]bool{
		"admin.token":          old.Admin.Token != new.Admin.Token,
		"admin.read_token":     old.Admin.ReadToken != new.Admin.ReadToken,
		"state.redis.password": old.State.Redis.Password != new.State.Redis.Password,
	} {
		if changed && !slices.Contains(d.NeedRestart, key) {
			d.NeedRestart = append(d.NeedRestart, key)
		}
	}
	slices.Sort(d.NeedRestart)
	return d
}

// CompareRunning returns what changes from a running configuration to new.
func CompareRunning(old Running, new *Config) Diff {
	var d Diff
	d.PeersAdded, d.PeersRemoved, d.PeersChanged = diffNamed(
		old.Config.Peers, new.Peers, func(p Peer) string { return strings.ToLower(p.Host) })
	d.RoutesAdded, d.RoutesRemoved, d.RoutesChanged = diffNamed(
		namedRoutes(old.Config.Routes), namedRoutes(new.Routes), func(r Route) string { return r.Name })
	nc := Snapshot(new)
	ov, nv := reflect.ValueOf(old.Config), reflect.ValueOf(nc.Config)
	for i := range ov.NumField() {
		f := ov.Type().Field(i)
		name := tagName(f)
		switch name {
		case "peers", "routes", "apps":
			continue
		}
		for _, k := range fieldDiff(name, ov.Field(i), nv.Field(i)) {
			if isLive(k) {
				d.Live = append(d.Live, k)
			} else {
				d.NeedRestart = append(d.NeedRestart, k)
			}
		}
	}
	for _, app := range []string{"cdf", "ocs", "aaa"} {
		if old.Apps[app] != nc.Apps[app] {
			d.NeedRestart = append(d.NeedRestart, "apps."+app)
		}
	}
	return d
}

// namedRoutes gives unnamed routes the name the routing table shows for
// them (routeN, by position).
func namedRoutes(rs []Route) []Route {
	out := slices.Clone(rs)
	for i := range out {
		if out[i].Name == "" {
			out[i].Name = fmt.Sprintf("route%d", i)
		}
	}
	return out
}

// diffNamed matches two lists by key and names the fields of the matched
// items that differ.
func diffNamed[T any](old, new []T, key func(T) string) (added, removed []string, changed []Change) {
	before := make(map[string]T, len(old))
	for _, o := range old {
		before[key(o)] = o
	}
	seen := map[string]bool{}
	for _, n := range new {
		k := key(n)
		seen[k] = true
		o, ok := before[k]
		if !ok {
			added = append(added, displayName(n, k))
			continue
		}
		if fs := fieldDiff("", reflect.ValueOf(o), reflect.ValueOf(n)); len(fs) > 0 {
			changed = append(changed, Change{Name: displayName(n, k), Fields: fs})
		}
	}
	for _, o := range old {
		if k := key(o); !seen[k] {
			removed = append(removed, displayName(o, k))
		}
	}
	return added, removed, changed
}

func displayName(v any, key string) string {
	if p, ok := v.(Peer); ok {
		return p.Host
	}
	return key
}

// fieldDiff names the fields (by their configuration key, dotted below
// prefix) where a and b differ; structs are compared field by field, down
// to two levels below a top-level section (telemetry.traces.sampling_ratio).
func fieldDiff(prefix string, a, b reflect.Value) []string {
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return nil
	}
	if a.Kind() != reflect.Struct || strings.Count(prefix, ".") >= 2 {
		return []string{prefix}
	}
	var out []string
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name := tagName(f)
		if f.Anonymous || name == "" { // squashed: same level
			out = append(out, fieldDiff(prefix, a.Field(i), b.Field(i))...)
			continue
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		out = append(out, fieldDiff(name, a.Field(i), b.Field(i))...)
	}
	if len(out) == 0 { // unexported differences only
		out = []string{prefix}
	}
	return out
}

func tagName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	if tag == "" && !f.Anonymous {
		return strings.ToLower(f.Name)
	}
	return tag
}

// appDigests are digests of each enabled application's settings.
func appDigests(c *Config) map[string]string {
	out := map[string]string{}
	for name, app := range map[string]struct {
		on  bool
		cfg any
	}{
		"cdf": {c.Apps.CDF.Enabled, c.Apps.CDF},
		"ocs": {c.Apps.OCS.Enabled, c.Apps.OCS},
		"aaa": {c.Apps.AAA.Enabled, c.Apps.AAA},
	} {
		if !app.on {
			out[name] = ""
			continue
		}
		b, err := json.Marshal(app.cfg)
		if err != nil {
			b = fmt.Appendf(nil, "%#v", app.cfg)
		}
		sum := sha256.Sum256(b)
		out[name] = hex.EncodeToString(sum[:8])
	}
	return out
}

// Write prints the diff for an operator, one line per item.
func (d *Diff) Write(w io.Writer) {
	if d.Empty() {
		fmt.Fprintln(w, "no change")
		return
	}
	list := func(what string, names []string) {
		for _, n := range names {
			fmt.Fprintf(w, "  %-15s %s\n", what, n)
		}
	}
	changes := func(what string, cs []Change) {
		for _, c := range cs {
			fmt.Fprintf(w, "  %-15s %s: %s\n", what, c.Name, strings.Join(c.Fields, ", "))
		}
	}
	list("peer added", d.PeersAdded)
	list("peer removed", d.PeersRemoved)
	changes("peer changed", d.PeersChanged)
	list("route added", d.RoutesAdded)
	list("route removed", d.RoutesRemoved)
	changes("route changed", d.RoutesChanged)
	list("live", d.Live)
	list("needs restart", d.NeedRestart)
}
