package agent

import (
	"fmt"

	"github.com/dra-project/dra/admin"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/routing"
)

// backend adapts the agent to the admin API.
type backend struct{ a *Agent }

var _ admin.Backend = backend{}

func (b backend) Peers() []*peers.PeerInfo         { return b.a.peers.Table().All() }
func (b backend) Routes() []*realm.Route           { return b.a.router.Table().Routes() }
func (b backend) Stats() *routing.Stats            { return b.a.router.Stats() }
func (b backend) Ready() (bool, string)            { return b.a.Ready() }
func (b backend) Disconnect(identity string) error { return b.a.peers.Disconnect(identity) }

// Reload re-reads the configuration file the agent was started with.
func (b backend) Reload() ([]string, error) {
	if b.a.path == "" {
		return nil, fmt.Errorf("agent: started on the embedded configuration: there is no file to reload")
	}
	cfg, err := configs.Load(b.a.path)
	if err != nil {
		return nil, err
	}
	return b.a.Reload(cfg)
}
