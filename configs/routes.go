package configs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dra-project/dra/realm"
)

var usages = map[string]uint32{
	"DONT_CACHE":            realm.UsageDontCache,
	"ALL_SESSION":           realm.UsageAllSession,
	"ALL_REALM":             realm.UsageAllRealm,
	"REALM_AND_APPLICATION": realm.UsageRealmAndApplication,
	"ALL_APPLICATION":       realm.UsageAllApplication,
	"ALL_HOST":              realm.UsageAllHost,
	"ALL_USER":              realm.UsageAllUser,
}

// RealmRoutes converts the routes section into routing table entries.
func (c *Config) RealmRoutes() ([]realm.Route, error) {
	out := make([]realm.Route, 0, len(c.Routes))
	for i, r := range c.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		rr := realm.Route{
			Name: r.Name, Realm: r.Realm, Commands: r.Commands,
			OriginHost: r.OriginHost, OriginRealm: r.OriginRealm,
			Timeout: r.Timeout, Retries: -1, Sticky: true,
			SharedBinding: r.SharedBinding, BindingTTL: r.BindingTTL,
			RedirectHosts: r.Redirect.Hosts, RedirectMaxCache: r.Redirect.MaxCacheTime,
		}
		switch app := strings.TrimSpace(r.Application); app {
		case "", "*", "any":
			rr.AnyApp = true
		default:
			id, err := strconv.ParseUint(app, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.application: %q is not an Application-Id or \"*\"", ErrInvalid, f, app)
			}
			rr.AppID = uint32(id)
		}
		a, err := realm.ParseAction(r.Action)
		if err != nil {
			return nil, fmt.Errorf("%w: %s.action: %v", ErrInvalid, f, err)
		}
		rr.Action = a
		if r.Retries != nil {
			rr.Retries = *r.Retries
		}
		if r.Sticky != nil {
			rr.Sticky = *r.Sticky
		}
		if r.Redirect.Usage != "" {
			u, ok := usages[strings.ToUpper(r.Redirect.Usage)]
			if !ok {
				return nil, fmt.Errorf("%w: %s.redirect.usage: %q is not a Redirect-Host-Usage", ErrInvalid, f, r.Redirect.Usage)
			}
			rr.RedirectUsage = u
		}
		for _, p := range r.Peers {
			rr.Peers = append(rr.Peers, realm.PeerRef{Host: p.Host, Priority: p.Priority, Weight: p.Weight})
		}
		out = append(out, rr)
	}
	return out, nil
}

// RoutingTable builds the routing table the configuration describes.
func (c *Config) RoutingTable() (*realm.Table, error) {
	rs, err := c.RealmRoutes()
	if err != nil {
		return nil, err
	}
	t, err := realm.Build(rs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return t, nil
}
