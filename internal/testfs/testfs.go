package testfs

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// AssertPrivate fails t unless dir and everything under it is its
// owner's alone: no permission bit for the group or others on any
// directory or file.
func AssertPrivate(t testing.TB, dir string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %s: readable by others", path, perm)
		}
		if !d.IsDir() {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Errorf("%s holds no file: nothing checked", dir)
	}
}
