// Package apps holds what the locally terminated applications (apps/cdf,
// apps/ocs, apps/aaa) share: the agent's identity and the way they
// originate requests.
package apps

import (
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// Identity is the agent's own Diameter identity, used in answers and in
// the requests an application originates.
type Identity struct{ OriginHost, OriginRealm string }

// Originator routes a request an application originates (RAR, ASR) and
// calls done with its answer.
type Originator interface {
	Originate(m wire.Msg, done func(wire.Msg))
}

var _ Originator = (*routing.Router)(nil)
