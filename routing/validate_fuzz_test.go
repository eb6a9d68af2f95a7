package routing

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// FuzzValidateRequest feeds arbitrary AVP areas behind a request header to
// the validation pass and builds the error answer it asks for, then reads
// the answer's Result-Code and the Redirect-Host URIs of the input as the
// answer path does. Nothing panics; a refusal comes with a well-formed
// Failed-AVP; an accepted request has valid Origin-Host and Origin-Realm;
// the error answer is a well-formed message carrying the refusal's code.
func FuzzValidateRequest(f *testing.F) {
	f.Add([]byte(benchCCR().Body()), uint8(wire.FlagRequest|wire.FlagProxiable), uint32(4), uint32(272))
	f.Add([]byte(benchCCR().AppendRouteRecord("a.b").Body()), uint8(wire.FlagRequest|wire.FlagProxiable|wire.FlagRetransmit), uint32(3), uint32(271))
	f.Fuzz(func(t *testing.T, body []byte, flags uint8, app, cmd uint32) {
		if len(body) > wire.DefaultMaxLen {
			return
		}
		body = append(body, make([]byte, (4-len(body)%4)%4)...)
		m := wire.NewMsg(flags|wire.FlagRequest, cmd, app, 1, 2)
		m = append(m, body...)
		m.SetLen(len(m))
		rt := &Router{local: &peers.Local{OriginHost: "dra.fuzz.test", OriginRealm: "fuzz.test"}}
		r := &Request{Msg: m, origHBH: 1}
		bad := rt.scan(r)
		if bad.code == 0 {
			if !wire.IsDiameterIdentity(r.OriginHost()) || !wire.IsDiameterIdentity(r.OriginRealm()) {
				t.Fatalf("accepted Origin-Host %q Origin-Realm %q", r.OriginHost(), r.OriginRealm())
			}
			// The routing AVPs read the same once the Route-Record is
			// added, whether it fits the buffer or moves the message.
			fields := func() string {
				return fmt.Sprintf("%q %q %q %q %q", r.SessionID(), r.OriginHost(), r.OriginRealm(), r.DestHost(), r.DestRealm())
			}
			want := fields()
			if len(r.Msg)+wire.AVPSize(0, 0, 64) <= wire.DefaultMaxLen {
				r.Msg = r.Msg.AppendRouteRecord("route-record.fuzz.test")
				if got := fields(); got != want {
					t.Fatalf("routing AVPs %s after the Route-Record, %s before", got, want)
				}
			}
		} else {
			if bad.msg == "" {
				t.Fatalf("refusal %d without Error-Message", bad.code)
			}
			if bad.failed != nil {
				it := wire.NewIter(bad.failed)
				n := 0
				for it.Next() {
					n++
				}
				if it.Err() != nil || n != 1 {
					t.Fatalf("Failed-AVP %x is not one well-formed AVP", bad.failed)
				}
			}
			ans := wire.Msg(rt.errorAnswerAVP(r, bad.code, bad.msg, bad.failed))
			if _, err := wire.CheckHeader(ans, wire.MaxLen); err != nil || ans.Len() != len(ans) {
				t.Fatalf("error answer header: %v", err)
			}
			if _, err := ans.Validate(); err != nil {
				t.Fatalf("error answer AVPs: %v", err)
			}
			if code, ok := resultCode(ans); !ok || code != bad.code {
				t.Fatalf("error answer Result-Code %d, want %d", code, bad.code)
			}
			if ans.IsError() != wire.IsProtocolError(bad.code) || ans.IsRequest() || ans.HopByHop() != 1 {
				t.Fatalf("error answer header %x", ans.Header())
			}
			wire.PutBuf(ans)
		}
		resultCode(m)
		it := m.AVPs()
		for it.Next() {
			if a := it.AVP(); a.Code == wire.AVPRedirectHost {
				h := uriHost(a.Data)
				if bytes.ContainsAny(h, ":;/") || !bytes.Contains(a.Data, h) {
					t.Fatalf("uriHost(%q) = %q", a.Data, h)
				}
			}
		}
	})
}
