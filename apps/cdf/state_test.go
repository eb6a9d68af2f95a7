package cdf

import (
	"fmt"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/avp"
)

func TestDecide(t *testing.T) {
	open := &session{State: stateOpen, Seen: map[uint32]struct{}{0: {}}}
	stopped := &session{State: stateStopped, Seen: map[uint32]struct{}{0: {}, 1: {}}}
	event := &session{State: stateEvent, Seen: map[uint32]struct{}{0: {}}}
	tests := []struct {
		name string
		s    *session
		typ  uint32
		num  uint32
		want verdict
	}{
		{"start new", nil, StartRecord, 0, accept},
		{"event new", nil, EventRecord, 0, accept},
		{"interim without start", nil, InterimRecord, 1, unknown},
		{"stop without start", nil, StopRecord, 1, unknown},
		{"interim open", open, InterimRecord, 1, accept},
		{"stop open", open, StopRecord, 1, accept},
		{"duplicate start", open, StartRecord, 0, duplicate},
		{"interim after stop", stopped, InterimRecord, 2, unknown},
		{"stop after stop", stopped, StopRecord, 2, unknown},
		{"start after stop", stopped, StartRecord, 2, unknown},
		{"event after stop", stopped, EventRecord, 2, unknown},
		{"duplicate stop", stopped, StopRecord, 1, duplicate},
		{"interim on event session", event, InterimRecord, 1, unknown},
		{"second event", event, EventRecord, 1, accept},
		{"duplicate event", event, EventRecord, 0, duplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.s, tt.typ, tt.num); got != tt.want {
				t.Errorf("decide = %v, want %v", got, tt.want)
			}
		})
	}
}

// step is one ACR of a scenario and the Result-Code expected.
type step struct {
	sid  string
	typ  uint32
	num  uint32
	want uint32
}

func TestStateMachine(t *testing.T) {
	tests := []struct {
		name     string
		stateful bool
		steps    []step
		cdrs     int
	}{
		{"full session", true, []step{
			{"s", StartRecord, 0, 2001}, {"s", InterimRecord, 1, 2001}, {"s", InterimRecord, 2, 2001}, {"s", StopRecord, 3, 2001},
		}, 4},
		{"interim before start", true, []step{{"s", InterimRecord, 1, 5002}, {"s", StartRecord, 0, 2001}}, 1},
		{"stop before start", true, []step{{"s", StopRecord, 1, 5002}}, 0},
		{"after stop", true, []step{
			{"s", StartRecord, 0, 2001}, {"s", StopRecord, 1, 2001}, {"s", InterimRecord, 2, 5002}, {"s", StartRecord, 3, 5002},
		}, 2},
		{"duplicates", true, []step{
			{"s", StartRecord, 0, 2001}, {"s", StartRecord, 0, 2001}, {"s", InterimRecord, 1, 2001},
			{"s", InterimRecord, 1, 2001}, {"s", StopRecord, 2, 2001}, {"s", StopRecord, 2, 2001},
		}, 3},
		{"sessions are separate", true, []step{
			{"a", StartRecord, 0, 2001}, {"b", InterimRecord, 1, 5002}, {"b", StartRecord, 0, 2001}, {"a", StopRecord, 1, 2001},
			{"b", InterimRecord, 1, 2001},
		}, 4},
		{"events", true, []step{{"e", EventRecord, 0, 2001}, {"e", EventRecord, 0, 2001}, {"e", EventRecord, 1, 2001}}, 2},
		{"stateless any order", false, []step{
			{"s", StopRecord, 3, 2001}, {"s", InterimRecord, 1, 2001}, {"s", StartRecord, 0, 2001}, {"s", InterimRecord, 1, 2001},
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Stateful = tt.stateful
			s := startServer(t, cfg)
			for i, st := range tt.steps {
				ans := serve(t, s, newACR(st.sid, st.typ, st.num))
				if got := resultCode(t, ans); got != st.want {
					t.Fatalf("step %d (%s type %d #%d): Result-Code %d, want %d", i, st.sid, st.typ, st.num, got, st.want)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := len(readAll(t, cfg.DataDir)); got != tt.cdrs {
				t.Errorf("%d CDRs, want %d", got, tt.cdrs)
			}
		})
	}
}

func TestSessionTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTimeout = 100 * time.Millisecond
	s := startServer(t, cfg)
	for i, st := range []step{{"a", StartRecord, 0, 2001}, {"b", StartRecord, 0, 2001}} {
		if got := resultCode(t, serve(t, s, newACR(st.sid, st.typ, st.num))); got != st.want {
			t.Fatalf("step %d: %d", i, got)
		}
	}
	// Keep "b" alive with interims while "a" lapses.
	for i := uint32(1); i <= 4; i++ {
		time.Sleep(40 * time.Millisecond)
		if got := resultCode(t, serve(t, s, newACR("b", InterimRecord, i))); got != 2001 {
			t.Fatalf("interim %d on live session: %d", i, got)
		}
	}
	waitFor(t, "release", func() bool { return s.Stats().Released.Load() >= 1 })
	for _, st := range []step{
		{"a", InterimRecord, 1, 5002}, {"a", StopRecord, 1, 5002},
		{"a", StartRecord, 0, 2001}, // released: a START opens it anew
	} {
		if got := resultCode(t, serve(t, s, newACR(st.sid, st.typ, st.num))); got != st.want {
			t.Errorf("%s type %d after timeout: %d, want %d", st.sid, st.typ, got, st.want)
		}
	}
	if got := resultCode(t, serve(t, s, newACR("b", StopRecord, 5))); got != 2001 {
		t.Errorf("stop on live session: %d", got)
	}
}

func TestACAContents(t *testing.T) {
	cfg := testConfig(t)
	cfg.InterimInterval = 300 * time.Second
	s := startServer(t, cfg)
	for _, tc := range []struct {
		typ      uint32
		num      uint32
		interval bool
	}{{StartRecord, 0, true}, {InterimRecord, 1, true}, {StopRecord, 2, false}} {
		t.Run(fmt.Sprint(tc.typ), func(t *testing.T) {
			req := newACR("sid;1", tc.typ, tc.num)
			ans := serve(t, s, req)
			if ans.Header.CommandFlags&0x80 != 0 || ans.Header.HopByHopID != req.Header.HopByHopID || ans.Header.EndToEndID != req.Header.EndToEndID {
				t.Errorf("header: flags %x ids %d/%d", ans.Header.CommandFlags, ans.Header.HopByHopID, ans.Header.EndToEndID)
			}
			if ans.AVP[0].Code != avp.SessionID {
				t.Errorf("first AVP %d, want Session-Id", ans.AVP[0].Code)
			}
			if got, _ := u32(t, ans, avp.ResultCode); got != 2001 {
				t.Errorf("Result-Code %d", got)
			}
			if got, _ := u32(t, ans, avp.AccountingRecordType); got != tc.typ {
				t.Errorf("Accounting-Record-Type %d", got)
			}
			if got, _ := u32(t, ans, avp.AccountingRecordNumber); got != tc.num {
				t.Errorf("Accounting-Record-Number %d", got)
			}
			if got, _ := u32(t, ans, avp.AcctApplicationID); got != AppID {
				t.Errorf("Acct-Application-Id %d", got)
			}
			if h, _ := avpString(top(ans, avp.OriginHost)); h != testID.OriginHost {
				t.Errorf("Origin-Host %q", h)
			}
			iv, ok := u32(t, ans, avp.AcctInterimInterval)
			if ok != tc.interval || (ok && iv != 300) {
				t.Errorf("Acct-Interim-Interval %d present=%v, want present=%v", iv, ok, tc.interval)
			}
		})
	}
}

func TestJournalUnavailable(t *testing.T) {
	for _, stateful := range []bool{true, false} {
		t.Run(fmt.Sprint("stateful=", stateful), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Stateful = stateful
			s := startServer(t, cfg)
			s.Close()
			if got := resultCode(t, serve(t, s, newACR("c;1", StartRecord, 0))); got != 4002 {
				t.Fatalf("START with a closed journal: %d, want 4002", got)
			}
			if stateful {
				txn := s.table.db.Txn(false)
				if s.table.get(txn, "c;1", time.Now()) != nil {
					t.Error("session kept although its START was not written")
				}
			}
		})
	}
}
