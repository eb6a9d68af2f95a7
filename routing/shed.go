package routing

import (
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// ShedReason says why the agent refused a request with 3004
// DIAMETER_TOO_BUSY instead of serving it.
type ShedReason int

// Reasons for shedding a request.
const (
	// ShedIngressBacklog: the answers owed to the requesting peer fill
	// half its connection's write queue (it reads them too slowly).
	ShedIngressBacklog ShedReason = iota
	// ShedEgressQueue: the write queue of every eligible next hop is near
	// full.
	ShedEgressQueue
	// ShedPeerRefused: the policy (pending-request cap, DOIC) refused
	// every eligible next hop.
	ShedPeerRefused
	// ShedLocalQueue: the local application's work queue is full.
	ShedLocalQueue
	numShedReasons
)

var shedNames = [numShedReasons]string{"ingress_backlog", "egress_queue", "peer_refused", "local_queue"}

// String is the reason's metric label.
func (s ShedReason) String() string { return shedNames[s] }

// ShedReasons lists every reason, in order.
func ShedReasons() []ShedReason {
	return []ShedReason{ShedIngressBacklog, ShedEgressQueue, ShedPeerRefused, ShedLocalQueue}
}

// shedding counts shed requests by reason and logs them at most once per
// interval each.
type shedding struct {
	n   [numShedReasons]atomic.Uint64
	log [numShedReasons]*peers.LogLimiter
}

func (s *shedding) init() {
	for i := range s.log {
		s.log[i] = peers.NewLogLimiter(10 * time.Second)
	}
}

// Shed returns how many requests were refused with 3004 for reason.
func (rt *Router) Shed(reason ShedReason) uint64 { return rt.shed.n[reason].Load() }

// shedAnswer counts r as shed for reason, logs it (once per interval per
// reason) and returns its 3004 answer.
func (rt *Router) shedAnswer(r *Request, reason ShedReason, msg string) Answer {
	rt.shed.n[reason].Add(1)
	if ok, suppressed := rt.shed.log[reason].Allow(); ok {
		ingress := ""
		if r.Ingress != nil {
			ingress = r.Ingress.Identity()
		}
		rt.log.Warn("overload: request refused with 3004 DIAMETER_TOO_BUSY", "reason", reason.String(),
			"detail", msg, "ingress_peer", ingress, "shed_total", rt.shed.n[reason].Load(), "suppressed_since_last", suppressed)
	}
	return rt.errorAnswer(r, wire.ResultTooBusy, msg)
}
