package ocs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/internal/diamcheck"
	"github.com/dra-project/dra/wire"
)

// sendRaw sends m, changed by tamper after encoding (the header's length
// is fixed afterwards), and waits for its answer.
func (c *client) sendRaw(t testing.TB, m *diam.Message, tamper func([]byte) []byte) *diam.Message {
	t.Helper()
	hbh := c.hbh.Add(1)
	m.Header.HopByHopID, m.Header.EndToEndID = hbh, hbh
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		b = tamper(b)
		wire.Msg(b).SetLen(len(b))
	}
	ch := make(chan *diam.Message, 1)
	c.mu.Lock()
	c.waiting[hbh] = ch
	c.mu.Unlock()
	if _, err := c.conn.Write(b); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
		return nil
	}
}

// rawAVP is an AVP header with the given length field followed by data,
// however inconsistent.
func rawAVP(code uint32, flags uint8, length int, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, code)
	b = append(b, flags, byte(length>>16), byte(length>>8), byte(length))
	return append(b, data...)
}

// failedContent is the re-encoded content of an answer's Failed-AVP.
func failedContent(t testing.TB, m *diam.Message) []byte {
	t.Helper()
	var out []byte
	for _, a := range diamcheck.Failed(m) {
		b, err := a.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// normalized is b (encoded AVPs) as go-diameter decodes and re-encodes
// it, to compare with failedContent.
func normalized(t testing.TB, b []byte) []byte {
	t.Helper()
	var out []byte
	for len(b) > 0 {
		a, err := diam.DecodeAVP(b, AppID, dict.Default)
		if err != nil {
			t.Fatalf("%x: %v", b, err)
		}
		e, err := a.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e...)
		b = b[min(len(b), (a.Length+3)&^3):]
	}
	return out
}

// TestRFCAnswers sends CCRs a node processing them must refuse (RFC 6733
// §4.1, §7) and checks each answer as a strict peer does: its Result-Code,
// the AVPs a CCA requires (RFC 4006 §3.2), and the Failed-AVP.
func TestRFCAnswers(t *testing.T) {
	st := startStack(t, octetsConfig(t, 1_000_000, 1000))
	c := newClient(t, st.addr)
	m := uint8(avp.Mbit)
	rg := wire.AppendUint32AVP(nil, avp.RatingGroup, m, 0, 10)
	rsu := wire.AppendAVP(nil, avp.RequestedServiceUnit, m, 0, nil)
	unknown := wire.AppendStringAVP(nil, 999999, m, 0, "x")
	unknownV := wire.AppendStringAVP(nil, 999999, m, 10415, "x")
	opaque := func(code uint32, data []byte) *diam.AVP {
		return diam.NewAVP(code, avp.Mbit, 0, datatype.OctetString(data))
	}
	tests := []struct {
		name   string
		extra  []*diam.AVP
		tamper func([]byte) []byte
		code   uint32
		failed []byte // Failed-AVP content; nil: none checked
	}{
		{"unknown AVP with the M bit", []*diam.AVP{diam.NewAVP(999999, avp.Mbit, 0, datatype.OctetString("x"))},
			nil, wire.ResultAVPUnsupported, unknown},
		{"unknown vendor AVP with the M bit", []*diam.AVP{diam.NewAVP(999999, avp.Mbit|avp.Vbit, 10415, datatype.OctetString("x"))},
			nil, wire.ResultAVPUnsupported, unknownV},
		{"unknown AVP without the M bit is ignored", []*diam.AVP{diam.NewAVP(999999, avp.Vbit, 10415, datatype.OctetString("x"))},
			nil, wire.ResultSuccess, nil},
		{"AVP of another application with the M bit is accepted", []*diam.AVP{diam.NewAVP(avp.CalledStationID, avp.Mbit, 0, datatype.UTF8String("internet"))},
			nil, wire.ResultSuccess, nil},
		{"unknown AVP with the M bit inside MSCC", []*diam.AVP{opaque(avp.MultipleServicesCreditControl, append(append(rg, rsu...), unknown...))},
			nil, wire.ResultAVPUnsupported, wire.AppendAVP(nil, avp.MultipleServicesCreditControl, m, 0, unknown)},
		{"AVP of length 0 inside MSCC", []*diam.AVP{opaque(avp.MultipleServicesCreditControl, append(append(rsu, rg...), rawAVP(avp.RatingGroup, m, 0, nil)...))},
			nil, wire.ResultInvalidAVPLength,
			wire.AppendAVP(nil, avp.MultipleServicesCreditControl, m, 0, wire.AppendUint32AVP(nil, avp.RatingGroup, m, 0, 0))},
		{"Subscription-Id-Type of 2 octets", []*diam.AVP{opaque(avp.SubscriptionID, wire.AppendAVP(nil, avp.SubscriptionIDType, m, 0, []byte{0, 0}))},
			nil, wire.ResultInvalidAVPLength,
			wire.AppendAVP(nil, avp.SubscriptionID, m, 0, wire.AppendUint32AVP(nil, avp.SubscriptionIDType, m, 0, 0))},
		// Answered by the router.
		{"Origin-Host twice", []*diam.AVP{diam.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("other.client.test"))},
			nil, wire.ResultAVPOccursTooManyTimes, nil},
		{"malformed last AVP", nil, func(b []byte) []byte { return append(b, rawAVP(999, m, 400, []byte("abcd"))...) },
			wire.ResultInvalidAVPLength, wire.AppendAVP(nil, 999, m, 0, nil)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := []*diam.AVP{subAVP(0, msisdn)}
			if tt.code == wire.ResultSuccess {
				extra = append(extra, msccReqAVP(10, emptyRSU(), 0))
			}
			a := c.sendRaw(t, ccrMsg(fmt.Sprintf("pgw;rfc;%d", i), requestInitial, 0, append(extra, tt.extra...)...), tt.tamper)
			if got := resultCode(a); got != tt.code {
				t.Fatalf("Result-Code %d (%v), want %d", got, a.AVP, tt.code)
			}
			if err := diamcheck.Message(a); err != nil {
				t.Errorf("a strict peer refuses the CCA: %v", err)
			}
			if v, err := a.FindAVP(avp.CCRequestType, 0); err != nil || v.Data != datatype.Enumerated(requestInitial) {
				t.Errorf("CC-Request-Type %v", v)
			}
			if tt.failed != nil {
				if got, want := failedContent(t, a), normalized(t, tt.failed); !bytes.Equal(got, want) {
					t.Errorf("Failed-AVP holds\n%x, want\n%x", got, want)
				}
			}
		})
	}
}
