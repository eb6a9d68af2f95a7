package aaa

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dra-project/dra/apps"
)

// walName is the session log in the data directory.
const walName = "sessions.wal"

// maxRecord bounds one log record.
const maxRecord = 1 << 20

var (
	errWALClosed = errors.New("aaa: session log closed")
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
)

// record is one session log entry: a session stored (put) or released
// (del). A release by STR also carries the STA's User-Name and when the
// session ended (ended.go). On disk each is a 4-byte big-endian length, a
// 4-byte CRC-32C of the payload, and the JSON payload.
type record struct {
	Op      string   `json:"op"`
	Session *Session `json:"s,omitempty"`
	ID      string   `json:"id,omitempty"`
	User    string   `json:"user,omitempty"`
	At      int64    `json:"at,omitempty"`
}

const (
	opPut = "put"
	opDel = "del"
)

// commit is one group commit: every record appended while the previous
// batch was written and synced. done is closed once err is final.
type commit struct {
	done chan struct{}
	err  error
}

func newCommit() *commit { return &commit{done: make(chan struct{})} }

// wait blocks until the commit is durable (nil) or failed.
func (c *commit) wait() error {
	<-c.done
	return c.err
}

// wal is the session write-ahead log. Appends are ordered; a writer
// goroutine writes each batch, fsyncs once, and then releases its
// waiters. The log is rewritten as a snapshot of the live sessions on open
// and whenever it holds many more records than live sessions.
type wal struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	buf     []byte
	recs    []record
	cur     *commit
	failed  error // sticky
	closing bool

	wake chan struct{}
	done chan struct{}

	// Owned by the writer goroutine.
	f       *os.File
	live    map[string]*Session
	ended   endedSet
	written int // records in the file
}

// openWAL replays the log in dir, rewrites it as a snapshot and starts the
// writer. It returns the live sessions and those ended by STR.
func openWAL(dir string, log *slog.Logger) (*wal, map[string]*Session, endedSet, error) {
	if err := apps.PrivateDir(dir, log); err != nil {
		return nil, nil, endedSet{}, fmt.Errorf("aaa: %w", err)
	}
	live, ended, err := replay(filepath.Join(dir, walName), log)
	if err != nil {
		return nil, nil, endedSet{}, err
	}
	w := &wal{dir: dir, log: log, cur: newCommit(), wake: make(chan struct{}, 1), done: make(chan struct{}), live: live, ended: ended}
	if err := w.compact(); err != nil {
		return nil, nil, endedSet{}, err
	}
	out := make(map[string]*Session, len(live))
	for k, v := range live {
		out[k] = v
	}
	var outEnded endedSet
	ended.each(func(id string, s endedSession) { outEnded.add(id, s.User, s.At, nil) })
	go w.run()
	return w, out, outEnded, nil
}

// replay reads the log. A torn tail (the last write, never acknowledged:
// a truncated record, a last record that fails its checksum, or zeros a
// crash left after the end) is ignored. A bad record with more log after
// it is corruption in the middle of the log: replay refuses it rather than
// drop the sessions that follow (their addresses would be handed out
// again), and leaves the file for the operator.
func replay(path string, log *slog.Logger) (map[string]*Session, endedSet, error) {
	live := map[string]*Session{}
	var ended endedSet
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return live, ended, nil
	}
	if err != nil {
		return nil, ended, fmt.Errorf("aaa: session log: %w", err)
	}
	r := bytes.NewReader(data)
	n := 0
	for {
		off := len(data) - r.Len()
		rec, err := readRecord(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			if rest := data[off:]; !tornTail(rest) {
				return nil, ended, fmt.Errorf("aaa: session log %s: record %d at offset %d: %w, and %d bytes follow: the log is corrupt in the middle; refusing to start rather than lose the sessions after it (move the file aside to start without them)",
					path, n+1, off, err, len(rest))
			}
			log.Warn("session log: ignoring torn tail", "records", n, "err", err, "bytes", len(data)-off)
			break
		}
		n++
		switch rec.Op {
		case opPut:
			live[rec.Session.ID] = rec.Session
		case opDel:
			delete(live, rec.ID)
			if rec.User != "" {
				ended.add(rec.ID, rec.User, rec.At, nil)
			}
		}
	}
	ended.prune(time.Now().UnixNano()) // those ended longer ago than endedTTL

	return live, ended, nil
}

// tornTail reports whether rest, the log from a record that failed to
// read, can be the remains of one interrupted append: all zeros, a record
// cut short, or exactly one (damaged) record and nothing after it.
func tornTail(rest []byte) bool {
	if !bytes.ContainsFunc(rest, func(r rune) bool { return r != 0 }) {
		return true
	}
	if len(rest) < 8 {
		return true
	}
	n := int(binary.BigEndian.Uint32(rest[:4]))
	if n == 0 || n > maxRecord {
		return false
	}
	return 8+n >= len(rest)
}

// readRecord reads one record; io.EOF only at a clean end.
func readRecord(r io.Reader) (record, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return record{}, errors.New("truncated header")
		}
		return record{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > maxRecord {
		return record{}, fmt.Errorf("bad record length %d", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return record{}, errors.New("truncated record")
	}
	if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
		return record{}, errors.New("bad checksum")
	}
	var rec record
	if err := json.Unmarshal(p, &rec); err != nil {
		return record{}, fmt.Errorf("bad record: %w", err)
	}
	switch {
	case rec.Op == opPut && rec.Session != nil && rec.Session.ID != "":
	case rec.Op == opDel && rec.ID != "":
	default:
		return record{}, fmt.Errorf("bad record op %q", rec.Op)
	}
	return rec, nil
}

// appendRecord encodes rec onto b.
func appendRecord(b []byte, rec record) []byte {
	p, err := json.Marshal(rec)
	if err != nil {
		panic(err) // plain structs always marshal
	}
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(p)))
	binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(p, castagnoli))
	return append(append(b, hdr[:]...), p...)
}

// put logs a stored session.
func (w *wal) put(s *Session) *commit { return w.add(record{Op: opPut, Session: s}) }

// del logs a released session.
func (w *wal) del(id string) *commit { return w.add(record{Op: opDel, ID: id}) }

// end logs a session released by STR, whose STA carried user, at at.
func (w *wal) end(id, user string, at int64) *commit {
	return w.add(record{Op: opDel, ID: id, User: user, At: at})
}

// add queues rec in the next batch and returns that batch's commit. Calls
// are logged in the order they are made.
func (w *wal) add(rec record) *commit {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil || w.closing {
		c := newCommit()
		c.err = w.failed
		if c.err == nil {
			c.err = errWALClosed
		}
		close(c.done)
		return c
	}
	w.buf = appendRecord(w.buf, rec)
	w.recs = append(w.recs, rec)
	c := w.cur
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return c
}

// run is the writer goroutine.
func (w *wal) run() {
	defer close(w.done)
	for {
		_, open := <-w.wake
		w.mu.Lock()
		buf, recs, c := w.buf, w.recs, w.cur
		w.buf, w.recs, w.cur = nil, nil, newCommit()
		w.mu.Unlock()
		if len(recs) > 0 {
			err := w.write(buf, recs)
			if err != nil {
				w.log.Error("session log write failed", "err", err)
				w.mu.Lock()
				w.failed = err
				w.mu.Unlock()
			}
			c.err = err
		}
		close(c.done)
		if !open {
			w.f.Close()
			return
		}
	}
}

// write appends one batch, syncs it, and compacts when the log is mostly
// dead records.
func (w *wal) write(buf []byte, recs []record) error {
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("aaa: session log: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("aaa: session log sync: %w", err)
	}
	for _, r := range recs {
		if r.Op == opPut {
			w.live[r.Session.ID] = r.Session
		} else {
			delete(w.live, r.ID)
			if r.User != "" {
				w.ended.add(r.ID, r.User, r.At, nil)
			}
		}
	}
	w.ended.prune(time.Now().UnixNano())
	w.written += len(recs)
	if w.written > 4*(len(w.live)+len(w.ended.m))+4096 {
		return w.compact()
	}
	return nil
}

// compact rewrites the log as one put per live session: a temporary file
// is written and synced, renamed over the log, and the directory synced.
func (w *wal) compact() error {
	path := filepath.Join(w.dir, walName)
	tmp := path + ".tmp"
	var b []byte
	for _, s := range w.live {
		b = appendRecord(b, record{Op: opPut, Session: s})
	}
	w.ended.prune(time.Now().UnixNano())
	w.ended.each(func(id string, s endedSession) {
		b = appendRecord(b, record{Op: opDel, ID: id, User: s.User, At: s.At})
	})
	if err := writeSynced(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("aaa: session log: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, apps.FileMode)
	if err != nil {
		return fmt.Errorf("aaa: session log: %w", err)
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.written = f, len(w.live)+len(w.ended.m)
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, apps.FileMode)
	if err != nil {
		return fmt.Errorf("aaa: session log: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("aaa: session log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("aaa: session log sync: %w", err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("aaa: data dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("aaa: data dir sync: %w", err)
	}
	return nil
}

// close writes what is queued and stops the writer.
func (w *wal) close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.closing = true
	close(w.wake)
	err := w.failed
	w.mu.Unlock()
	<-w.done
	return err
}
