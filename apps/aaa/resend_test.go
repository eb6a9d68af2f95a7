package aaa

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
)

// retransmit marks m as a retransmission (T flag) and returns it.
func retransmit(m *diam.Message) *diam.Message {
	m.Header.CommandFlags |= diam.RetransmittedFlag
	return m
}

// canonical is an answer's encoding with its hop-by-hop and end-to-end
// identifiers zeroed.
func canonical(t *testing.T, m *diam.Message) []byte {
	t.Helper()
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	clear(b[12:20])
	return b
}

// TestResendAfterRestart: a NAS resends (T flag) the requests whose
// answers a crash kept from it. After SIGKILL or SIGTERM and a restart on
// the same data directory, a resent AAR gets the address it was given
// (one session, no second address) and a resent STR gets the first STA,
// not 5002; so too without a restart.
func TestResendAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGKILL", syscall.SIGKILL},
		{"SIGTERM", syscall.SIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := startHelper(t, dir)
			n := dialNAS(t, h.addr, "nas.client.test")
			const open, ended = "s;resend;open", "s;resend;ended"
			aa := n.call(t, n.aar(open, LabUser, 3, pap(LabPassword)))
			if resultOf(aa) != 2001 || !framedAddr(aa).IsValid() {
				t.Fatalf("AAR: %s", describe(aa))
			}
			n.call(t, n.aar(ended, LabUser, 3, pap(LabPassword)))
			sta := n.call(t, n.str(ended))
			if resultOf(sta) != 2001 {
				t.Fatalf("STR: %s", describe(sta))
			}
			if again := n.call(t, retransmit(n.str(ended))); !bytes.Equal(canonical(t, sta), canonical(t, again)) {
				t.Errorf("STR resent: %s, want the first STA %s", describe(again), describe(sta))
			}
			n.close()
			h.signal(t, tc.sig)

			h = startHelper(t, dir)
			n = dialNAS(t, h.addr, "nas.client.test")
			again := n.call(t, retransmit(n.aar(open, LabUser, 3, pap(LabPassword))))
			if resultOf(again) != 2001 || framedAddr(again) != framedAddr(aa) {
				t.Errorf("AAR resent after the restart: %s, want 2001 with %v", describe(again), framedAddr(aa))
			}
			if again := n.call(t, retransmit(n.str(ended))); !bytes.Equal(canonical(t, sta), canonical(t, again)) {
				t.Errorf("STR resent after the restart: %s, want the first STA %s", describe(again), describe(sta))
			}
			// A late copy of the ended session's AAR opens nothing.
			if late := n.call(t, retransmit(n.aar(ended, LabUser, 3, pap(LabPassword)))); resultOf(late) != 5012 || framedAddr(late).IsValid() {
				t.Errorf("AAR of the ended session resent: %s, want 5012 without an address", describe(late))
			}
			n.close()
			h.signal(t, syscall.SIGKILL)

			cfg := DefaultConfig()
			cfg.DataDir = dir
			cfg.Pool = "10.8.0.0/16"
			cfg.Lab = true
			srv, err := New(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, nil, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ss := srv.Sessions()
			if len(ss) != 1 || ss[0].ID != open || ss[0].IP() != framedAddr(aa) {
				t.Errorf("sessions after the resends: %+v, want %s holding %v", ss, open, framedAddr(aa))
			}
			if _, ok := srv.ended.get(ended, srv.now().UnixNano()); !ok {
				t.Error("the session ended by STR is forgotten after a second restart (log compaction)")
			}
		})
	}
}

func TestEndedSetBounds(t *testing.T) {
	var e endedSet
	t0 := int64(1e18)
	for i := range endedMax + 10 {
		e.add(fmt.Sprint(i), "u", t0, nil)
	}
	if len(e.m) != endedMax {
		t.Errorf("%d entries, want %d", len(e.m), endedMax)
	}
	if _, ok := e.get("0", t0); ok {
		t.Error("the oldest entry should be gone")
	}
	if _, ok := e.get(fmt.Sprint(endedMax+9), t0); !ok {
		t.Error("the newest entry should be kept")
	}
	if _, ok := e.get(fmt.Sprint(endedMax+9), t0+int64(endedTTL)+1); ok {
		t.Error("an entry older than endedTTL was returned")
	}
	e.add("late", "u", t0+int64(endedTTL)+1, nil)
	if len(e.m) != 1 || len(e.order) != 1 {
		t.Errorf("after endedTTL: %d entries, %d in order, want 1", len(e.m), len(e.order))
	}
}
