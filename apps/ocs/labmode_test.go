package ocs

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDefaultConfigGivesNoFreeCredit: with the package defaults an
// unknown subscriber is refused (5030) and no account appears; lab mode
// has to be asked for, and the OCS warns when it is.
func TestDefaultConfigGivesNoFreeCredit(t *testing.T) {
	for _, tt := range []struct {
		name     string
		lab      bool
		want     uint32
		wantWarn bool
	}{
		{"defaults", false, 5030, false},
		{"lab mode", true, 2001, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir = t.TempDir()
			if cfg.LabMode {
				t.Fatal("DefaultConfig has lab mode on")
			}
			cfg.LabMode = tt.lab
			var logs syncBuffer
			st, err := startAgent(cfg, quietLogger(&logs), "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.stop)
			c := newClient(t, st.addr)
			a := c.call(t, ccrMsg("s;free", requestInitial, 0, subAVP(3, "nobody@lab.test"), msccReqAVP(1, emptyRSU(), 0)))
			if got := resultCode(a); got != tt.want {
				t.Fatalf("Result-Code %d, want %d", got, tt.want)
			}
			if _, ok := st.srv.Account(3, "nobody@lab.test"); ok != tt.lab {
				t.Errorf("account created = %v, want %v", ok, tt.lab)
			}
			if warned := strings.Contains(logs.String(), "lab mode"); warned != tt.wantWarn {
				t.Errorf("lab mode warning = %v, want %v; logs:\n%s", warned, tt.wantWarn, logs.String())
			}
		})
	}
}
