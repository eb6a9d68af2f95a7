package cdf

import (
	"context"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

func TestValidation(t *testing.T) {
	vsai := &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(10415)),
		diam.NewAVP(avp.AcctApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID)),
	}}
	tests := []struct {
		name   string
		opts   []acrOpt
		want   uint32
		failed uint32 // code inside Failed-AVP, 0: none expected
	}{
		{"valid", nil, 2001, 0},
		{"missing Accounting-Record-Type", []acrOpt{without(avp.AccountingRecordType)}, 5005, avp.AccountingRecordType},
		{"missing Accounting-Record-Number", []acrOpt{without(avp.AccountingRecordNumber)}, 5005, avp.AccountingRecordNumber},
		{"missing Session-Id", []acrOpt{without(avp.SessionID)}, 5005, avp.SessionID},
		{"missing Origin-Host", []acrOpt{without(avp.OriginHost)}, 5005, avp.OriginHost},
		{"missing Origin-Realm", []acrOpt{without(avp.OriginRealm)}, 5005, avp.OriginRealm},
		{"missing Destination-Realm", []acrOpt{without(avp.DestinationRealm)}, 5005, avp.DestinationRealm},
		{"missing Acct-Application-Id", []acrOpt{without(avp.AcctApplicationID)}, 5005, avp.AcctApplicationID},
		{"Vendor-Specific-Application-Id instead", []acrOpt{without(avp.AcctApplicationID), with(avp.VendorSpecificApplicationID, 0, vsai)}, 2001, 0},
		{"record type 9", []acrOpt{without(avp.AccountingRecordType), with(avp.AccountingRecordType, 0, datatype.Enumerated(9))}, 5004, avp.AccountingRecordType},
		{"record type 0", []acrOpt{without(avp.AccountingRecordType), with(avp.AccountingRecordType, 0, datatype.Enumerated(0))}, 5004, avp.AccountingRecordType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			s := startServer(t, cfg)
			ans := serve(t, s, newACR("v;1", StartRecord, 0, tt.opts...))
			if got := resultCode(t, ans); got != tt.want {
				t.Fatalf("Result-Code %d, want %d", got, tt.want)
			}
			fa := top(ans, avp.FailedAVP)
			if tt.failed == 0 {
				if fa != nil {
					t.Error("unexpected Failed-AVP")
				}
				return
			}
			if fa == nil {
				t.Fatal("no Failed-AVP")
			}
			g, ok := fa.Data.(*diam.GroupedAVP)
			if !ok || len(g.AVP) != 1 || g.AVP[0].Code != tt.failed {
				t.Fatalf("Failed-AVP %v, want one AVP %d", fa, tt.failed)
			}
			if tt.want == 5004 {
				if v, _ := avpUint32(g.AVP[0]); v != 9 && v != 0 {
					t.Errorf("Failed-AVP holds value %d, not the offending one", v)
				}
			}
			s.Close()
			if n := len(readAll(t, cfg.DataDir)); n != 0 {
				t.Errorf("%d CDRs written for a refused request", n)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	s := startServer(t, testConfig(t))
	m := diam.NewRequest(diam.CreditControl, AppID, dict.Default)
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("x;1"))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("c.test"))
	b, _ := m.Serialize()
	ans, err := s.ServeDiameter(context.Background(), &routing.Request{Msg: b})
	if err != nil {
		t.Fatal(err)
	}
	a := wire.Msg(ans)
	if !a.IsError() || a.IsRequest() {
		t.Errorf("flags %x: want E set, R clear", a.Flags())
	}
	rc, ok := a.Find(wire.AVPResultCode, 0)
	if !ok {
		t.Fatal("no Result-Code")
	}
	if v, _ := rc.Uint32(); v != 3001 {
		t.Errorf("Result-Code %d, want 3001", v)
	}
}

func TestMalformedRequest(t *testing.T) {
	s := startServer(t, testConfig(t))
	b, _ := newACR("m;1", StartRecord, 0).Serialize()
	// Declare an AVP longer than the message.
	b[wire.HeaderLen+5] = 0xff
	ans, err := s.ServeDiameter(context.Background(), &routing.Request{Msg: b})
	if err != nil || ans == nil {
		t.Fatalf("answer %v, err %v", ans, err)
	}
	if wire.Msg(ans).Code() != diam.Accounting || wire.Msg(ans).IsRequest() {
		t.Error("not an ACA")
	}
}
