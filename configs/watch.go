package configs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls changed after the content of the file at path changes, until
// the process ends. See WatchContext.
func Watch(path string, debounce time.Duration, changed func()) error {
	return WatchContext(context.Background(), path, debounce, changed)
}

// WatchContext calls changed after the content of the file at path changes,
// until ctx ends. It watches the file's directory, so that it keeps
// working when the file is replaced rather than written in place (editors
// that rename a new file over it, configuration management tools, a
// Kubernetes ConfigMap swapping the symbolic link the file resolves
// through) or briefly removed. Changes within debounce of each other make
// one call, and a write that leaves the content as it was makes none. A
// changed file is reported only once it has been stable: two reads
// debounce apart found the same content, so an editor or a tool that
// truncates the file before writing it is not caught half way. It returns
// once watching has started.
func WatchContext(ctx context.Context, path string, debounce time.Duration, changed func()) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("configs: watch %s: %w", path, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("configs: watch %s: %w", path, err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return fmt.Errorf("configs: watch %s: %w", path, err)
	}
	fw := &fileWatch{path: abs, debounce: debounce, changed: changed}
	fw.sum, _ = fileSum(abs)
	go fw.run(ctx, w)
	return nil
}

type fileWatch struct {
	path     string
	debounce time.Duration
	changed  func()

	mu      sync.Mutex
	timer   *time.Timer
	sum     []byte // digest of the content last reported (or at start)
	pending []byte // digest read by the last check, not yet stable
}

func (fw *fileWatch) run(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	defer func() {
		fw.mu.Lock()
		if fw.timer != nil {
			fw.timer.Stop()
		}
		fw.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			// Any event in the directory may be the file's: its own name,
			// a temporary file renamed over it, or the link it resolves
			// through. The content digest decides.
			fw.mu.Lock()
			if fw.timer != nil {
				fw.timer.Stop()
			}
			fw.timer = time.AfterFunc(fw.debounce, fw.check)
			fw.mu.Unlock()
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
		}
	}
}

// check calls changed when the content differs from the last reported
// and is the same as debounce ago; content still moving is read again
// after another debounce.
func (fw *fileWatch) check() {
	sum, err := fileSum(fw.path)
	if err != nil {
		return // removed or being replaced: the next event tells
	}
	fw.mu.Lock()
	if bytes.Equal(sum, fw.sum) {
		fw.pending = nil
		fw.mu.Unlock()
		return
	}
	if !bytes.Equal(sum, fw.pending) {
		fw.pending = sum
		if fw.timer != nil {
			fw.timer.Stop()
		}
		fw.timer = time.AfterFunc(fw.debounce, fw.check)
		fw.mu.Unlock()
		return
	}
	fw.sum, fw.pending = sum, nil
	fw.mu.Unlock()
	fw.changed()
}

func fileSum(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := sha256.Sum256(b)
	return s[:], nil
}
