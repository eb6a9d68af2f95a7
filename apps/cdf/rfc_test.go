package cdf

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

// callRaw sends req, changed by tamper after encoding (the header's
// length is fixed afterwards), and waits for its answer.
func (c *client) callRaw(t testing.TB, req *diam.Message, tamper func([]byte) []byte) *diam.Message {
	t.Helper()
	id := c.hbh.Add(1)
	req.Header.HopByHopID, req.Header.EndToEndID = id, id
	b, err := req.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		b = tamper(b)
		wire.Msg(b).SetLen(len(b))
	}
	ch := make(chan *diam.Message, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	c.wmu.Lock()
	_, err = c.conn.Write(b)
	c.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-ch:
		return a
	case <-c.closed:
		t.Fatal("connection closed")
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	return nil
}

// rawAVP is an AVP header with the given length field followed by data,
// however inconsistent.
func rawAVP(code uint32, flags uint8, length int, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, code)
	b = append(b, flags, byte(length>>16), byte(length>>8), byte(length))
	return append(b, data...)
}

// reencoded is b (encoded AVPs) as go-diameter decodes and re-encodes it.
func reencoded(t testing.TB, avps []*diam.AVP) []byte {
	t.Helper()
	var out []byte
	for _, a := range avps {
		e, err := a.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e...)
	}
	return out
}

func decodeAVPs(t testing.TB, b []byte) []*diam.AVP {
	t.Helper()
	var out []*diam.AVP
	for len(b) > 0 {
		a, err := diam.DecodeAVP(b, AppID, dict.Default)
		if err != nil {
			t.Fatalf("%x: %v", b, err)
		}
		out = append(out, a)
		b = b[min(len(b), (a.Length+3)&^3):]
	}
	return out
}

// TestRFCAnswers sends ACRs a node processing them must refuse (RFC 6733
// §4.1, §7) over a connection and checks each answer as a strict peer
// does: its Result-Code, the AVPs an ACA requires (RFC 6733 §9.7.2) and
// the Failed-AVP.
func TestRFCAnswers(t *testing.T) {
	cfg := testConfig(t)
	srv := startServer(t, cfg)
	ag, err := startAgent(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ag.stop)
	c := newClient(t, ag)
	m := uint8(avp.Mbit)
	unknown := wire.AppendStringAVP(nil, 999999, m, 0, "x")
	unknownV := wire.AppendStringAVP(nil, 999999, m, 10415, "x")
	opaque := func(code uint32, data []byte) *diam.AVP {
		return diam.NewAVP(code, avp.Mbit, 0, datatype.OctetString(data))
	}
	tests := []struct {
		name   string
		opts   []acrOpt
		tamper func([]byte) []byte
		code   uint32
		failed []byte // Failed-AVP content; nil: none checked
	}{
		{"unknown AVP with the M bit", []acrOpt{with(999999, 0, datatype.OctetString("x"))}, nil, wire.ResultAVPUnsupported, unknown},
		{"unknown vendor AVP with the M bit", []acrOpt{with(999999, 10415, datatype.OctetString("x"))}, nil, wire.ResultAVPUnsupported, unknownV},
		{"unknown AVP without the M bit is journaled", []acrOpt{func(m *diam.Message) {
			m.AddAVP(diam.NewAVP(999999, avp.Vbit, 10415, datatype.OctetString("x")))
		}}, nil, wire.ResultSuccess, nil},
		{"unknown AVP with the M bit inside Service-Information", []acrOpt{func(m *diam.Message) {
			m.AddAVP(diam.NewAVP(873, avp.Mbit|avp.Vbit, 10415, datatype.OctetString(unknown)))
		}}, nil, wire.ResultAVPUnsupported, wire.AppendAVP(nil, 873, m, 10415, unknown)},
		{"AVP of length 0 inside Vendor-Specific-Application-Id", []acrOpt{func(m *diam.Message) {
			m.AddAVP(opaque(avp.VendorSpecificApplicationID, append(wire.AppendUint32AVP(nil, avp.AcctApplicationID, m0, 0, 3), rawAVP(avp.VendorID, m0, 0, nil)...)))
		}}, nil, wire.ResultInvalidAVPLength,
			wire.AppendAVP(nil, avp.VendorSpecificApplicationID, m, 0, wire.AppendUint32AVP(nil, avp.VendorID, m, 0, 0))},
		{"Event-Timestamp of 2 octets", []acrOpt{with(avp.EventTimestamp, 0, datatype.OctetString("\x00\x01"))}, nil,
			wire.ResultInvalidAVPLength, wire.AppendUint32AVP(nil, avp.EventTimestamp, m, 0, 0)},
		{"invalid Accounting-Record-Type", []acrOpt{without(avp.AccountingRecordType), with(avp.AccountingRecordType, 0, datatype.Enumerated(9))},
			nil, wire.ResultInvalidAVPValue, wire.AppendUint32AVP(nil, avp.AccountingRecordType, m, 0, 9)},
		// Answered by the router.
		{"Origin-Realm twice", []acrOpt{with(avp.OriginRealm, 0, datatype.DiameterIdentity("other.test"))}, nil, wire.ResultAVPOccursTooManyTimes, nil},
		{"malformed last AVP", nil, func(b []byte) []byte { return append(b, rawAVP(999, m, 400, []byte("abcd"))...) },
			wire.ResultInvalidAVPLength, wire.AppendAVP(nil, 999, m, 0, nil)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := c.callRaw(t, newACR(fmt.Sprintf("pgw;rfc;%d", i), StartRecord, 0, tt.opts...), tt.tamper)
			if got := answerCode(a); got != tt.code {
				t.Fatalf("Result-Code %d (%v), want %d", got, a.AVP, tt.code)
			}
			if err := diamcheck.Message(a); err != nil {
				t.Errorf("a strict peer refuses the ACA: %v", err)
			}
			if tt.failed != nil {
				if got, want := reencoded(t, diamcheck.Failed(a)), reencoded(t, decodeAVPs(t, tt.failed)); !bytes.Equal(got, want) {
					t.Errorf("Failed-AVP holds\n%x, want\n%x", got, want)
				}
			}
		})
	}
	ag.stop()
	srv.Close()
	if rs := readAll(t, cfg.DataDir); len(rs) != 1 {
		t.Errorf("%d CDRs, want 1 (the accepted request)", len(rs))
	}
}

const m0 = uint8(avp.Mbit)
