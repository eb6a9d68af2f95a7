package policy

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// peerACL is the compiled policy.peer_acl.
type peerACL struct {
	allowAddr, denyAddr     prefixes
	allowHosts, denyHosts   patterns
	allowRealms, denyRealms patterns
	code                    uint32
}

func compilePeerACL(c configs.PeerACL) (*peerACL, error) {
	a := &peerACL{
		allowHosts: compilePatterns(c.AllowHosts), denyHosts: compilePatterns(c.DenyHosts),
		allowRealms: compilePatterns(c.AllowRealms), denyRealms: compilePatterns(c.DenyRealms),
		code: c.ResultCode,
	}
	if a.code == 0 {
		a.code = wire.ResultUnknownPeer
	}
	var err error
	if a.allowAddr, err = compilePrefixes("peer_acl.allow_addresses", c.AllowAddresses); err != nil {
		return nil, err
	}
	if a.denyAddr, err = compilePrefixes("peer_acl.deny_addresses", c.DenyAddresses); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *peerACL) addrAllowed(ip netip.Addr) bool {
	if a.denyAddr.contains(ip) {
		return false
	}
	return len(a.allowAddr) == 0 || a.allowAddr.contains(ip)
}

func (a *peerACL) peer(host, realm string) (uint32, string) {
	switch {
	case a.denyHosts.matchString(host):
		return a.code, "Origin-Host " + host + " is denied by policy"
	case len(a.allowHosts) > 0 && !a.allowHosts.matchString(host):
		return a.code, "Origin-Host " + host + " is not allowed by policy"
	case a.denyRealms.matchString(realm):
		return a.code, "Origin-Realm " + realm + " is denied by policy"
	case len(a.allowRealms) > 0 && !a.allowRealms.matchString(realm):
		return a.code, "Origin-Realm " + realm + " is not allowed by policy"
	}
	return 0, ""
}

// Gate is the peers.Admission of an agent: it applies the peer ACL of the
// current policy, swapped atomically on reload, logs each refused source
// address once and counts every refusal.
type Gate struct {
	acl atomic.Pointer[peerACL]
	log *slog.Logger

	// RefusedAddr counts connections closed at accept, RefusedPeer CERs
	// refused.
	RefusedAddr atomic.Uint64
	RefusedPeer atomic.Uint64

	mu     sync.Mutex
	logged map[netip.Addr]struct{} // sources already logged, bounded
}

var _ peers.Admission = (*Gate)(nil)

// maxLoggedSources bounds the set of sources whose refusal was logged;
// past it the set starts over (a flood from many sources logs again, not
// forever more memory).
const maxLoggedSources = 4096

// NewGate returns a Gate that admits everyone until Set is called.
func NewGate(log *slog.Logger) *Gate {
	if log == nil {
		log = slog.Default()
	}
	return &Gate{log: log, logged: map[netip.Addr]struct{}{}}
}

// Set installs the peer ACL of p (nil: admit everyone).
func (g *Gate) Set(p *Policy) {
	if p == nil {
		g.acl.Store(nil)
		return
	}
	g.acl.Store(p.peerACL)
}

// AdmitAddr implements peers.Admission.
func (g *Gate) AdmitAddr(remote netip.AddrPort) bool {
	a := g.acl.Load()
	if a == nil || a.addrAllowed(remote.Addr()) {
		return true
	}
	g.RefusedAddr.Add(1)
	ip := remote.Addr().Unmap()
	g.mu.Lock()
	_, seen := g.logged[ip]
	if !seen {
		if len(g.logged) >= maxLoggedSources {
			clear(g.logged)
		}
		g.logged[ip] = struct{}{}
	}
	g.mu.Unlock()
	if !seen {
		g.log.Warn("connection refused by policy: source address not admitted (logged once per source)", "remote", remote.String())
	}
	return false
}

// AdmitPeer implements peers.Admission.
func (g *Gate) AdmitPeer(host, realm string, remote netip.AddrPort) (uint32, string) {
	a := g.acl.Load()
	if a == nil {
		return 0, ""
	}
	if !a.addrAllowed(remote.Addr()) {
		g.RefusedPeer.Add(1)
		return a.code, "source address not admitted by policy"
	}
	code, why := a.peer(host, realm)
	if code != 0 {
		g.RefusedPeer.Add(1)
	}
	return code, why
}
