package policy

import (
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// routeRule is a compiled policy.route_acl entry. The default refusal is
// 5003 DIAMETER_AUTHORIZATION_REJECTED: a permanent failure, so the client
// does not retry the same request through another agent for an origin
// that is not entitled to the route (3002 would invite that); a rule may
// choose another code.
type routeRule struct {
	route                               pattern
	allowHost, allowRealm, allowIngress patterns
	denyHost, denyRealm, denyIngress    patterns
	code                                uint32
}

func compileRouteACL(cs []configs.RouteACL) []routeRule {
	var out []routeRule
	for _, c := range cs {
		r := routeRule{
			route:     compilePattern(c.Route),
			allowHost: compilePatterns(c.AllowOriginHosts), allowRealm: compilePatterns(c.AllowOriginRealms),
			allowIngress: compilePatterns(c.AllowIngressPeers),
			denyHost:     compilePatterns(c.DenyOriginHosts), denyRealm: compilePatterns(c.DenyOriginRealms),
			denyIngress: compilePatterns(c.DenyIngressPeers),
			code:        c.ResultCode,
		}
		if c.Route == "" {
			r.route = pattern{any: true}
		}
		if r.code == 0 {
			r.code = wire.ResultAuthorizationRejected
		}
		out = append(out, r)
	}
	return out
}

// routeHook applies the first rule naming r's route.
func (p *Policy) routeHook(r *routing.Request) (uint32, string) {
	rt := r.Route()
	if rt == nil || r.Originated() {
		return 0, ""
	}
	ingress := r.Ingress.Identity()
	for i := range p.routeACL {
		a := &p.routeACL[i]
		if !a.route.matchString(rt.Name) {
			continue
		}
		ok := a.allowHost.allows(r.OriginHost()) && a.allowRealm.allows(r.OriginRealm()) &&
			(len(a.allowIngress) == 0 || a.allowIngress.matchString(ingress)) &&
			!a.denyHost.match(r.OriginHost()) && !a.denyRealm.match(r.OriginRealm()) && !a.denyIngress.matchString(ingress)
		if !ok {
			return a.code, "origin not admitted to route " + rt.Name
		}
		return 0, ""
	}
	return 0, ""
}
