package policy

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// State is what outlives policy generations: rate-limit buckets, the
// topology-hiding session maps, the DOIC reports and the peer admission
// gate. An agent keeps one State and builds a Policy from it on every
// (re)load.
type State struct {
	Limits   *Limits
	Overload *Overload
	Gate     *Gate

	mu       sync.Mutex
	sessions map[string]*sessionMap
}

// NewState returns an empty State logging to log.
func NewState(log *slog.Logger) *State {
	return &State{Limits: NewLimits(), Overload: NewOverload(), Gate: NewGate(log), sessions: map[string]*sessionMap{}}
}

func (s *State) sessionMap(key string, n int) *sessionMap {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.sessions[key]; m != nil && m.shards[0].max == max(n/len(m.shards), 1) {
		return m
	}
	m := newSessionMap(n)
	s.sessions[key] = m
	return m
}

// Policy is one configuration's compiled policy: immutable, shared by the
// requests of its routing generation.
type Policy struct {
	peerACL     *peerACL
	routeACL    []routeRule
	rates       []rateRule
	maxPending  int
	pendingCaps []pendingCap
	avp         []avpRule
	reqRules    bool
	ansRules    bool
	topo        []*topoRule
	doic        bool
	ov          *Overload
	id          Identity
	now         func() time.Time
}

// Identity is the agent's own identity, for the answers policy produces.
type Identity struct {
	OriginHost, OriginRealm string
}

type pendingCap struct {
	peers patterns
	max   int
}

// Build compiles the policy section against st. The configuration is
// validated first; every error names its field.
func Build(c configs.Policy, id Identity, st *State) (*Policy, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := &Policy{maxPending: c.MaxPending, doic: c.DOIC.Enabled, ov: st.Overload, id: id, now: time.Now}
	var err error
	if p.peerACL, err = compilePeerACL(c.PeerACL); err != nil {
		return nil, err
	}
	p.routeACL = compileRouteACL(c.RouteACL)
	keep := map[*limiter]bool{}
	for i, r := range c.RateLimits {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("rate_limits[%d]", i)
		}
		l := st.Limits.get(r)
		keep[l] = true
		p.rates = append(p.rates, rateRule{
			name: name, peers: compilePatterns(r.Peers), apps: r.Applications, lim: l,
			msg: fmt.Sprintf("rate limit %s exceeded (%g/s, burst %d)", name, r.Rate, r.Burst),
		})
	}
	st.Limits.prune(keep)
	for _, pc := range c.PendingCaps {
		p.pendingCaps = append(p.pendingCaps, pendingCap{peers: compilePatterns(pc.Peers), max: pc.Max})
	}
	if p.avp, err = compileAVPRules(c.AVPRules); err != nil {
		return nil, err
	}
	for i := range p.avp {
		p.reqRules = p.reqRules || p.avp[i].onReq
		p.ansRules = p.ansRules || p.avp[i].onAns
	}
	p.topo = compileTopology(c.TopologyHiding, st)
	return p, nil
}

// Middleware returns the request stages (rate limits, topology
// restoration, DOIC throttling), or nil when none is configured.
func (p *Policy) Middleware() routing.Middleware {
	if len(p.rates) == 0 && len(p.topo) == 0 && !p.doic {
		return nil
	}
	return func(next routing.Handler) routing.Handler {
		return routing.HandlerFunc(func(ctx context.Context, r *routing.Request) (routing.Answer, error) {
			if code, msg := p.screen(r); code != 0 {
				return p.errorAnswer(r, code, msg), nil
			}
			return next.ServeDiameter(ctx, r)
		})
	}
}

// screen runs the request stages; a non-zero code refuses r.
func (p *Policy) screen(r *routing.Request) (uint32, string) {
	if r.Originated() {
		return 0, ""
	}
	app := r.AppID()
	if len(p.rates) > 0 {
		if msg := allowRate(p.rates, r.Ingress.Identity(), app, p.now().UnixNano()); msg != "" {
			return wire.ResultTooBusy, msg
		}
	}
	for _, t := range p.topo {
		if len(r.DestHost()) == 0 || !equalFold(r.DestHost(), t.pseudoLower) || !t.externalPeer(r.Ingress) {
			continue
		}
		m, ok := t.restore(r.Msg, r.SessionID())
		if !ok {
			return wire.ResultUnableToDeliver, "unknown session for " + string(t.pseudonym)
		}
		if err := r.SetMsg(m); err != nil {
			return wire.ResultUnableToComply, "topology restoration failed"
		}
		break
	}
	if p.doic && p.ov.active() && !hasOCSupported(r.Msg) {
		typ, name := uint32(RealmReport), r.DestRealm()
		if len(r.DestHost()) > 0 {
			typ, name = HostReport, r.DestHost()
		}
		if pct := reduction(p.ov, typ, app, name, p.now().UnixNano()); pct > 0 && rand.Uint32N(100) < pct {
			p.ov.Throttled.Add(1)
			return wire.ResultTooBusy, fmt.Sprintf("overload abatement: %s asked for a %d%% reduction (RFC 7683)", name, pct)
		}
	}
	return 0, ""
}

func hasOCSupported(m wire.Msg) bool {
	_, ok := m.Find(AVPOCSupportedFeatures, 0)
	return ok
}

// errorAnswer builds the agent's answer to r (RFC 6733 §7: E bit for 3xxx,
// Session-Id and Proxy-Info kept, Error-Message). It runs before r is
// forwarded, so r's hop-by-hop id is still the requester's.
func (p *Policy) errorAnswer(r *routing.Request, code uint32, msg string) routing.Answer {
	return wire.ErrorAnswer(r.Msg, wire.ErrorSpec{
		OriginHost: p.id.OriginHost, OriginRealm: p.id.OriginRealm, ResultCode: code, Message: msg,
	})
}

// Hooks returns the routing hooks this policy needs, nil when none.
func (p *Policy) Hooks() *routing.Hooks {
	h := &routing.Hooks{}
	if len(p.routeACL) > 0 {
		h.Route = p.routeHook
	}
	if p.maxPending > 0 || len(p.pendingCaps) > 0 || p.doic {
		h.Peer = p.peerHook
	}
	if p.reqRules || len(p.topo) > 0 || p.doic {
		h.Egress = p.egressHook
	}
	if p.ansRules || len(p.topo) > 0 || p.doic {
		h.Answer = p.answerHook
	}
	if h.Route == nil && h.Peer == nil && h.Egress == nil && h.Answer == nil {
		return nil
	}
	return h
}

func (p *Policy) pendingCap(id string) int {
	for i := range p.pendingCaps {
		if p.pendingCaps[i].peers.matchString(id) {
			return p.pendingCaps[i].max
		}
	}
	return p.maxPending
}

func (p *Policy) peerHook(r *routing.Request, a *peers.Active) bool {
	if n := p.pendingCap(a.Peer.Identity()); n > 0 && a.Conn.PendingLen() >= n {
		return false
	}
	// A realm-routed request toward a host under a host report is
	// diverted with the report's probability (requests with a
	// Destination-Host were throttled, or not, in screen).
	if p.doic && len(r.DestHost()) == 0 && p.ov.active() && !hasOCSupported(r.Msg) {
		if pct := reduction(p.ov, HostReport, r.AppID(), a.Peer.Identity(), p.now().UnixNano()); pct > 0 && rand.Uint32N(100) < pct {
			p.ov.Diverted.Add(1)
			return false
		}
	}
	return true
}

func (p *Policy) egressHook(r *routing.Request, a *peers.Active, out wire.Msg) wire.Msg {
	if p.reqRules {
		v := msgView{request: true, egress: a.Peer.Identity(), destRealm: r.DestRealm()}
		if r.Ingress != nil {
			v.ingress = r.Ingress.Identity()
		}
		out = applyAVPRules(p.avp, out, &v, nil)
	}
	for _, t := range p.topo {
		if t.externalPeer(a.Peer) || (len(t.realms) > 0 && t.realms.match(r.DestRealm())) {
			out = t.hideRequest(out, r.SessionID())
			break
		}
	}
	if p.doic && !hasOCSupported(out) {
		out = out.AppendAVP(AVPOCSupportedFeatures, 0, 0, ocSupportedFeatures)
		r.PolicyFlags |= flagOCInserted
	}
	return out
}

func (p *Policy) answerHook(r *routing.Request, from *peers.Peer, ans wire.Msg) wire.Msg {
	if p.doic && from != nil {
		ans = p.readOLR(r, ans)
	}
	if p.ansRules {
		v := msgView{destRealm: r.DestRealm()}
		if r.Ingress != nil {
			v.ingress = r.Ingress.Identity()
		}
		if from != nil {
			v.egress = from.Identity()
		}
		ans = applyAVPRules(p.avp, ans, &v, nil)
	}
	for _, t := range p.topo {
		if t.externalPeer(r.Ingress) {
			ans = t.hideAnswer(ans)
			break
		}
	}
	return ans
}

// readOLR records the OC-OLR of an answer; when the agent added
// OC-Supported-Features to the request (the client does not support
// DOIC), the agent is the reacting node and removes the OC AVPs the client
// would not understand.
func (p *Policy) readOLR(r *routing.Request, ans wire.Msg) wire.Msg {
	var host, realm, olr []byte
	it := ans.AVPs()
	for it.Next() {
		a := it.AVP()
		if a.VendorID != 0 {
			continue
		}
		switch a.Code {
		case wire.AVPOriginHost:
			host = a.Data
		case wire.AVPOriginRealm:
			realm = a.Data
		case AVPOCOLR:
			olr = a.Data
		}
	}
	if olr != nil {
		if o, err := ParseOLR(olr); err == nil {
			p.ov.Record(ans.AppID(), host, realm, o, p.now())
		}
	}
	if r.PolicyFlags&flagOCInserted != 0 && (olr != nil || hasOCSupported(ans)) {
		ans = editMsg(ans, func(a wire.AVP) (bool, []byte, bool) {
			return a.VendorID != 0 || (a.Code != AVPOCOLR && a.Code != AVPOCSupportedFeatures), nil, false
		})
	}
	return ans
}
