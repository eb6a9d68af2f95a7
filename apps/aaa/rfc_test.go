package aaa

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

// callRaw sends m, changed by tamper after encoding (the header's length
// is fixed afterwards), and waits for its answer.
func (n *nas) callRaw(t testing.TB, m *diam.Message, tamper func([]byte) []byte) *diam.Message {
	t.Helper()
	id := n.hbh.Add(1)
	m.Header.HopByHopID, m.Header.EndToEndID = id, id
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		b = tamper(b)
		wire.Msg(b).SetLen(len(b))
	}
	ch := make(chan *diam.Message, 1)
	n.mu.Lock()
	n.wait[id] = ch
	n.mu.Unlock()
	n.wmu.Lock()
	_, err = n.conn.Write(b)
	n.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-ch:
		return a
	case <-n.done:
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

// reencoded is avps as go-diameter encodes them.
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

// decodeAVPs decodes encoded AVPs with go-diameter.
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

// TestRFCAnswers sends AARs and STRs a node processing them must refuse
// (RFC 6733 §4.1, §7) and checks each answer as a strict peer does: its
// Result-Code, the AVPs an AA-Answer or STA requires (RFC 7155 §3.2,
// §3.6) and the Failed-AVP.
func TestRFCAnswers(t *testing.T) {
	cfg := testConfig(t)
	cfg.UsersFile = usersFixture(t)
	cfg.Lab = false
	a := startAgent(t, cfg, "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")
	m := uint8(avp.Mbit)
	unknown := wire.AppendStringAVP(nil, 999999, m, 0, "x")
	unknownV := wire.AppendStringAVP(nil, 999999, m, 10415, "x")
	add := func(x *diam.AVP) func(*diam.Message) { return func(r *diam.Message) { r.AddAVP(x) } }
	tests := []struct {
		name   string
		str    bool // an STR rather than an AAR
		change func(*diam.Message)
		tamper func([]byte) []byte
		code   uint32
		failed []byte // Failed-AVP content; nil: none checked
	}{
		{"unknown AVP with the M bit", false, add(diam.NewAVP(999999, avp.Mbit, 0, datatype.OctetString("x"))), nil,
			wire.ResultAVPUnsupported, unknown},
		{"unknown vendor AVP with the M bit", false, add(diam.NewAVP(999999, avp.Mbit|avp.Vbit, 10415, datatype.OctetString("x"))), nil,
			wire.ResultAVPUnsupported, unknownV},
		{"unknown AVP without the M bit is ignored", false, add(diam.NewAVP(999999, avp.Vbit, 10415, datatype.OctetString("x"))), nil,
			wire.ResultSuccess, nil},
		{"AVP of length 0 inside CHAP-Auth", false, add(diam.NewAVP(avp.CHAPAuth, avp.Mbit, 0, datatype.OctetString(
			append(wire.AppendUint32AVP(nil, avp.CHAPAlgorithm, m, 0, chapMD5), rawAVP(avp.CHAPIdent, m, 0, nil)...)))), nil,
			wire.ResultInvalidAVPLength, wire.AppendAVP(nil, avp.CHAPAuth, m, 0, wire.AppendAVP(nil, avp.CHAPIdent, m, 0, nil))},
		{"Framed-MTU of 2 octets", false, add(diam.NewAVP(avp.FramedMTU, avp.Mbit, 0, datatype.OctetString("\x05\xdc"))), nil,
			wire.ResultInvalidAVPLength, wire.AppendUint32AVP(nil, avp.FramedMTU, m, 0, 0)},
		{"missing Auth-Application-Id", false, func(r *diam.Message) { r.DeleteAVP(avp.AuthApplicationID, 0) }, nil,
			wire.ResultMissingAVP, wire.AppendUint32AVP(nil, avp.AuthApplicationID, m, 0, 0)},
		{"STR with an unknown AVP with the M bit", true, add(diam.NewAVP(999999, avp.Mbit, 0, datatype.OctetString("x"))), nil,
			wire.ResultAVPUnsupported, unknown},
		// Answered by the router.
		{"Origin-Host twice", false, add(diam.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("other.client.test"))), nil,
			wire.ResultAVPOccursTooManyTimes, nil},
		{"malformed last AVP", false, nil, func(b []byte) []byte { return append(b, rawAVP(999, m, 400, []byte("abcd"))...) },
			wire.ResultInvalidAVPLength, wire.AppendAVP(nil, 999, m, 0, nil)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := fmt.Sprintf("nas.client.test;rfc;%d", i)
			req := n.aar(sid, "alice", authorizeOnly)
			if tt.str {
				req = n.str(sid)
			}
			if tt.change != nil {
				tt.change(req)
			}
			ans := n.callRaw(t, req, tt.tamper)
			if got := resultOf(ans); got != tt.code {
				t.Fatalf("Result-Code %s, want %d", describe(ans), tt.code)
			}
			if err := diamcheck.Message(ans); err != nil {
				t.Errorf("a strict peer refuses the answer: %v", err)
			}
			if !tt.str {
				if v, _ := u32(find(ans.AVP, avp.AuthRequestType)); v != authorizeOnly {
					t.Errorf("Auth-Request-Type %d", v)
				}
			}
			if tt.failed != nil {
				if got, want := reencoded(t, diamcheck.Failed(ans)), reencoded(t, decodeAVPs(t, tt.failed)); !bytes.Equal(got, want) {
					t.Errorf("Failed-AVP holds\n%x, want\n%x", got, want)
				}
			}
		})
	}
}
