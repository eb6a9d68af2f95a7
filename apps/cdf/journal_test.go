package cdf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

func files(t *testing.T, dir string) []journalFile {
	t.Helper()
	fs, err := listFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestJournalRotationBySize(t *testing.T) {
	cfg := testConfig(t)
	cfg.Stateful = false
	cfg.RotateBytes = 1000
	s := startServer(t, cfg)
	const n = 40
	for i := range n {
		if got := resultCode(t, serve(t, s, newACR(fmt.Sprintf("r;%d", i), EventRecord, 0))); got != 2001 {
			t.Fatalf("ACR %d: %d", i, got)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fs := files(t, cfg.DataDir)
	if len(fs) < 5 {
		t.Fatalf("%d files, want rotation", len(fs))
	}
	for i, f := range fs {
		if f.Seq != uint64(i+1) {
			t.Errorf("file %d has sequence %d", i, f.Seq)
		}
		st, _ := os.Stat(f.Path)
		if st.Size() > 1000 {
			t.Errorf("%s: %d bytes, over rotate_bytes", f.Path, st.Size())
		}
	}
	rs := readAll(t, cfg.DataDir)
	if len(rs) != n {
		t.Fatalf("%d records, want %d", len(rs), n)
	}
	for i, r := range rs {
		if r.SessionID != fmt.Sprintf("r;%d", i) {
			t.Fatalf("record %d is %s: order lost", i, r.SessionID)
		}
	}
}

func TestJournalRotationByAge(t *testing.T) {
	cfg := testConfig(t)
	cfg.RotateAge = 50 * time.Millisecond
	s := startServer(t, cfg)
	serve(t, s, newACR("a;1", EventRecord, 0))
	waitFor(t, "age rotation", func() bool { return len(files(t, cfg.DataDir)) >= 2 })
	serve(t, s, newACR("a;2", EventRecord, 0))
	s.Close()
	if rs := readAll(t, cfg.DataDir); len(rs) != 2 {
		t.Errorf("%d records", len(rs))
	}
}

func TestJournalRestartContinuesSequence(t *testing.T) {
	cfg := testConfig(t)
	for round := range 3 {
		s := startServer(t, cfg)
		serve(t, s, newACR(fmt.Sprintf("x;%d", round), EventRecord, 0))
		s.Close()
	}
	fs := files(t, cfg.DataDir)
	if len(fs) != 3 || fs[2].Seq != 3 {
		t.Fatalf("files %v", fs)
	}
	// Billing removes the closed files; the sequence goes on.
	for _, f := range fs {
		os.Remove(f.Path)
	}
	s := startServer(t, cfg)
	s.Close()
	if fs := files(t, cfg.DataDir); len(fs) != 1 || fs[0].Seq != 4 {
		t.Fatalf("after cleanup: %v", fs)
	}
}

func TestJournalTornTail(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	serve(t, s, newACR("t;1", StartRecord, 0))
	s.Close()
	fs := files(t, cfg.DataDir)
	f, err := os.OpenFile(fs[len(fs)-1].Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-01-01T00:00:00Z","session_id":"t;1","record_ty`)
	f.Close()
	if rs := readAll(t, cfg.DataDir); len(rs) != 1 {
		t.Fatalf("reader: %d records, want the torn line skipped", len(rs))
	}
	s = startServer(t, cfg)
	if got := resultCode(t, serve(t, s, newACR("t;1", StopRecord, 1))); got != 2001 {
		t.Errorf("STOP after restart: %d", got)
	}
	s.Close()
	b, _ := os.ReadFile(fs[len(fs)-1].Path)
	if !strings.HasSuffix(string(b), "}\n") {
		t.Error("torn tail not trimmed")
	}
	if rs := readAll(t, cfg.DataDir); len(rs) != 2 {
		t.Errorf("%d records, want 2", len(rs))
	}
}

func TestJournalCorruptLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, fileName(1)), []byte("{\"time\":\"2026-01-01T00:00:00Z\"}\nnot json\n"), 0o644)
	err := ReadJournal(dir, func(Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("err %v, want one naming line 2", err)
	}
	if _, err := New(Config{DataDir: dir, Stateful: true}, testID, nil, nil); err == nil {
		t.Error("New replayed a corrupt journal without error")
	}
}

func TestReplayRecoversSessions(t *testing.T) {
	cfg := testConfig(t)
	cfg.RotateBytes = 600 // replay crosses files
	s := startServer(t, cfg)
	for _, st := range []step{
		{"open", StartRecord, 0, 2001}, {"open", InterimRecord, 1, 2001},
		{"done", StartRecord, 0, 2001}, {"done", StopRecord, 1, 2001},
		{"ev", EventRecord, 0, 2001},
	} {
		if got := resultCode(t, serve(t, s, newACR(st.sid, st.typ, st.num))); got != st.want {
			t.Fatalf("%v: %d", st, got)
		}
	}
	s.Close()
	s = startServer(t, cfg)
	tests := []step{
		{"open", InterimRecord, 1, 2001}, // duplicate: no new CDR
		{"open", InterimRecord, 2, 2001},
		{"done", StopRecord, 1, 2001}, // duplicate
		{"done", InterimRecord, 2, 5002},
		{"ev", EventRecord, 0, 2001}, // duplicate
		{"new", InterimRecord, 1, 5002},
		{"open", StopRecord, 3, 2001},
	}
	for _, st := range tests {
		if got := resultCode(t, serve(t, s, newACR(st.sid, st.typ, st.num))); got != st.want {
			t.Errorf("after restart %v: %d", st, got)
		}
	}
	s.Close()
	if rs := readAll(t, cfg.DataDir); len(rs) != 7 {
		t.Errorf("%d CDRs, want 7", len(rs))
	}
}

func TestReplayDropsExpiredSessions(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTimeout = 50 * time.Millisecond
	s := startServer(t, cfg)
	serve(t, s, newACR("old", StartRecord, 0))
	s.Close()
	time.Sleep(80 * time.Millisecond)
	s = startServer(t, cfg)
	if got := resultCode(t, serve(t, s, newACR("old", InterimRecord, 1))); got != 5002 {
		t.Errorf("interim of an expired session after restart: %d", got)
	}
}

func TestRecordFields(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	ts := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	serve(t, s, newACR("f;1", StartRecord, 0,
		with(avp.UserName, 0, datatype.UTF8String("alice@lab.test")),
		with(avp.EventTimestamp, 0, datatype.Time(ts)),
		with(avp.AcctInterimInterval, 0, datatype.Unsigned32(60)),
		with(avp.Class, 0, datatype.OctetString("\x00\x01")),
		with(avp.Class, 0, datatype.OctetString("\x02")),
		// Service-Information (Grouped, 3GPP Rf) holding a vendor AVP the
		// dictionary does not know, without the M bit.
		with(873, 10415, datatype.OctetString("\x00\x00\x03\xe7\x80\x00\x00\x0d\x00\x00\x28\xaf\xab")),
	))
	s.Close()
	rs := readAll(t, cfg.DataDir)
	if len(rs) != 1 {
		t.Fatalf("%d records", len(rs))
	}
	r := rs[0]
	if r.SessionID != "f;1" || r.RecordType != StartRecord || r.RecordNumber != 0 || r.OriginHost != "pgw.client.test" ||
		r.OriginRealm != "client.test" || r.DestinationRealm != "lab.test" || r.UserName != "alice@lab.test" ||
		r.AcctApplicationID != AppID || r.EventTimestamp == nil || !r.EventTimestamp.Equal(ts) {
		t.Errorf("record %+v", r)
	}
	want := map[string]any{
		"avp_85":         json.Number("60"),
		"avp_25":         []any{map[string]any{"hex": "0001"}, map[string]any{"hex": "02"}},
		"avp_873_v10415": map[string]any{"hex": "000003e78000000d000028afab"},
	}
	if !reflect.DeepEqual(r.AVPs, want) {
		t.Errorf("AVPs %#v, want %#v", r.AVPs, want)
	}
}

func TestGroupCommitConcurrent(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	var wg sync.WaitGroup
	const n = 200
	for i := range n {
		wg.Go(func() {
			sid := fmt.Sprintf("g;%d", i)
			for num, typ := range []uint32{StartRecord, InterimRecord, StopRecord} {
				if got := resultCode(t, serve(t, s, newACR(sid, typ, uint32(num)))); got != 2001 {
					t.Errorf("%s #%d: %d", sid, num, got)
				}
			}
		})
	}
	wg.Wait()
	s.Close()
	if rs := readAll(t, cfg.DataDir); len(rs) != 3*n {
		t.Errorf("%d records, want %d", len(rs), 3*n)
	}
}
