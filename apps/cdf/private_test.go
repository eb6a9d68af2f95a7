package cdf

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dra-project/dra/internal/testfs"
)

// TestStateFilesArePrivate: the journal directory the CDF creates and
// every file in it (CDRs hold user names and IMSIs) are its owner's alone.
func TestStateFilesArePrivate(t *testing.T) {
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(t.TempDir(), "cdf")
	s := startServer(t, cfg)
	for i := range 3 {
		serve(t, s, newACR(fmt.Sprintf("p;%d", i), EventRecord, 0))
	}
	s.Close()
	testfs.AssertPrivate(t, cfg.DataDir)
}
