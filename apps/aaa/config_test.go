package aaa

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"users file", func(*Config) {}, ""},
		{"lab without users file", func(c *Config) { c.UsersFile = ""; c.Lab = true }, ""},
		{"defaults need a users file", func(c *Config) { c.UsersFile = "" }, "aaa.users_file"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "aaa.data_dir"},
		{"bad pool", func(c *Config) { c.Pool = "10.0.0.0" }, "aaa.pool"},
		{"ipv6 pool", func(c *Config) { c.Pool = "2001:db8::/64" }, "aaa.pool"},
		{"negative timeout", func(c *Config) { c.SessionTimeout = -time.Second }, "aaa.session_timeout"},
		{"fractional lifetime", func(c *Config) { c.AuthorizationLifetime = 1500 * time.Millisecond }, "aaa.authorization_lifetime"},
		{"huge grace", func(c *Config) { c.AuthGracePeriod = 1 << 62 }, "aaa.auth_grace_period"},
		{"zero expiry interval", func(c *Config) { c.ExpiryInterval = 0 }, "aaa.expiry_interval"},
		{"zero answer timeout", func(c *Config) { c.AnswerTimeout = 0 }, "aaa.answer_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.UsersFile = "users" // Validate does not read it
			tt.mod(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestWALTornTail(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExpiryInterval = time.Hour
	srv, err := New(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := srv.authorize(id, LabUser, "nas", nasRealm); err != nil {
			t.Fatal(err)
		}
	}
	srv.Close()
	// A half-written record after the good ones is ignored.
	f, err := openAppend(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	rec := appendRecord(nil, record{Op: opDel, ID: "a"})
	f.Write(rec[:len(rec)-3])
	f.Close()
	srv, err = New(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if len(srv.Sessions()) != 2 {
		t.Fatalf("%d sessions, want 2", len(srv.Sessions()))
	}
}

// A damaged record followed by more log is corruption, not a torn tail:
// the server refuses to start (dropping the sessions after it would hand
// their addresses out again) and names the offset; zeros a crash left
// after the last record are a torn tail and ignored.
func TestWALCorruptionInTheMiddle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(log []byte) []byte
		refused bool
	}{
		{"zero fill after the end", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, false},
		{"last record damaged", func(b []byte) []byte { b[len(b)-2] ^= 0xff; return b }, false},
		{"first record damaged", func(b []byte) []byte { b[12] ^= 0xff; return b }, true},
		{"garbage length in the middle", func(b []byte) []byte { b[0], b[1] = 0xff, 0xff; return b }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExpiryInterval = time.Hour
			srv, err := New(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, nil, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"a", "b", "c"} {
				if _, err := srv.authorize(id, LabUser, "nas", nasRealm); err != nil {
					t.Fatal(err)
				}
			}
			srv.Close()
			path := filepath.Join(cfg.DataDir, walName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			srv, err = New(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, nil, testLogger(t))
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), "corrupt in the middle") {
					t.Fatalf("started on a corrupt log (err %v)", err)
				}
				if after, _ := os.ReadFile(path); len(after) != len(b) {
					t.Error("the corrupt log was rewritten")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if n := len(srv.Sessions()); n < 2 {
				t.Errorf("%d sessions recovered", n)
			}
		})
	}
}
