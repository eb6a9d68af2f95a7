package cdf

import (
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

func TestEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	cfg.InterimInterval = 120 * time.Second
	srv := startServer(t, cfg)
	a, err := startAgent(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.stop)
	c := newClient(t, a)

	steps := []struct {
		sid      string
		typ      uint32
		num      uint32
		interval bool
	}{
		{"pgw;e2e;1", StartRecord, 0, true},
		{"pgw;e2e;1", InterimRecord, 1, true},
		{"pgw;e2e;1", InterimRecord, 2, true},
		{"pgw;e2e;1", StopRecord, 3, false},
		{"pgw;e2e;2", EventRecord, 0, false},
	}
	for _, st := range steps {
		req := newACR(st.sid, st.typ, st.num, with(avp.UserName, 0, datatype.UTF8String("imsi-001010000000001")))
		ans, err := c.call(req)
		if err != nil {
			t.Fatalf("type %d: %v", st.typ, err)
		}
		if ans.Header.CommandCode != diam.Accounting || ans.Header.CommandFlags&diam.RequestFlag != 0 {
			t.Fatalf("not an ACA: %v", ans)
		}
		if got := resultCode(t, ans); got != 2001 {
			t.Fatalf("type %d: Result-Code %d", st.typ, got)
		}
		if sid, _ := avpString(top(ans, avp.SessionID)); sid != st.sid || ans.AVP[0].Code != avp.SessionID {
			t.Errorf("Session-Id %q not first or not echoed", sid)
		}
		if h, _ := avpString(top(ans, avp.OriginHost)); h != testID.OriginHost {
			t.Errorf("Origin-Host %q", h)
		}
		if n, _ := u32(t, ans, avp.AccountingRecordNumber); n != st.num {
			t.Errorf("Accounting-Record-Number %d", n)
		}
		if typ, _ := u32(t, ans, avp.AccountingRecordType); typ != st.typ {
			t.Errorf("Accounting-Record-Type %d", typ)
		}
		if iv, ok := u32(t, ans, avp.AcctInterimInterval); ok != st.interval || (ok && iv != 120) {
			t.Errorf("type %d: Acct-Interim-Interval %d present=%v", st.typ, iv, ok)
		}
	}
	// After STOP the session is closed.
	ans, err := c.call(newACR("pgw;e2e;1", InterimRecord, 4))
	if err != nil {
		t.Fatal(err)
	}
	if got := resultCode(t, ans); got != 5002 {
		t.Errorf("INTERIM after STOP: %d", got)
	}
	a.stop()
	srv.Close()
	rs := readAll(t, cfg.DataDir)
	if len(rs) != len(steps) {
		t.Fatalf("%d CDRs, want %d", len(rs), len(steps))
	}
	for i, r := range rs {
		if r.SessionID != steps[i].sid || r.RecordType != steps[i].typ || r.RecordNumber != steps[i].num ||
			r.UserName != "imsi-001010000000001" || r.OriginHost != "pgw.client.test" {
			t.Errorf("CDR %d: %+v", i, r)
		}
	}
}
