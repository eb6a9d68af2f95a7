package routing_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/wire"
)

// avp encodes one AVP.
func avp(code uint32, flags uint8, data string) []byte {
	return wire.AppendStringAVP(nil, code, flags, 0, data)
}

const mBit = wire.AVPFlagMandatory

// build assembles a request of application app and command cmd from
// encoded AVPs, byte for byte as given.
func build(flags uint8, app, cmd uint32, avps ...[]byte) wire.Msg {
	m := wire.NewMsg(flags, cmd, app, 0, 0)
	for _, a := range avps {
		m = append(m, a...)
	}
	m.SetLen(len(m))
	return m
}

// nested returns depth Proxy-Info AVPs (Grouped) nested in one another.
func nested(depth int) []byte {
	inner := avp(wire.AVPProxyHost, mBit, "px")
	for range depth - 1 {
		inner = wire.AppendAVP(nil, wire.AVPProxyInfo, mBit, 0, inner)
	}
	return inner
}

// TestBadRequestAnswers sends each kind of bad request from a client
// through a running agent and checks the answer RFC 6733 §7 asks for:
// Result-Code, E bit, Error-Message, Failed-AVP, Session-Id; then that a
// good request on the same connection is still relayed.
func TestBadRequestAnswers(t *testing.T) {
	srv := server(t, "hss.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(srv))+`routes:
  - realm: a.test
    action: relay
    peers: [{host: hss.a.test}]
`)
	waitPeers(t, a, "hss.a.test")
	c := client(t, a, "mme.client.test")

	const app, cmd = 16777251, 316
	const pxy = wire.FlagRequest | wire.FlagProxiable
	sid := avp(wire.AVPSessionID, mBit, "mme.client.test;1;bad")
	oh := avp(wire.AVPOriginHost, mBit, "mme.client.test")
	or := avp(wire.AVPOriginRealm, mBit, "client.test")
	dr := avp(wire.AVPDestinationRealm, mBit, "a.test")
	dh := avp(wire.AVPDestinationHost, mBit, "hss.a.test")
	// An AVP whose length runs past the message (12 declared, 8 present).
	trunc := []byte{0, 0, 0x01, 0x07, mBit, 0, 0, 12}
	many := make([][]byte, 0, 4100)
	many = append(many, sid, oh, or, dr)
	for range 4096 {
		many = append(many, wire.AppendAVP(nil, 1001, 0, 0, nil))
	}

	tests := []struct {
		name   string
		req    wire.Msg
		code   uint32
		msg    string // substring of Error-Message
		failed []byte // the whole Failed-AVP content expected; nil: none
		// failedCode checks only the code of Failed-AVP's AVP when failed
		// is nil.
		failedCode uint32
	}{
		{name: "E bit in request", req: build(pxy|wire.FlagError, app, cmd, sid, oh, or, dr),
			code: wire.ResultInvalidHdrBits, msg: "E bit"},
		{name: "unknown base command", req: build(pxy, 0, 299, sid, oh, or, dr),
			code: wire.ResultCommandUnsupported, msg: "299"},
		{name: "malformed AVP length", req: build(pxy, app, cmd, sid, oh, or, dr, trunc),
			code: wire.ResultInvalidAVPLength, msg: "malformed", failed: []byte{0, 0, 0x01, 0x07, mBit, 0, 0, 8}},
		{name: "missing Origin-Host", req: build(pxy, app, cmd, sid, or, dr),
			code: wire.ResultMissingAVP, msg: "Origin-Host", failed: wire.AppendAVP(nil, wire.AVPOriginHost, mBit, 0, nil)},
		{name: "missing Origin-Realm", req: build(pxy, app, cmd, sid, oh, dr),
			code: wire.ResultMissingAVP, msg: "Origin-Realm", failed: wire.AppendAVP(nil, wire.AVPOriginRealm, mBit, 0, nil)},
		{name: "missing Destination-Realm", req: build(pxy, app, cmd, sid, oh, or),
			code: wire.ResultMissingAVP, msg: "Destination-Realm", failedCode: wire.AVPDestinationRealm},
		{name: "two Session-Id", req: build(pxy, app, cmd, sid, oh, or, dr, avp(wire.AVPSessionID, mBit, "second")),
			code: wire.ResultAVPOccursTooManyTimes, msg: "Session-Id", failed: avp(wire.AVPSessionID, mBit, "second")},
		{name: "two Origin-Host", req: build(pxy, app, cmd, sid, oh, or, avp(wire.AVPOriginHost, mBit, "other.client.test"), dr),
			code: wire.ResultAVPOccursTooManyTimes, msg: "Origin-Host", failed: avp(wire.AVPOriginHost, mBit, "other.client.test")},
		{name: "two Origin-Realm", req: build(pxy, app, cmd, sid, oh, or, or, dr),
			code: wire.ResultAVPOccursTooManyTimes, msg: "Origin-Realm", failed: or},
		{name: "two Destination-Host", req: build(pxy, app, cmd, sid, oh, or, dr, dh, avp(wire.AVPDestinationHost, mBit, "x.a.test")),
			code: wire.ResultAVPOccursTooManyTimes, msg: "Destination-Host", failed: avp(wire.AVPDestinationHost, mBit, "x.a.test")},
		{name: "two Destination-Realm", req: build(pxy, app, cmd, sid, oh, or, dr, avp(wire.AVPDestinationRealm, mBit, "b.test")),
			code: wire.ResultAVPOccursTooManyTimes, msg: "Destination-Realm", failed: avp(wire.AVPDestinationRealm, mBit, "b.test")},
		{name: "Destination-Realm without M bit", req: build(pxy, app, cmd, sid, oh, or, avp(wire.AVPDestinationRealm, 0, "a.test")),
			code: wire.ResultInvalidAVPBits, msg: "M bit", failed: avp(wire.AVPDestinationRealm, 0, "a.test")},
		{name: "Origin-Host without M bit", req: build(pxy, app, cmd, sid, avp(wire.AVPOriginHost, 0, "mme.client.test"), or, dr),
			code: wire.ResultInvalidAVPBits, msg: "M bit", failed: avp(wire.AVPOriginHost, 0, "mme.client.test")},
		{name: "empty Origin-Host", req: build(pxy, app, cmd, sid, avp(wire.AVPOriginHost, mBit, ""), or, dr),
			code: wire.ResultInvalidAVPValue, msg: "Origin-Host", failed: avp(wire.AVPOriginHost, mBit, "")},
		{name: "Destination-Realm with a space", req: build(pxy, app, cmd, sid, oh, or, avp(wire.AVPDestinationRealm, mBit, "a .test")),
			code: wire.ResultInvalidAVPValue, msg: "Destination-Realm", failed: avp(wire.AVPDestinationRealm, mBit, "a .test")},
		{name: "empty Session-Id", req: build(pxy, app, cmd, avp(wire.AVPSessionID, mBit, ""), oh, or, dr),
			code: wire.ResultInvalidAVPValue, msg: "Session-Id", failed: avp(wire.AVPSessionID, mBit, "")},
		{name: "too many AVPs", req: build(pxy, app, cmd, many...),
			code: wire.ResultAVPOccursTooManyTimes, msg: "4096 AVPs", failed: wire.AppendAVP(nil, 1001, 0, 0, nil)},
		{name: "Grouped AVPs nested too deep", req: build(pxy, app, cmd, sid, oh, or, dr, nested(17)),
			code: wire.ResultInvalidAVPValue, msg: "nested", failed: nested(17)},
		{name: "loop", req: build(pxy, app, cmd, sid, oh, or, dr, avp(wire.AVPRouteRecord, mBit, draHost)),
			code: wire.ResultLoopDetected, msg: draHost},
	}
	good := func(t *testing.T, n int) {
		t.Helper()
		ans := c.Call(t, draHost, dratest.Request(app, cmd, "s;good", "mme.client.test", "client.test", "a.test", ""))
		if got := dratest.ResultCode(ans); got != wire.ResultSuccess {
			t.Fatalf("good request after a bad one: Result-Code %d (%s)", got, dratest.String(ans, wire.AVPErrorMessage))
		}
		if srv.Count() != uint64(n) {
			t.Fatalf("server received %d requests, want %d (a bad one went through?)", srv.Count(), n)
		}
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantSID := ""
			if s, ok := tt.req.Find(wire.AVPSessionID, 0); ok {
				wantSID = string(s.Data)
			}
			// The request belongs to the connection once sent (its
			// writer recycles it): read what is checked below first.
			code, app := tt.req.Code(), tt.req.AppID()
			ans := c.Call(t, draHost, tt.req)
			if got := dratest.ResultCode(ans); got != tt.code {
				t.Fatalf("Result-Code %d (%s), want %d", got, dratest.String(ans, wire.AVPErrorMessage), tt.code)
			}
			if ans.IsError() != wire.IsProtocolError(tt.code) {
				t.Errorf("E bit %v for %d", ans.IsError(), tt.code)
			}
			if ans.IsRequest() || ans.Code() != code || ans.AppID() != app {
				t.Errorf("answer header %x", ans.Header())
			}
			if em := dratest.String(ans, wire.AVPErrorMessage); !strings.Contains(em, tt.msg) {
				t.Errorf("Error-Message %q does not mention %q", em, tt.msg)
			}
			if got := dratest.String(ans, wire.AVPOriginHost); got != draHost {
				t.Errorf("Origin-Host %q", got)
			}
			if got := dratest.String(ans, wire.AVPSessionID); got != wantSID {
				t.Errorf("Session-Id %q, want %q", got, wantSID)
			}
			f, hasFailed := ans.Find(wire.AVPFailedAVP, 0)
			switch {
			case tt.failed != nil:
				if !hasFailed {
					t.Fatal("no Failed-AVP")
				}
				if !bytes.Equal(f.Data, tt.failed) {
					t.Errorf("Failed-AVP holds %x, want %x", f.Data, tt.failed)
				}
			case tt.failedCode != 0:
				if !hasFailed || len(f.Data) < 8 || binary.BigEndian.Uint32(f.Data) != tt.failedCode {
					t.Errorf("Failed-AVP %x, want AVP %d", f.Data, tt.failedCode)
				}
			case hasFailed:
				t.Errorf("unexpected Failed-AVP %x", f.Data)
			}
			good(t, i+1)
		})
	}
}

// TestToleratedRequests are requests RFC 6733 tells a receiver to accept:
// they are relayed unchanged.
func TestToleratedRequests(t *testing.T) {
	srv := server(t, "hss.a.test", "a.test", nil)
	a := startAgent(t, peerYAML(nodes(srv))+`routes:
  - realm: a.test
    action: relay
    peers: [{host: hss.a.test}]
`)
	waitPeers(t, a, "hss.a.test")
	c := client(t, a, "mme.client.test")
	const app, cmd = 16777251, 316
	const pxy = wire.FlagRequest | wire.FlagProxiable
	sid := avp(wire.AVPSessionID, mBit, "mme.client.test;1;ok")
	oh := avp(wire.AVPOriginHost, mBit, "mme.client.test")
	or := avp(wire.AVPOriginRealm, mBit, "client.test")
	dr := avp(wire.AVPDestinationRealm, mBit, "a.test")
	tests := []struct {
		name string
		req  wire.Msg
	}{
		// §8.8: Session-Id SHOULD (not MUST) come first.
		{"Session-Id not first", build(pxy, app, cmd, oh, or, sid, dr)},
		// §3: reserved command flag bits are ignored on receipt.
		{"reserved header bits", build(pxy|wire.FlagReserved, app, cmd, sid, oh, or, dr)},
		// §4.1: reserved AVP flag bits are ignored on receipt.
		{"reserved AVP bits", build(pxy, app, cmd, sid, avp(wire.AVPOriginHost, mBit|0x1f, "mme.client.test"), or, dr)},
		// A vendor AVP with a base code is another AVP: no 5009.
		{"vendor AVP with a base code", build(pxy, app, cmd, sid, oh, or, dr, wire.AppendStringAVP(nil, wire.AVPOriginHost, wire.AVPFlagVendor, 10415, "x"))},
		// A session-less request (no Session-Id) is relayed.
		{"no Session-Id", build(pxy, app, cmd, oh, or, dr)},
		// Base accounting and session commands are relayed.
		{"STR with application 0", build(pxy, 0, wire.CmdSessionTermination, sid, oh, or, dr)},
		{"Grouped AVPs 16 deep", build(pxy, app, cmd, sid, oh, or, dr, nested(16))},
		{"retransmission", build(pxy|wire.FlagRetransmit, app, cmd, sid, oh, or, dr)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := append(wire.Msg(nil), tt.req...)
			ans := c.Call(t, draHost, tt.req)
			if got := dratest.ResultCode(ans); got != wire.ResultSuccess {
				t.Fatalf("Result-Code %d (%s)", got, dratest.String(ans, wire.AVPErrorMessage))
			}
			rcv := srv.Received()
			if len(rcv) != i+1 {
				t.Fatalf("server received %d requests, want %d", len(rcv), i+1)
			}
			got := rcv[i]
			// The agent appends one Route-Record; everything before it is
			// the client's request as sent (identifiers aside).
			if !bytes.Equal(got.Body()[:len(want)-wire.HeaderLen], want.Body()) || got.Flags()&^wire.FlagRetransmit != want.Flags()&^wire.FlagRetransmit {
				t.Errorf("request changed on its way:\n got %x\nwant %x", got, want)
			}
		})
	}
}
