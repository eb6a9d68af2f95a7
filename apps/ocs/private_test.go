package ocs

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dra-project/dra/internal/testfs"
)

// TestStateFilesArePrivate: the OCS's directory, log segments and
// snapshots are its owner's alone.
func TestStateFilesArePrivate(t *testing.T) {
	cfg := octetsConfig(t, 100_000, 10_000)
	cfg.DataDir = filepath.Join(t.TempDir(), "ocs")
	cfg.SnapshotRecords = 3 // snapshots and new segments too
	st := startStack(t, cfg)
	c := newClient(t, st.addr)
	for i := range 5 {
		c.call(t, ccrMsg(fmt.Sprintf("p;%d", i), requestInitial, 0, subAVP(0, msisdn), msccReqAVP(1, emptyRSU(), 0)))
	}
	st.stop()
	testfs.AssertPrivate(t, cfg.DataDir)
}
