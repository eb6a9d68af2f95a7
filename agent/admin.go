package agent

import (
	"github.com/dra-project/dra/admin"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/routing"
)

// backend adapts the agent to the admin API.
type backend struct{ a *Agent }

var _ admin.Backend = backend{}

func (b backend) Peers() []*peers.PeerInfo {
	return append(b.a.peers.Table().All(), b.a.peers.Retiring()...)
}
func (b backend) Routes() []*realm.Route { return b.a.router.Table().Routes() }
func (b backend) Stats() *routing.Stats  { return b.a.router.Stats() }

// Refusals counts the requests shed and the connections refused.
func (b backend) Refusals() admin.RefusalsView {
	v := admin.RefusalsView{Shed: map[string]uint64{}, Unopened: b.a.peers.Unopened()}
	for _, r := range routing.ShedReasons() {
		v.Shed[r.String()] = b.a.router.Shed(r)
	}
	return v
}
func (b backend) Ready() (bool, string)            { return b.a.Ready() }
func (b backend) Disconnect(identity string) error { return b.a.peers.Disconnect(identity) }

// Reload re-reads the configuration file the agent was started with, as
// SIGHUP does (same path, same counters).
func (b backend) Reload() ([]string, error) { return b.a.ReloadFile() }

// Reloads returns the reload counters.
func (b backend) Reloads() admin.ReloadsView {
	st := b.a.ReloadStats()
	return admin.ReloadsView{OK: st.OK, Failed: st.Failed, Last: st.Last, LastOK: st.LastOK, LastError: st.LastError}
}

// RunningConfig is the configuration in force, without secrets.
func (b backend) RunningConfig() any { return b.a.Running() }
