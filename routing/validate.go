package routing

import (
	"context"

	"github.com/dra-project/dra/wire"
)

// validate is the first routing stage: header bits, AVP framing, the
// application negotiated with the ingress peer, and loop detection.
func (rt *Router) validate(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, r *Request) (Answer, error) {
		m := r.Msg
		if m.IsError() {
			// RFC 6733 §3: the E bit is never set in a request.
			rt.stats.Malformed.Add(1)
			return rt.errorAnswer(r, wire.ResultInvalidHdrBits, "E bit set in a request"), nil
		}
		if off, err := r.parse(); err != nil {
			rt.stats.Malformed.Add(1)
			return rt.errorAnswerAVP(r, wire.ResultInvalidAVPLength, "malformed AVP", wire.FailedAVPFor(m.Body(), off)), nil
		}
		if r.Ingress == nil {
			// Originated here: well-formed by construction.
			return next.ServeDiameter(ctx, r)
		}
		if a := r.Ingress.Active(); a != nil && !a.Apps.Supports(m.AppID()) {
			return rt.errorAnswer(r, wire.ResultApplicationUnsupported, "application not negotiated with this peer"), nil
		}
		// RFC 6733 §6.1.3: our own identity in a Route-Record is a loop.
		if m.HasRouteRecordString(rt.local.OriginHost) {
			rt.stats.Loops.Add(1)
			return rt.errorAnswer(r, wire.ResultLoopDetected, "routing loop: "+rt.local.OriginHost+" is in Route-Record"), nil
		}
		return next.ServeDiameter(ctx, r)
	})
}
