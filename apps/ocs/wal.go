package ocs

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/apps"
)

// record is one durable change: the whole new state of an account and of
// at most one session (or the session's removal), and the answer that
// change produced, so that a charge and what makes its retransmission a
// duplicate are durable together or not at all. Replay sets states, so a
// record applied twice is harmless.
type record struct {
	Seq  uint64     `json:"s"`
	Acct *acctState `json:"a,omitempty"`
	Sess *sessState `json:"x,omitempty"`   // carries the answer to its last request
	Del  string     `json:"del,omitempty"` // session removed
	Done *doneState `json:"done,omitempty"`
}

// snapshot is the whole state after record Seq.
type snapshot struct {
	Seq      uint64      `json:"seq"`
	Accounts []acctState `json:"accounts"`
	Sessions []sessState `json:"sessions"`
	Done     []doneState `json:"done,omitempty"`
}

const snapshotFile = "snapshot.json"

// ErrClosed is returned once the store is closed.
var ErrClosed = errors.New("ocs: closed")

// commit is one group commit: the records appended while the previous
// batch was written. done is closed once err is final; any number of
// goroutines may wait on it (a retransmission waits for the commit of the
// answer it is given).
type commit struct {
	done chan struct{}
	err  error
}

func newCommit() *commit { return &commit{done: make(chan struct{})} }

// failedCommit is a commit that already failed with err.
func failedCommit(err error) *commit {
	c := newCommit()
	c.err = err
	close(c.done)
	return c
}

// wait blocks until the commit is durable (nil) or failed.
func (c *commit) wait() error {
	<-c.done
	return c.err
}

// wal is the write-ahead log: records are framed, written in batches by
// one goroutine and fsynced once per batch (group commit); each caller
// waits for the batch that holds its record.
//
// Snapshots stay off the commit path: when one is due the writer only
// starts a new segment (after the batch it just synced) and hands the
// snapshot to another goroutine, which collects the state (copying each
// account under its lock), encodes and writes it, and then removes the
// segments before the new one. Until the snapshot is renamed into place
// the previous snapshot and every segment still describe the state.
type wal struct {
	dir   string
	log   *slog.Logger
	every int
	ival  time.Duration
	snap  func(seq uint64) *snapshot // collects the state (takes account locks)

	mu      sync.Mutex
	seq     uint64 // last assigned
	buf     []byte
	queued  int     // records in buf
	cur     *commit // the commit of the records in buf
	err     error   // sticky write error
	closed  bool
	kick    chan struct{}
	done    chan struct{}
	snapErr error // last snapshot failure (tests)

	snapping sync.WaitGroup // the snapshot goroutine
	busy     atomic.Bool    // a snapshot is being written

	f        *os.File // current segment (writer goroutine only)
	segment  uint64
	sinceSnp int
	lastSnp  time.Time
}

func segmentName(n uint64) string { return fmt.Sprintf("wal-%020d.log", n) }

// loadState reads the snapshot and replays every segment after it. It
// returns the state, the last sequence number and the last segment number.
func loadState(dir string, log *slog.Logger) (*snapshot, uint64, error) {
	st := &snapshot{}
	b, err := os.ReadFile(filepath.Join(dir, snapshotFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, st); err != nil {
			return nil, 0, fmt.Errorf("ocs: snapshot: %w", err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, 0, fmt.Errorf("ocs: snapshot: %w", err)
	}
	segs, lastSeg, err := segments(dir)
	if err != nil {
		return nil, 0, err
	}
	accts := map[string]*acctState{}
	for i := range st.Accounts {
		a := &st.Accounts[i]
		accts[accountKey(a.Type, a.Data)] = a
	}
	sess := map[string]*sessState{}
	for i := range st.Sessions {
		sess[st.Sessions[i].ID] = &st.Sessions[i]
	}
	done := map[doneKey]doneState{}
	for _, d := range st.Done {
		done[doneKey{d.Sid, d.Num}] = d
	}
	seq := st.Seq
	for i, name := range segs {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, 0, fmt.Errorf("ocs: read %s: %w", name, err)
		}
		payloads, good := splitFrames(b)
		if good != len(b) {
			// Only the last append can be torn: a bad frame with more log
			// after it (in this segment or a later one) is corruption, and
			// replaying around it would restore spent credit.
			if rest := b[good:]; !tornTail(rest) || (i < len(segs)-1 && !allZero(rest)) {
				return nil, 0, fmt.Errorf("ocs: log segment %s: bad frame at offset %d with %d bytes after it: the log is corrupt in the middle; refusing to start rather than replay around it (move the data directory aside to start from the configuration)",
					name, good, len(rest))
			}
			log.Warn("ocs: torn tail in log cut off", "segment", name, "offset", good, "bytes", len(b)-good)
			// Cut it off now: the segment is about to stop being the last
			// one, and a crash before the next snapshot removes it would
			// otherwise leave a damaged frame in the middle of the log.
			if err := truncateSync(filepath.Join(dir, name), int64(good)); err != nil {
				return nil, 0, err
			}
		}
		for _, p := range payloads {
			var r record
			if err := json.Unmarshal(p, &r); err != nil {
				return nil, 0, fmt.Errorf("ocs: %s: record: %w", name, err)
			}
			if r.Seq <= st.Seq {
				continue
			}
			seq = max(seq, r.Seq)
			if r.Acct != nil {
				a := *r.Acct
				accts[accountKey(a.Type, a.Data)] = &a
			}
			if r.Sess != nil {
				s := *r.Sess
				sess[s.ID] = &s
			}
			if r.Del != "" {
				delete(sess, r.Del)
			}
			if r.Done != nil {
				done[doneKey{r.Done.Sid, r.Done.Num}] = *r.Done
			}
		}
	}
	out := &snapshot{Seq: seq}
	for _, a := range accts {
		out.Accounts = append(out.Accounts, *a)
	}
	for _, s := range sess {
		out.Sessions = append(out.Sessions, *s)
	}
	for _, d := range done {
		out.Done = append(out.Done, d)
	}
	// Oldest first, so that the bounded cache keeps the newest.
	slices.SortFunc(out.Done, func(a, b doneState) int { return cmp.Compare(a.At, b.At) })
	return out, lastSeg, nil
}

// segments lists the log segments in order.
func segments(dir string) ([]string, uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("ocs: %w", err)
	}
	var names []string
	var last uint64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "wal-") || !strings.HasSuffix(n, ".log") {
			continue
		}
		var k uint64
		if _, err := fmt.Sscanf(n, "wal-%d.log", &k); err != nil {
			continue
		}
		names = append(names, n)
		last = max(last, k)
	}
	slices.Sort(names)
	return names, last, nil
}

// openWAL starts the log after recovery: it writes st as the snapshot,
// starts a new segment and removes the old ones.
func openWAL(dir string, st *snapshot, lastSeg uint64, every int, ival time.Duration, snap func(uint64) *snapshot, log *slog.Logger) (*wal, error) {
	w := &wal{dir: dir, log: log, every: every, ival: ival, snap: snap, seq: st.Seq, segment: lastSeg,
		cur: newCommit(), kick: make(chan struct{}, 1), done: make(chan struct{})}
	if err := w.rotate(st); err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// append assigns the record its sequence number and queues it. Call it
// with the lock of the state the record describes, so that records of one
// account are queued in the order they were applied; wait on the commit
// after releasing that lock.
func (w *wal) append(r *record) *commit {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.closed {
		return failedCommit(cmpErr(w.err))
	}
	w.seq++
	r.Seq = w.seq
	p, err := json.Marshal(r)
	if err != nil {
		return failedCommit(fmt.Errorf("ocs: encode record: %w", err))
	}
	w.buf = appendFrame(w.buf, p)
	w.queued++
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return w.cur
}

func cmpErr(err error) error {
	if err == nil {
		return ErrClosed
	}
	return err
}

// run writes and syncs batches until close, and starts snapshots.
func (w *wal) run() {
	defer close(w.done)
	tick := time.NewTicker(w.ival)
	defer tick.Stop()
	for {
		select {
		case <-w.kick:
		case <-tick.C:
		}
		w.mu.Lock()
		buf, n, c, seq := w.buf, w.queued, w.cur, w.seq
		if n > 0 {
			w.buf, w.queued, w.cur = nil, 0, newCommit()
		}
		closing, failed := w.closed, w.err != nil
		w.mu.Unlock()
		if n > 0 {
			c.err = w.write(buf)
			failed = failed || c.err != nil
			close(c.done)
			w.sinceSnp += n
		}
		if closing {
			return
		}
		// Every record up to seq is in the segments written so far.
		if !failed && !w.busy.Load() && (w.sinceSnp >= w.every || (w.sinceSnp > 0 && time.Since(w.lastSnp) >= w.ival)) {
			w.startSnapshot(seq)
		}
	}
}

// write appends a batch to the segment and syncs it.
func (w *wal) write(b []byte) error {
	_, err := w.f.Write(b)
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("ocs: write log: %w", err)
		w.log.Error("ocs: log write failed; refusing further changes", "err", err)
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}
	return err
}

// startSnapshot starts a new segment for the records after seq and writes
// the snapshot at seq on another goroutine. Writer goroutine only.
func (w *wal) startSnapshot(seq uint64) {
	w.sinceSnp, w.lastSnp = 0, time.Now() // a failure is retried as late as a success
	if err := w.nextSegment(); err != nil {
		w.log.Error("ocs: new log segment failed; snapshot skipped", "err", err)
		return
	}
	keep := w.segment
	w.busy.Store(true)
	w.snapping.Add(1)
	go func() {
		defer w.snapping.Done()
		defer w.busy.Store(false)
		err := w.writeSnapshot(w.snap(seq), keep)
		if err != nil {
			w.log.Error("ocs: snapshot failed", "err", err)
		}
		w.mu.Lock()
		w.snapErr = err
		w.mu.Unlock()
	}()
}

// nextSegment makes a new segment the one records are appended to. The
// directory is synced before any record is written to it, so that a
// synced record never sits in a file a crash can lose.
func (w *wal) nextSegment() error {
	f, err := os.OpenFile(filepath.Join(w.dir, segmentName(w.segment+1)), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, apps.FileMode)
	if err != nil {
		return fmt.Errorf("ocs: open log: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.segment++
	old := w.f
	w.f = f
	if old != nil {
		old.Close()
	}
	return nil
}

// writeSnapshot writes st (temporary file, sync, rename, directory sync)
// and removes the segments before keep, whose records st holds.
func (w *wal) writeSnapshot(st *snapshot, keep uint64) error {
	tmp := filepath.Join(w.dir, snapshotFile+".tmp")
	if err := writeSnapshotFile(tmp, st); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, snapshotFile)); err != nil {
		return fmt.Errorf("ocs: snapshot: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		return err
	}
	names, _, err := segments(w.dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n < segmentName(keep) {
			os.Remove(filepath.Join(w.dir, n))
		}
	}
	return nil
}

// snapshotChunk is how much snapshot is written between syncs: one sync of
// a whole large snapshot would hold the log's syncs behind it (the file
// system flushes it first), a commit stall of its own.
const snapshotChunk = 1 << 20

// writeSnapshotFile encodes st into name element by element, syncing
// every snapshotChunk bytes and at the end. The file reads back as the
// JSON of a snapshot.
func writeSnapshotFile(name string, st *snapshot) (err error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, apps.FileMode)
	if err != nil {
		return fmt.Errorf("ocs: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("ocs: write %s: %w", name, cerr)
		}
	}()
	var b bytes.Buffer
	b.Grow(snapshotChunk + 64<<10)
	enc := json.NewEncoder(&b) // no garbage per element, unlike json.Marshal
	flush := func(force bool) error {
		if b.Len() < snapshotChunk && !force {
			return nil
		}
		if _, err := f.Write(b.Bytes()); err != nil {
			return fmt.Errorf("ocs: write %s: %w", name, err)
		}
		b.Reset()
		if err := f.Sync(); err != nil {
			return fmt.Errorf("ocs: write %s: %w", name, err)
		}
		return nil
	}
	list := func(key string, n int, elem func(i int) any) error {
		fmt.Fprintf(&b, ",%q:[", key)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := enc.Encode(elem(i)); err != nil {
				return fmt.Errorf("ocs: encode snapshot: %w", err)
			}
			if err := flush(false); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	fmt.Fprintf(&b, `{"seq":%d`, st.Seq)
	if err := list("accounts", len(st.Accounts), func(i int) any { return &st.Accounts[i] }); err != nil {
		return err
	}
	if err := list("sessions", len(st.Sessions), func(i int) any { return &st.Sessions[i] }); err != nil {
		return err
	}
	if err := list("done", len(st.Done), func(i int) any { return &st.Done[i] }); err != nil {
		return err
	}
	b.WriteByte('}')
	return flush(true)
}

// rotate starts a new segment and writes st as the snapshot, in line: at
// open and at close, when no record is being written.
func (w *wal) rotate(st *snapshot) error {
	if err := w.nextSegment(); err != nil {
		return err
	}
	w.sinceSnp, w.lastSnp = 0, time.Now()
	return w.writeSnapshot(st, w.segment)
}

// close flushes what is queued, waits for a snapshot being written,
// writes a last snapshot and closes the log.
func (w *wal) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	<-w.done
	w.snapping.Wait()
	w.mu.Lock()
	seq, failed := w.seq, w.err
	w.mu.Unlock()
	var err error
	if failed == nil {
		err = w.rotate(w.snap(seq))
	}
	return errors.Join(err, w.f.Close())
}

func writeSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, apps.FileMode)
	if err != nil {
		return fmt.Errorf("ocs: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ocs: write %s: %w", name, err)
	}
	return nil
}

// truncateSync cuts the file name to n bytes, durably.
func truncateSync(name string, n int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("ocs: %w", err)
	}
	err = f.Truncate(n)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ocs: cut torn tail of %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ocs: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ocs: sync %s: %w", dir, err)
	}
	return nil
}
