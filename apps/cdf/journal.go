package cdf

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dra-project/dra/apps"
)

// errClosed is the error of appends after Close.
var errClosed = errors.New("cdf: journal closed")

// commit is one group commit: every line appended while the previous
// batch was being written and synced. done is closed once err is final.
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

// journal is the append-only CDR log: a writer goroutine writes batches of
// lines, fsyncs once per batch and rotates files by size and age.
type journal struct {
	dir         string
	rotateBytes int64
	rotateAge   time.Duration
	log         *slog.Logger

	mu      sync.Mutex
	buf     []byte  // lines of the next batch
	cur     *commit // commit of buf
	failed  error   // sticky: the journal cannot be trusted any more
	closing bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	// Owned by the writer goroutine (and open before it starts).
	f      *os.File
	seq    uint64
	size   int64
	opened time.Time
}

// openJournal prepares dir for appending: it trims a torn tail from the
// newest file and opens a new file whose sequence follows every sequence
// used before (files and the sequence file).
func openJournal(dir string, rotateBytes int64, rotateAge time.Duration, log *slog.Logger) (*journal, error) {
	if err := apps.PrivateDir(dir, log); err != nil {
		return nil, fmt.Errorf("cdf: %w", err)
	}
	fs, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	seq, err := readSeq(dir)
	if err != nil {
		return nil, err
	}
	if len(fs) > 0 {
		last := fs[len(fs)-1]
		if err := trimTornTail(last.Path); err != nil {
			return nil, err
		}
		seq = max(seq, last.Seq)
	}
	j := &journal{
		dir: dir, rotateBytes: rotateBytes, rotateAge: rotateAge, log: log,
		cur:  newCommit(),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := j.openFile(seq + 1); err != nil {
		return nil, err
	}
	go j.run()
	return j, nil
}

// openFile creates journal file seq and makes it and the sequence durable.
func (j *journal) openFile(seq uint64) error {
	if err := writeSeq(j.dir, seq); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(j.dir, fileName(seq)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, apps.FileMode)
	if err != nil {
		return fmt.Errorf("cdf: create journal file: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return err
	}
	j.f, j.seq, j.size, j.opened = f, seq, 0, time.Now()
	return nil
}

// append queues one line (without newline) and returns the commit that
// makes it durable.
func (j *journal) append(line []byte) *commit {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.failed; err != nil || j.closing {
		c := newCommit()
		c.err = err
		if c.err == nil {
			c.err = errClosed
		}
		close(c.done)
		return c
	}
	j.buf = append(j.buf, line...)
	j.buf = append(j.buf, '\n')
	c := j.cur
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return c
}

// run is the writer goroutine.
func (j *journal) run() {
	defer close(j.done)
	var tick <-chan time.Time
	if j.rotateAge > 0 {
		t := time.NewTicker(min(j.rotateAge/4+time.Millisecond, time.Second))
		defer t.Stop()
		tick = t.C
	}
	var spare []byte
	for {
		select {
		case <-j.wake:
		case <-tick:
		case <-j.stop:
			j.flush(&spare)
			if j.f != nil {
				j.f.Close()
			}
			return
		}
		j.flush(&spare)
	}
}

// flush writes and syncs the pending batch, rotating first when due.
func (j *journal) flush(spare *[]byte) {
	j.mu.Lock()
	buf, c := j.buf, j.cur
	j.buf, j.cur = (*spare)[:0], newCommit()
	j.mu.Unlock()
	*spare = buf
	if j.size > 0 && ((j.rotateBytes > 0 && j.size+int64(len(buf)) > j.rotateBytes && len(buf) > 0) ||
		(j.rotateAge > 0 && time.Since(j.opened) >= j.rotateAge)) {
		if err := j.rotate(); err != nil {
			j.fail(err)
		}
	}
	if len(buf) == 0 {
		close(c.done)
		return
	}
	c.err = j.write(buf)
	close(c.done)
}

// write appends buf to the current file and syncs it.
func (j *journal) write(buf []byte) error {
	j.mu.Lock()
	err := j.failed
	j.mu.Unlock()
	if err != nil {
		return err
	}
	n, err := j.f.Write(buf)
	if err != nil {
		// Remove the partial batch so that later lines stay parseable.
		if terr := j.f.Truncate(j.size); terr != nil {
			j.fail(fmt.Errorf("cdf: journal write: %w (truncate: %v)", err, terr))
		}
		return fmt.Errorf("cdf: journal write: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		// After a failed fsync the page cache cannot be trusted.
		err = fmt.Errorf("cdf: journal sync: %w", err)
		j.fail(err)
		return err
	}
	j.size += int64(n)
	return nil
}

// rotate closes the current file and opens the next one.
func (j *journal) rotate() error {
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("cdf: close journal file: %w", err)
	}
	j.f = nil
	if err := j.openFile(j.seq + 1); err != nil {
		return err
	}
	j.log.Info("journal rotated", "file", fileName(j.seq))
	return nil
}

func (j *journal) fail(err error) {
	j.mu.Lock()
	if j.failed == nil {
		j.failed = err
	}
	j.mu.Unlock()
	j.log.Error("journal failed; accounting requests are refused", "err", err)
}

// close flushes the pending batch and closes the file.
func (j *journal) close() error {
	j.mu.Lock()
	if j.closing {
		j.mu.Unlock()
		<-j.done
		return nil
	}
	j.closing = true
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return j.failed
	}
	return nil
}
