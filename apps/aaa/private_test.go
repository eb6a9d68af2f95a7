package aaa

import (
	"path/filepath"
	"testing"

	"github.com/dra-project/dra/internal/testfs"
)

// TestStateFilesArePrivate: the session log and its directory are the
// AAA's alone.
func TestStateFilesArePrivate(t *testing.T) {
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(t.TempDir(), "aaa")
	a := startAgent(t, cfg, "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")
	if rc := resultOf(n.call(t, n.aar("p;1", LabUser, 3, pap("demo")))); rc != 2001 {
		t.Fatalf("AAR answered %d", rc)
	}
	a.stop(t)
	testfs.AssertPrivate(t, cfg.DataDir)
}
