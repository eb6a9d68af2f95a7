package policy

import (
	"bytes"
	"strings"
	"sync"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// topoRule is a compiled policy.topology_hiding entry.
//
// What is hidden, toward the external peers and realms it names:
//   - in requests leaving toward them: an internal Origin-Host becomes the
//     pseudonym (and Origin-Realm the configured realm, if any); Route-Record
//     entries naming internal hosts are stripped, or rewritten to the
//     pseudonym;
//   - in answers going back to them: an internal Origin-Host (and
//     Error-Reporting-Host) becomes the pseudonym, Origin-Realm the
//     configured realm.
//
// What is restored: the Session-Id of every hidden request is remembered
// with the internal host and realm (a bounded map, oldest forgotten
// first), so that a later request from the external side addressed to the
// pseudonym (Destination-Host) gets the internal host back, and
// Destination-Realm too when the realm was hidden. A request to the
// pseudonym with an unknown Session-Id is answered 3002
// DIAMETER_UNABLE_TO_DELIVER.
type topoRule struct {
	name          string
	peers, realms patterns
	internal      patterns
	pseudonym     []byte
	pseudoLower   string
	realm         []byte // "" keeps Origin-Realm
	rrPseudonym   bool
	sessions      *sessionMap
}

func compileTopology(cs []configs.TopologyHiding, st *State) []*topoRule {
	var out []*topoRule
	for _, c := range cs {
		n := c.Sessions
		if n <= 0 {
			n = 100000
		}
		out = append(out, &topoRule{
			name: c.Name, peers: compilePatterns(c.Peers), realms: compilePatterns(c.Realms),
			internal: compilePatterns(c.InternalHosts), pseudonym: []byte(c.Pseudonym), pseudoLower: strings.ToLower(c.Pseudonym), realm: []byte(c.OriginRealm),
			rrPseudonym: c.RouteRecord == "pseudonym",
			sessions:    st.sessionMap(c.Name+"|"+c.Pseudonym, n),
		})
	}
	return out
}

// externalPeer reports whether a peer (identity, announced realm) is on the
// external side.
func (t *topoRule) externalPeer(p *peers.Peer) bool {
	if p == nil {
		return false
	}
	if t.peers.matchString(p.Identity()) {
		return true
	}
	if len(t.realms) > 0 {
		if a := p.Active(); a != nil && t.realms.matchString(a.Caps.OriginRealm) {
			return true
		}
	}
	return false
}

// hideRequest rewrites a request leaving toward the external side.
func (t *topoRule) hideRequest(m wire.Msg, sid []byte) wire.Msg {
	oh, _ := m.Find(wire.AVPOriginHost, 0)
	hideOrigin := len(oh.Data) > 0 && t.internal.match(oh.Data)
	if hideOrigin && len(sid) > 0 {
		var realm []byte
		if len(t.realm) > 0 {
			if or, ok := m.Find(wire.AVPOriginRealm, 0); ok {
				realm = or.Data
			}
		}
		t.sessions.put(sid, oh.Data, realm)
	}
	return editMsg(m, func(a wire.AVP) (bool, []byte, bool) {
		switch {
		case a.VendorID != 0:
		case a.Code == wire.AVPOriginHost && hideOrigin:
			return true, t.pseudonym, true
		case a.Code == wire.AVPOriginRealm && hideOrigin && len(t.realm) > 0:
			return true, t.realm, true
		case a.Code == wire.AVPRouteRecord && t.internal.match(a.Data):
			if t.rrPseudonym {
				return true, t.pseudonym, !bytes.Equal(a.Data, t.pseudonym)
			}
			return false, nil, false
		}
		return true, nil, false
	})
}

// hideAnswer rewrites an answer going back to the external side.
func (t *topoRule) hideAnswer(m wire.Msg) wire.Msg {
	oh, _ := m.Find(wire.AVPOriginHost, 0)
	hideOrigin := len(oh.Data) > 0 && t.internal.match(oh.Data)
	return editMsg(m, func(a wire.AVP) (bool, []byte, bool) {
		switch {
		case a.VendorID != 0:
		case a.Code == wire.AVPOriginHost && hideOrigin:
			return true, t.pseudonym, true
		case a.Code == wire.AVPOriginRealm && hideOrigin && len(t.realm) > 0:
			return true, t.realm, true
		case a.Code == wire.AVPErrorReportingHost && t.internal.match(a.Data):
			return true, t.pseudonym, true
		}
		return true, nil, false
	})
}

// restore rewrites a request from the external side addressed to the
// pseudonym back to the internal host; ok is false when the session is
// unknown.
func (t *topoRule) restore(m wire.Msg, sid []byte) (wire.Msg, bool) {
	host, realm, ok := t.sessions.get(sid)
	if !ok {
		return m, false
	}
	return editMsg(m, func(a wire.AVP) (bool, []byte, bool) {
		switch {
		case a.VendorID != 0:
		case a.Code == wire.AVPDestinationHost:
			return true, host, true
		case a.Code == wire.AVPDestinationRealm && len(t.realm) > 0 && len(realm) > 0 && bytes.EqualFold(a.Data, t.realm):
			return true, realm, true
		}
		return true, nil, false
	}), true
}

// sessionMap remembers Session-Id -> (internal host, realm), bounded: each
// shard forgets its oldest entry when full.
type sessionMap struct {
	shards [16]sessionShard
}

type sessionShard struct {
	mu   sync.Mutex
	m    map[string]hiddenOrigin
	ring []string
	next int
	max  int
}

type hiddenOrigin struct {
	host, realm []byte
}

func newSessionMap(n int) *sessionMap {
	s := &sessionMap{}
	per := max(n/len(s.shards), 1)
	for i := range s.shards {
		s.shards[i] = sessionShard{m: map[string]hiddenOrigin{}, max: per}
	}
	return s
}

func (s *sessionMap) shard(sid []byte) *sessionShard {
	h := uint32(2166136261)
	for _, c := range sid {
		h = (h ^ uint32(c)) * 16777619
	}
	return &s.shards[h%uint32(len(s.shards))]
}

func (s *sessionMap) put(sid, host, realm []byte) {
	sh := s.shard(sid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[string(sid)]; ok && bytes.Equal(e.host, host) && bytes.Equal(e.realm, realm) {
		return
	}
	key := string(sid)
	if _, ok := sh.m[key]; !ok {
		if len(sh.ring) < sh.max {
			sh.ring = append(sh.ring, key)
		} else {
			delete(sh.m, sh.ring[sh.next])
			sh.ring[sh.next] = key
			sh.next = (sh.next + 1) % sh.max
		}
	}
	sh.m[key] = hiddenOrigin{host: bytes.Clone(host), realm: bytes.Clone(realm)}
}

func (s *sessionMap) get(sid []byte) (host, realm []byte, ok bool) {
	sh := s.shard(sid)
	sh.mu.Lock()
	e, ok := sh.m[string(sid)]
	sh.mu.Unlock()
	return e.host, e.realm, ok
}

func (s *sessionMap) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
