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
	// Msg is the request as received (then with our Route-Record). The
	// router may move it to a larger buffer (Route-Record) and policy
	// stages may replace it (SetMsg): never keep a slice of it, or of
	// what the routing AVP accessors return, beyond the call that got it.
	// Replace it only with SetMsg.
	Msg wire.Msg
	// Ingress is the peer and connection the request came from.
	Ingress     *peers.Peer
	IngressConn *peers.Conn

	// where are the routing AVPs' data in Msg, by index (rSessionID...):
	// offsets, which stay right when Msg moves to another buffer, rather
	// than slices, which would keep pointing into the released one.
	where [nRoutingAVPs]span
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

// The routing AVPs, by index in Request.where.
const (
	rSessionID = iota
	rOriginHost
	rOriginRealm
	rDestHost
	rDestRealm
	nRoutingAVPs
)

// span locates an AVP's data in a message: off bytes from its start, n
// long. off 0 (inside the header) means absent.
type span struct{ off, n uint32 }

// field returns routing AVP i of r's current message, nil when absent.
// The result is capped: appending to it cannot write into the message.
func (r *Request) field(i int) []byte {
	s := r.where[i]
	if s.off == 0 || int(s.off+s.n) > len(r.Msg) {
		return nil
	}
	return r.Msg[s.off : s.off+s.n : s.off+s.n]
}

// setField records that a, a top-level AVP of r.Msg, is routing AVP i.
func (r *Request) setField(i int, a wire.AVP) {
	r.where[i] = span{uint32(wire.HeaderLen + a.DataOffset()), uint32(len(a.Data))}
}

// SessionID is the request's Session-Id, nil when absent. Like every
// routing AVP accessor it returns a view of r.Msg as it is now: valid until
// the request is forwarded, answered or its message replaced, so copy what
// must be kept.
func (r *Request) SessionID() []byte { return r.field(rSessionID) }

// DestHost is the request's Destination-Host, nil when absent.
func (r *Request) DestHost() []byte { return r.field(rDestHost) }

// DestRealm is the request's Destination-Realm, nil when absent.
func (r *Request) DestRealm() []byte { return r.field(rDestRealm) }

// OriginHost is the request's Origin-Host, nil when absent.
func (r *Request) OriginHost() []byte { return r.field(rOriginHost) }

// OriginRealm is the request's Origin-Realm, nil when absent.
func (r *Request) OriginRealm() []byte { return r.field(rOriginRealm) }

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
			if r.where[rSessionID].off == 0 {
				r.setField(rSessionID, a)
			}
		case wire.AVPDestinationHost:
			r.setField(rDestHost, a)
		case wire.AVPDestinationRealm:
			r.setField(rDestRealm, a)
		case wire.AVPOriginHost:
			r.setField(rOriginHost, a)
		case wire.AVPOriginRealm:
			r.setField(rOriginRealm, a)
		}
	}
	if err := it.Err(); err != nil {
		return it.Offset(), err
	}
	return 0, nil
}
