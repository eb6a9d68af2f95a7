package routing

import (
	"sync"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/wire"
)

// maxAttempts bounds how many peers one request is tried on.
const maxAttempts = 8

// Request is one request on its way through the agent, from its arrival to
// its answer. Requests are pooled: a handler must not keep one after the
// chain returns, unless it forwarded it.
type Request struct {
	// Msg is the request as received (then with our Route-Record).
	Msg wire.Msg
	// Ingress is the peer and connection the request came from.
	Ingress     *peers.Peer
	IngressConn *peers.Conn

	// Routing AVPs, slices into Msg (valid until Msg changes).
	SessionID   []byte
	DestHost    []byte
	DestRealm   []byte
	OriginHost  []byte
	OriginRealm []byte
	// Received is when the request arrived.
	Received time.Time
	// PolicyFlags is scratch state for policy stages and hooks (zero on
	// arrival), e.g. what the egress hook added that the answer hook must
	// undo.
	PolicyFlags uint32

	gen *generation

	// Forwarding state.
	origHBH uint32
	route   *realm.Route
	rrAdded bool
	tried   [maxAttempts]*peers.Peer
	ntried  int
	retries int
	egress  *peers.Conn
	// skipped: a Hooks.Peer refusal, so no peer left means 3004.
	skipped bool
	sentAt  time.Time // when the attempt in flight was sent
	// tr is the tracing state of a sampled request, nil otherwise.
	tr *requestTrace
	// done receives the answer of a request the agent originated.
	done func(wire.Msg)
	// via is the connection whose reader goroutine is handling r right
	// now, if any: sends made there wake their writers once that reader
	// has drained its buffer (peers.Conn.SendVia). nil off reader
	// goroutines (workers, timers, failover).
	via *peers.Conn

	// congested: a peer was passed over for its full write queue, so no
	// peer left means 3004 (shed.go).
	congested bool
}

var requestPool = sync.Pool{New: func() any { return new(Request) }}

func getRequest() *Request { return requestPool.Get().(*Request) }

// release returns r and its message buffer to their pools.
func (r *Request) release() {
	if r.Msg != nil {
		wire.PutBuf(r.Msg)
	}
	*r = Request{}
	requestPool.Put(r)
}

// AppID is the request's Application-Id.
func (r *Request) AppID() uint32 { return r.Msg.AppID() }

// Code is the request's Command-Code.
func (r *Request) Code() uint32 { return r.Msg.Code() }

// Originated reports whether the agent itself originated the request (a
// local application's RAR or ASR) rather than receiving it from a peer.
func (r *Request) Originated() bool { return r.Ingress == nil }

// Route is the route the request matched, once decided.
func (r *Request) Route() *realm.Route { return r.route }

func (r *Request) triedPeer(p *peers.Peer) bool {
	for _, t := range r.tried[:r.ntried] {
		if t == p {
			return true
		}
	}
	return false
}

// parse caches the routing AVPs. It stops at the first malformed AVP and
// returns its offset in the body and the error.
func (r *Request) parse() (badOff int, err error) {
	it := r.Msg.AVPs()
	for it.Next() {
		a := it.AVP()
		if a.VendorID != 0 {
			continue
		}
		switch a.Code {
		case wire.AVPSessionID:
			if r.SessionID == nil {
				r.SessionID = a.Data
			}
		case wire.AVPDestinationHost:
			r.DestHost = a.Data
		case wire.AVPDestinationRealm:
			r.DestRealm = a.Data
		case wire.AVPOriginHost:
			r.OriginHost = a.Data
		case wire.AVPOriginRealm:
			r.OriginRealm = a.Data
		}
	}
	if err := it.Err(); err != nil {
		return it.Offset(), err
	}
	return 0, nil
}
