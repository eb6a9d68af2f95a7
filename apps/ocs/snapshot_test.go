package ocs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testRecord is a record changing account data's balance to used.
func testRecord(data string, used uint64) *record {
	return &record{Acct: &acctState{Data: data, Used: amounts{unitOctets: used}}}
}

// copyDir copies the files of dir, as a crash would leave them.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// usedIn loads the state in dir and returns each account's used octets.
func usedIn(t *testing.T, dir string) map[string]uint64 {
	t.Helper()
	st, _, err := loadState(dir, quietLogger(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, a := range st.Accounts {
		out[a.Data] = a.Used[unitOctets]
	}
	return out
}

// TestSnapshotDoesNotHoldCommits: while a snapshot is being collected and
// written, records are still committed, and the data directory describes
// every committed record at each step (a crash at any point loses none).
func TestSnapshotDoesNotHoldCommits(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	state := map[string]uint64{} // what the snapshot collects
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	snap := func(seq uint64) *snapshot {
		once.Do(func() { close(entered); <-release }) // the first snapshot is slow
		mu.Lock()
		defer mu.Unlock()
		st := &snapshot{Seq: seq}
		for k, v := range state {
			st.Accounts = append(st.Accounts, *testRecord(k, v).Acct)
		}
		return st
	}
	w, err := openWAL(dir, &snapshot{}, 0, 1, time.Hour, snap, quietLogger(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	commit := func(data string, used uint64) {
		t.Helper()
		mu.Lock()
		state[data] = used
		c := w.append(testRecord(data, used))
		mu.Unlock()
		done := make(chan error, 1)
		go func() { done <- c.wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitCommits):
			close(release)
			t.Fatalf("commit of %s held up for %v by a snapshot", data, waitCommits)
		}
	}
	commit("a", 1) // its batch makes a snapshot due
	select {
	case <-entered:
	case <-time.After(waitCommits):
		t.Fatal("no snapshot started")
	}
	commit("b", 2)
	commit("a", 3)
	if got := usedIn(t, copyDir(t, dir)); got["a"] != 3 || got["b"] != 2 {
		t.Errorf("state on disk during the snapshot: %v", got)
	}
	close(release)
	w.snapping.Wait()
	if err := w.snapErr; err != nil {
		t.Fatal(err)
	}
	if got := usedIn(t, copyDir(t, dir)); got["a"] != 3 || got["b"] != 2 {
		t.Errorf("state on disk after the snapshot: %v", got)
	}
	commit("b", 4)
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if got := usedIn(t, dir); got["a"] != 3 || got["b"] != 4 {
		t.Errorf("state on disk after close: %v", got)
	}
	segs, _, _ := segments(dir)
	if len(segs) != 1 {
		t.Errorf("segments after close: %v", segs)
	}
}

// BenchmarkCommitDuringSnapshot measures commit latency (append to
// durable) from 8 concurrent committers while the state, 100,000
// sessions, is snapshotted every 2,000 records.
func BenchmarkCommitDuringSnapshot(b *testing.B) {
	const sessions = 100_000
	ans := make([]byte, 260) // a CCA
	big := &snapshot{Accounts: []acctState{{Data: msisdn}}}
	for i := range sessions {
		big.Sessions = append(big.Sessions, sessState{ID: fmt.Sprintf("pgw.example.com;%d;%d", i, i*7), Acct: "0:" + msisdn,
			OriginHost: "pgw.example.com", OriginRealm: "example.com", LastNum: 3,
			Res: []resState{{RG: 1, HasRG: true, Unit: unitOctets, Amount: 100_000}}, Ans: ans})
	}
	var snaps atomic.Int64
	snap := func(seq uint64) *snapshot {
		snaps.Add(1)
		return &snapshot{Seq: seq, Accounts: big.Accounts, Sessions: slices.Clone(big.Sessions)}
	}
	w, err := openWAL(b.TempDir(), &snapshot{}, 0, 2000, time.Hour, snap, quietLogger(testWriter{b}))
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(4) // 8 committers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for i := 0; pb.Next(); i++ {
			t0 := time.Now()
			if err := w.append(testRecord("x", uint64(i))).wait(); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	w.close()
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(snaps.Load()), "snapshots")
}

// TestTornTailThenCrashDuringRecovery: a crash tears the last segment;
// recovery starts a new segment before its snapshot removes the old ones,
// and a second crash there leaves the torn segment before the new one. The
// next start must not take it for corruption in the middle of the log.
func TestTornTailThenCrashDuringRecovery(t *testing.T) {
	dir := t.TempDir()
	var frames []byte
	for i := range 3 {
		p, err := json.Marshal(&record{Seq: uint64(i + 1), Acct: testRecord("a", uint64(i+1)).Acct})
		if err != nil {
			t.Fatal(err)
		}
		frames = appendFrame(frames, p)
	}
	torn := frames[:len(frames)-5] // the last append cut short
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), torn, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := usedIn(t, dir); got["a"] != 2 {
		t.Fatalf("after a torn tail: %v", got)
	}
	// Recovery got as far as the new segment.
	if err := os.WriteFile(filepath.Join(dir, segmentName(2)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := usedIn(t, dir); got["a"] != 2 {
		t.Errorf("after a crash during recovery: %v", got)
	}
}
