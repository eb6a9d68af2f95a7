package apps

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrivateDir(t *testing.T) {
	tests := []struct {
		name     string
		existing os.FileMode // 0: created by PrivateDir
		want     os.FileMode
		warn     bool
	}{
		{"created", 0, DirMode, false},
		{"existing private", 0o700, 0o700, false},
		{"existing open", 0o755, 0o755, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if tt.existing != 0 {
				if err := os.Mkdir(dir, tt.existing); err != nil {
					t.Fatal(err)
				}
				os.Chmod(dir, tt.existing) // whatever the umask
			}
			var logs bytes.Buffer
			if err := PrivateDir(dir, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.want {
				t.Errorf("mode %s, want %s", fi.Mode().Perm(), tt.want)
			}
			if warned := strings.Contains(logs.String(), "level=WARN"); warned != tt.warn {
				t.Errorf("warned %v, want %v: %s", warned, tt.warn, logs.String())
			}
		})
	}
}
