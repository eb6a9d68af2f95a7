package cdf

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/routing"
)

var testID = Identity{OriginHost: "cdf.lab.test", OriginRealm: "lab.test"}

// testConfig is a stateful configuration in a fresh directory.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	return cfg
}

// startServer starts a Server closed at the end of the test.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg, testID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// acrOpt changes an ACR under construction.
type acrOpt func(m *diam.Message)

// without removes the AVP code.
func without(code uint32) acrOpt { return func(m *diam.Message) { m.DeleteAVP(code, 0) } }

// with appends an AVP.
func with(code uint32, vendor uint32, data datatype.Type) acrOpt {
	return func(m *diam.Message) {
		flags := uint8(avp.Mbit)
		if vendor != 0 {
			flags |= avp.Vbit
		}
		m.AddAVP(diam.NewAVP(code, flags, vendor, data))
	}
}

// newACR builds an Accounting-Request as a client would.
func newACR(sid string, typ, num uint32, opts ...acrOpt) *diam.Message {
	m := diam.NewRequest(diam.Accounting, AppID, dict.Default)
	m.Header.HopByHopID, m.Header.EndToEndID = num+1, num+100
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(sid))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("pgw.client.test"))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("client.test"))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity("lab.test"))
	m.NewAVP(avp.AccountingRecordType, avp.Mbit, 0, datatype.Enumerated(typ))
	m.NewAVP(avp.AccountingRecordNumber, avp.Mbit, 0, datatype.Unsigned32(num))
	m.NewAVP(avp.AcctApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	for _, o := range opts {
		o(m)
	}
	return m
}

// serve runs one request through ServeDiameter and decodes the answer.
func serve(t testing.TB, s *Server, m *diam.Message) *diam.Message {
	t.Helper()
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	ans, err := s.ServeDiameter(context.Background(), &routing.Request{Msg: b})
	if err != nil {
		t.Fatal(err)
	}
	a, err := diam.ReadMessage(bytes.NewReader(ans), dict.Default)
	if err != nil {
		t.Fatalf("answer does not decode: %v", err)
	}
	return a
}

func u32(t testing.TB, m *diam.Message, code uint32) (uint32, bool) {
	t.Helper()
	a := top(m, code)
	if a == nil {
		return 0, false
	}
	v, ok := avpUint32(a)
	if !ok {
		t.Fatalf("AVP %d: not an integer: %T", code, a.Data)
	}
	return v, true
}

func resultCode(t testing.TB, m *diam.Message) uint32 {
	t.Helper()
	v, ok := u32(t, m, avp.ResultCode)
	if !ok {
		t.Fatal("answer without Result-Code")
	}
	return v
}

// readAll returns the journal of dir.
func readAll(t testing.TB, dir string) []Record {
	t.Helper()
	var rs []Record
	if err := ReadJournal(dir, func(r Record) error { rs = append(rs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return rs
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// answerCode is the Result-Code of m, 0 when absent; safe off the test
// goroutine.
func answerCode(m *diam.Message) uint32 {
	if a := top(m, avp.ResultCode); a != nil {
		v, _ := avpUint32(a)
		return v
	}
	return 0
}
