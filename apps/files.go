package apps

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// State files hold subscriber data (user names, IMSIs, addresses, CDRs):
// their directories are the agent's own and their files readable by it
// alone.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// PrivateDir creates dir with DirMode when missing. A directory that
// already exists keeps its mode (an operator may have set it on purpose),
// but one that others can read or enter is logged as a warning.
func PrivateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && log != nil {
		log.Warn("data dir is accessible to other users; its files hold subscriber data (chmod 700)",
			"dir", dir, "mode", perm.String())
	}
	return nil
}
