package configs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchReplacements: the watch survives the ways tools replace a file,
// and ignores writes that leave the content as it was.
func TestWatchReplacements(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dra.yaml")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(path, "v: 0\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := make(chan struct{}, 10)
	if err := WatchContext(ctx, path, 30*time.Millisecond, func() { calls <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func()
		want   bool
	}{
		{"written in place", func() { write(path, "v: 1\n") }, true},
		{"same content", func() { write(path, "v: 1\n") }, false},
		{"renamed over", func() {
			tmp := filepath.Join(dir, ".dra.yaml.tmp")
			write(tmp, "v: 2\n")
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"removed and recreated", func() {
			os.Remove(path)
			time.Sleep(60 * time.Millisecond)
			write(path, "v: 3\n")
		}, true},
		{"written after recreation", func() { write(path, "v: 4\n") }, true},
		{"another file", func() { write(filepath.Join(dir, "other.yaml"), "x: 1\n") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.change()
			select {
			case <-calls:
				if !tc.want {
					t.Fatal("reported a change")
				}
			case <-time.After(400 * time.Millisecond):
				if tc.want {
					t.Fatal("change not reported")
				}
			}
		})
	}
	cancel()
	time.Sleep(50 * time.Millisecond)
	write(path, "v: 5\n")
	select {
	case <-calls:
		t.Error("reported after the context ended")
	case <-time.After(200 * time.Millisecond):
	}
}

// TestWatchWaitsForStableContent: a file written in two steps (truncated,
// then filled, as some editors and tools do) is reported once, with its
// final content, as long as the steps come within the debounce.
func TestWatchWaitsForStableContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dra.yaml")
	if err := os.WriteFile(path, []byte("v: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan string, 10)
	const debounce = 100 * time.Millisecond
	if err := WatchContext(ctx, path, debounce, func() {
		b, _ := os.ReadFile(path)
		seen <- string(b)
	}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Longer than the debounce, shorter than twice it: the first check
	// finds the file empty, the next one finds it changed again.
	time.Sleep(debounce * 3 / 2)
	f.WriteString("v: 1\n")
	f.Close()
	select {
	case got := <-seen:
		if got != "v: 1\n" {
			t.Fatalf("reported %q before the file was stable", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("change not reported")
	}
	select {
	case got := <-seen:
		t.Fatalf("reported twice (second %q)", got)
	case <-time.After(4 * debounce):
	}
}
