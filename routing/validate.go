package routing

import (
	"context"
	"errors"
	"strconv"

	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/internal/avpdict"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// validate is the first routing stage. It checks a received request
// against RFC 6733 before anything routes on it, and answers what it
// refuses with the Result-Code §7.1 gives, an Error-Message and, where
// §7.5 asks for one, a Failed-AVP:
//
//   - 3008 DIAMETER_INVALID_HDR_BITS: the E bit in a request (§3). Reserved
//     header bits are ignored on receipt (§3).
//   - 3001 DIAMETER_COMMAND_UNSUPPORTED: a base protocol (application 0)
//     command RFC 6733 does not define.
//   - 5014 DIAMETER_INVALID_AVP_LENGTH: an AVP whose length is inconsistent,
//     Failed-AVP its header with a zero payload of the minimum size of its
//     type in the dictionary (§7.1.5).
//   - 5009 DIAMETER_AVP_OCCURS_TOO_MANY_TIMES: a second Session-Id,
//     Origin-Host, Origin-Realm, Destination-Host or Destination-Realm (each
//     occurs at most once in every command), Failed-AVP the first extra
//     one; also a request with more AVPs, nested ones included, than the
//     peer manager's MaxAVPs, Failed-AVP the top-level AVP where the count
//     ran over.
//   - 3009 DIAMETER_INVALID_AVP_BITS: one of those five AVPs without the M
//     bit, which §4.5 says MUST be set. (With the V bit set an AVP is
//     another vendor's and not one of them; reserved AVP flag bits are
//     ignored, §4.1.)
//   - 5004 DIAMETER_INVALID_AVP_VALUE: an empty Session-Id, or an
//     Origin-Host, Origin-Realm, Destination-Host or Destination-Realm that
//     is not a DiameterIdentity (empty, over 255 octets, or not printable
//     ASCII without spaces: §4.3.1 makes it an FQDN or a realm); also
//     Grouped AVPs nested deeper than the peer manager's MaxAVPDepth,
//     Failed-AVP the top-level AVP holding them.
//   - 5005 DIAMETER_MISSING_AVP: no Origin-Host or no Origin-Realm (required
//     in every request), Failed-AVP the missing AVP with an empty payload.
//   - 3007 DIAMETER_APPLICATION_UNSUPPORTED: an application not negotiated
//     with the sending peer.
//   - 3005 DIAMETER_LOOP_DETECTED: the agent's own identity in a
//     Route-Record (§6.1.3).
//
// A Session-Id that is not the first AVP is accepted: §8.8 says it SHOULD
// follow the header, not MUST. A missing Destination-Realm (5005) is
// answered by the routing decision, as only proxiable requests need one.
//
// The checks run in the single pass that caches the routing AVPs; a
// well-formed request costs a few comparisons per AVP and allocates
// nothing.
func (rt *Router) validate(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, r *Request) (Answer, error) {
		m := r.Msg
		if m.IsError() {
			// RFC 6733 §3: the E bit is never set in a request.
			rt.stats.Malformed.Add(1)
			return rt.errorAnswer(r, wire.ResultInvalidHdrBits, "E bit set in a request"), nil
		}
		if r.Ingress == nil {
			// Originated here: well-formed by construction.
			if off, err := r.parse(); err != nil {
				rt.stats.Malformed.Add(1)
				return rt.errorAnswerAVP(r, wire.ResultInvalidAVPLength, "malformed AVP", wire.FailedAVPWith(m.Body(), off, avpdict.Default)), nil
			}
			return next.ServeDiameter(ctx, r)
		}
		if m.AppID() == 0 && !baseCommand(m.Code()) {
			rt.stats.Malformed.Add(1)
			return rt.errorAnswer(r, wire.ResultCommandUnsupported, "base protocol command "+strconv.Itoa(int(m.Code()))+" is not defined"), nil
		}
		if bad := rt.scan(r); bad.code != 0 {
			rt.stats.Malformed.Add(1)
			return rt.errorAnswerAVP(r, bad.code, bad.msg, bad.failed), nil
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

// baseCommand reports whether code is a command RFC 6733 defines for the
// base protocol. CER, DWR and DPR never get here (the peer layer serves
// them); RAR, ASR, STR and ACR are relayed.
func baseCommand(code uint32) bool {
	switch code {
	case wire.CmdCapabilitiesExchange, wire.CmdReAuth, wire.CmdAccounting, wire.CmdAbortSession,
		wire.CmdSessionTermination, wire.CmdDeviceWatchdog, wire.CmdDisconnectPeer:
		return true
	}
	return false
}

// rejection is why validate refuses a request; code 0 means none.
type rejection struct {
	code   uint32
	msg    string
	failed []byte // the Failed-AVP content, nil for none
}

var routingAVPNames = [nRoutingAVPs]string{"Session-Id", "Origin-Host", "Origin-Realm", "Destination-Host", "Destination-Realm"}

// scan walks r's AVPs once: it records where the routing AVPs are in r and returns the
// first reason to refuse the request.
func (rt *Router) scan(r *Request) rejection {
	body := r.Msg.Body()
	maxAVPs, maxDepth := peers.DefaultMaxAVPs, peers.DefaultMaxAVPDepth
	if rt.peers != nil {
		maxAVPs, maxDepth = rt.peers.AVPLimits()
	}
	var seen [nRoutingAVPs]bool
	n := 0
	it := wire.NewIter(body)
	for it.Next() {
		a := it.AVP()
		if n++; n > maxAVPs {
			return rejection{wire.ResultAVPOccursTooManyTimes, "more than " + strconv.Itoa(maxAVPs) + " AVPs", a.Raw(body)}
		}
		if groupedAVPs.Has(a.Code, a.VendorID) {
			k, err := wire.CheckGroup(a.Data, groupedAVPs, maxAVPs-n, maxDepth)
			if n += k; err != nil {
				if errors.Is(err, wire.ErrTooManyAVPs) {
					return rejection{wire.ResultAVPOccursTooManyTimes, "more than " + strconv.Itoa(maxAVPs) + " AVPs", a.Raw(body)}
				}
				return rejection{wire.ResultInvalidAVPValue, "Grouped AVPs nested more than " + strconv.Itoa(maxDepth) + " deep", a.Raw(body)}
			}
		}
		if a.Flags&wire.AVPFlagVendor != 0 {
			continue
		}
		var i int
		switch a.Code {
		case wire.AVPSessionID:
			i = rSessionID
		case wire.AVPOriginHost:
			i = rOriginHost
		case wire.AVPOriginRealm:
			i = rOriginRealm
		case wire.AVPDestinationHost:
			i = rDestHost
		case wire.AVPDestinationRealm:
			i = rDestRealm
		default:
			continue
		}
		if seen[i] {
			return rejection{wire.ResultAVPOccursTooManyTimes, routingAVPNames[i] + " occurs more than once", a.Raw(body)}
		}
		seen[i] = true
		if a.Flags&wire.AVPFlagMandatory == 0 {
			return rejection{wire.ResultInvalidAVPBits, routingAVPNames[i] + " without the M bit", a.Raw(body)}
		}
		if i == rSessionID {
			if len(a.Data) == 0 {
				return rejection{wire.ResultInvalidAVPValue, "empty Session-Id", a.Raw(body)}
			}
			r.setField(i, a)
			continue
		}
		if !wire.IsDiameterIdentity(a.Data) {
			return rejection{wire.ResultInvalidAVPValue, routingAVPNames[i] + " is not a valid DiameterIdentity", a.Raw(body)}
		}
		r.setField(i, a)
	}
	if err := it.Err(); err != nil {
		return rejection{wire.ResultInvalidAVPLength, "malformed AVP", wire.FailedAVPWith(body, it.Offset(), avpdict.Default)}
	}
	if !seen[rOriginHost] {
		return rejection{wire.ResultMissingAVP, "missing Origin-Host", wire.AppendAVP(nil, wire.AVPOriginHost, wire.AVPFlagMandatory, 0, nil)}
	}
	if !seen[rOriginRealm] {
		return rejection{wire.ResultMissingAVP, "missing Origin-Realm", wire.AppendAVP(nil, wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, nil)}
	}
	return rejection{}
}

// groupedAVPs are the Grouped AVPs of go-diameter's dictionary (base,
// credit control, NASREQ, Gx, Rx, Rf/Ro, S6a, S13, SWx): those the AVP
// limits descend into. Other AVPs are opaque to the agent.
var groupedAVPs = func() *wire.GroupedSet {
	var keys [][2]uint32
	for _, app := range dict.Default.Apps() {
		for _, a := range app.AVP {
			if a.Data.Type == datatype.GroupedType {
				keys = append(keys, [2]uint32{a.Code, a.VendorID})
			}
		}
	}
	return wire.NewGroupedSet(keys...)
}()
