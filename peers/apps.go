package peers

import (
	"slices"

	"github.com/dra-project/dra/wire"
)

// App is one application the agent serves itself and advertises.
type App struct {
	ID       uint32
	VendorID uint32 // non-zero: advertised in Vendor-Specific-Application-Id
	Acct     bool   // Acct-Application-Id rather than Auth-Application-Id
}

// AppSet is the set of applications negotiated with a peer. It is immutable.
type AppSet struct {
	all bool     // both sides relay, or the peer relays and we serve all we list
	ids []uint32 // sorted, without the relay id
}

// Supports reports whether messages of application id may be exchanged with
// the peer. Application 0 (base protocol) is always supported.
func (s AppSet) Supports(id uint32) bool {
	if id == 0 || s.all {
		return true
	}
	_, ok := slices.BinarySearch(s.ids, id)
	return ok
}

// All reports whether every application is supported (relay on both ends).
func (s AppSet) All() bool { return s.all }

// IDs returns the negotiated application ids; for All it returns just
// wire.RelayAppID.
func (s AppSet) IDs() []uint32 {
	if s.all {
		return []uint32{wire.RelayAppID}
	}
	return slices.Clone(s.ids)
}

// Empty reports whether no application is common.
func (s AppSet) Empty() bool { return !s.all && len(s.ids) == 0 }

func newAppSet(ids []uint32) AppSet {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return AppSet{ids: slices.Compact(ids)}
}

// remoteApps returns the applications a peer announced and whether it
// announced the relay application.
func (c *Capabilities) remoteApps() (ids []uint32, relay bool) {
	add := func(id uint32) {
		if id == wire.RelayAppID {
			relay = true
		} else if id != 0 {
			ids = append(ids, id)
		}
	}
	for _, id := range c.AuthApps {
		add(id)
	}
	for _, id := range c.AcctApps {
		add(id)
	}
	for _, va := range c.VendorApps {
		add(va.AuthApp)
		add(va.AcctApp)
	}
	return ids, relay
}

// negotiate computes the applications usable with a peer (RFC 6733 §5.3):
// the intersection of both announcements, where a relay supports every
// application.
func negotiate(localRelay bool, local []App, remote *Capabilities) AppSet {
	rids, rrelay := remote.remoteApps()
	lids := make([]uint32, 0, len(local))
	for _, a := range local {
		lids = append(lids, a.ID)
	}
	switch {
	case localRelay && rrelay:
		return AppSet{all: true}
	case rrelay:
		return newAppSet(lids)
	case localRelay:
		return newAppSet(rids)
	}
	common := make([]uint32, 0, len(rids))
	for _, id := range rids {
		if slices.Contains(lids, id) {
			common = append(common, id)
		}
	}
	return newAppSet(common)
}
