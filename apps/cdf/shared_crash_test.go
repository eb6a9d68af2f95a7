package cdf

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/internal/redistest"
)

// TestSharedCrashWindows: what a retransmission finds after the agent
// that claimed a record (A) crashed, for each window: between its claim
// and its journal write (the CDR is not written) and between its journal
// write and its mark in Redis (it is), with A restarted on its journal or
// gone, the retransmission sent to A or to B, within the claim timeout or
// past it. The crash is what it leaves: the record's marker still A's
// former run's claim, the CDR in A's journal or not.
func TestSharedCrashWindows(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	cfg := testConfig(t)
	cfg.ClaimTimeout = 10 * time.Second
	for i, tc := range []struct {
		name    string
		written bool          // the CDR is in A's journal
		age     time.Duration // of the claim when the retransmission comes
		restart bool          // A restarts on its journal first
		toA     bool          // the retransmission goes to A, else to B
		want    uint32
		cdrs    int // CDRs of the record across both journals
	}{
		{"claimed/A restarted/resent to A", false, 0, true, true, 2001, 1},
		{"claimed/A restarted/resent to B within the timeout", false, 0, true, false, 3004, 0},
		{"claimed/A gone/resent to B within the timeout", false, 0, false, false, 3004, 0},
		{"claimed/A gone/resent to B past the timeout", false, 11 * time.Second, false, false, 2001, 1},
		{"written/A restarted/resent to A", true, 0, true, true, 2001, 1},
		{"written/A restarted/resent to B", true, 0, true, false, 2001, 1},
		{"written/A gone/resent to B within the timeout", true, 0, false, false, 3004, 1},
		// The one window that writes a CDR twice: A wrote it, never
		// marked it and never came back within the claim timeout.
		{"written/A gone/resent to B past the timeout", true, 11 * time.Second, false, false, 2001, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sid := fmt.Sprintf("pgw;crash;%d", i)
			dirA, dirB := t.TempDir(), t.TempDir()
			a := startShared(t, cfg, r.Addr, "cdf-a.lab.test", dirA)
			b := startShared(t, cfg, r.Addr, "cdf-b.lab.test", dirB)
			if code, msg := a.call(t, newACR(sid, StartRecord, 0)); code != 2001 {
				t.Fatalf("START: %d %q", code, msg)
			}
			if tc.written {
				if code, msg := a.call(t, newACR(sid, InterimRecord, 1)); code != 2001 {
					t.Fatalf("INTERIM: %d %q", code, msg)
				}
			}
			a.stop() // the crash
			setMarker(t, r, sid, 1, fmt.Sprintf("p|cdf-a.lab.test/dead%02d|%d", i, time.Now().Add(-tc.age).UnixMilli()))
			if tc.restart {
				a = startShared(t, cfg, r.Addr, "cdf-a.lab.test", dirA)
			}
			to := b
			if tc.toA {
				to = a
			}
			code, msg := to.call(t, resend(newACR(sid, InterimRecord, 1)))
			if code != tc.want {
				t.Errorf("resent INTERIM: %d %q, want %d", code, msg, tc.want)
			}
			if code == 3004 && !strings.Contains(msg, "cdf-a.lab.test") {
				t.Errorf("3004 Error-Message %q does not name the claimer", msg)
			}
			a.stop()
			b.stop()
			if n := countCDRs(t, dirA, dirB)[recordKey{sid, 1}]; n != tc.cdrs {
				t.Errorf("%d CDRs of the INTERIM, want %d", n, tc.cdrs)
			}
		})
	}
}

// TestSharedRedisDown: while Redis is down (killed; AOF on) every ACR is
// answered 5012 with Error-Message and writes no CDR; after its restart
// the session goes on on either server, the retransmissions of what was
// answered 2001 before are duplicates, those answered 5012 are written
// once. Redis lost between a CDR's fsync and its mark: the ACR is answered
// 2001 (the CDR is durable), the mark is stored once Redis is back, and a
// retransmission to the other server then writes nothing.
func TestSharedRedisDown(t *testing.T) {
	r := redistest.Start(t, redistest.Options{AOF: true})
	a, b := sharedPair(t, testConfig(t), r)
	const sid = "pgw;down;1"
	if code, msg := a.call(t, newACR(sid, StartRecord, 0)); code != 2001 {
		t.Fatalf("START: %d %q", code, msg)
	}
	r.Kill()
	for _, n := range []*sharedNode{a, b} {
		code, msg := n.call(t, newACR(sid, InterimRecord, 1))
		if code != 5012 || msg == "" {
			t.Errorf("INTERIM on %s with Redis down: %d %q, want 5012 with Error-Message", n.host, code, msg)
		}
	}
	r.Restart()
	waitFor(t, "redis back", func() bool {
		code, _ := b.call(t, resend(newACR(sid, InterimRecord, 1)))
		return code == 2001
	})
	if code, msg := a.call(t, resend(newACR(sid, InterimRecord, 1))); code != 2001 {
		t.Errorf("INTERIM resent to A: %d %q", code, msg)
	}
	if code, msg := b.call(t, resend(newACR(sid, StartRecord, 0))); code != 2001 {
		t.Errorf("START resent to B after the restart: %d %q", code, msg)
	}

	// Redis lost between the STOP's fsync on A and its mark.
	var once sync.Once
	a.srv.shared.beforeMark = func(recordKey) { once.Do(r.Kill) }
	if code, msg := a.call(t, newACR(sid, StopRecord, 2)); code != 2001 {
		t.Errorf("STOP with Redis lost after its fsync: %d %q, want 2001", code, msg)
	}
	r.Restart()
	waitFor(t, "the STOP's mark", func() bool {
		code, _ := b.call(t, resend(newACR(sid, StopRecord, 2)))
		return code == 2001
	})
	a.stop()
	b.stop()
	count := countCDRs(t, a.dir, b.dir)
	for num := range uint32(3) {
		if n := count[recordKey{sid, num}]; n != 1 {
			t.Errorf("record %d: %d CDRs, want 1", num, n)
		}
	}
}

// TestSharedJournalUnavailable: a record whose CDR could not be written
// (4002) releases its claim and its state change: the session it would
// have opened is unknown to the other server, and the record, resent
// there, is written there once.
func TestSharedJournalUnavailable(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	a, b := sharedPair(t, testConfig(t), r)
	const sid = "pgw;nojournal;1"
	if err := a.srv.journal.close(); err != nil {
		t.Fatal(err)
	}
	if code, msg := a.call(t, newACR(sid, StartRecord, 0)); code != 4002 {
		t.Fatalf("START with A's journal closed: %d %q, want 4002", code, msg)
	}
	if code, _ := b.call(t, newACR(sid, InterimRecord, 1)); code != 5002 {
		t.Errorf("INTERIM on B after the START failed on A: %d, want 5002", code)
	}
	if code, msg := b.call(t, resend(newACR(sid, StartRecord, 0))); code != 2001 {
		t.Errorf("START resent to B: %d %q", code, msg)
	}
	if code, msg := b.call(t, newACR(sid, InterimRecord, 1)); code != 2001 {
		t.Errorf("INTERIM on B: %d %q", code, msg)
	}
	a.stop()
	b.stop()
	count := countCDRs(t, a.dir, b.dir)
	if count[recordKey{sid, 0}] != 1 || count[recordKey{sid, 1}] != 1 || len(readAll(t, a.dir)) != 0 {
		t.Errorf("CDRs %v, want START and INTERIM once each, none on A", count)
	}
}

// TestSharedClaimReplyLost: a claim Redis made but whose reply the agent
// never got (answered 5012, nothing written) leaves the record claimed by
// the live agent: its retransmission to that agent is written there at
// once, and a copy then sent to the other server is a duplicate.
func TestSharedClaimReplyLost(t *testing.T) {
	r := redistest.Start(t, redistest.Options{})
	a, b := sharedPair(t, testConfig(t), r)
	const sid = "pgw;lost;1"
	if code, _ := a.call(t, newACR(sid, StartRecord, 0)); code != 2001 {
		t.Fatalf("START: %d", code)
	}
	setMarker(t, r, sid, 1, pending(a.srv.shared.owner))
	if code, msg := a.call(t, resend(newACR(sid, InterimRecord, 1))); code != 2001 {
		t.Errorf("INTERIM resent to the claimer: %d %q", code, msg)
	}
	if code, msg := b.call(t, resend(newACR(sid, InterimRecord, 1))); code != 2001 {
		t.Errorf("INTERIM resent to B: %d %q", code, msg)
	}
	a.stop()
	b.stop()
	if n := countCDRs(t, a.dir, b.dir)[recordKey{sid, 1}]; n != 1 {
		t.Errorf("%d CDRs of the INTERIM, want 1", n)
	}
}
