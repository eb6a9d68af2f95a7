package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/wire"
)

// TestPrintDefaultConfig checks that -print-default-config prints what a
// run without a file uses (the built-in defaults plus lab mode), as one
// file -config loads into the same configuration and whose agent serves
// the lab realm, and that -print-builtin-defaults prints the bare
// defaults, whose agent does not.
func TestPrintDefaultConfig(t *testing.T) {
	t.Chdir(t.TempDir()) // the lab applications keep their state under data/
	print := func(t *testing.T, flag string) string {
		t.Helper()
		var code int
		out := captureStdout(t, func() { code = run([]string{flag}) })
		if code != 0 {
			t.Fatalf("%s: exit %d", flag, code)
		}
		path := filepath.Join(t.TempDir(), "dra.yaml")
		if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	noFile, err := configs.Load("")
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := configs.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		flag string
		same *configs.Config
		code uint32 // answer to an ACR for the agent's realm
	}{
		{"-print-default-config", noFile, wire.ResultSuccess},
		{"-print-builtin-defaults", builtin, wire.ResultRealmNotServed},
	}
	for _, tc := range tests {
		t.Run(tc.flag, func(t *testing.T) {
			path := print(t, tc.flag)
			cfg, err := configs.Load(path)
			if err != nil {
				t.Fatalf("dra -config with the printed file: %v", err)
			}
			if !reflect.DeepEqual(cfg, tc.same) {
				t.Fatalf("the printed file loads into\n%+v\nwant\n%+v", cfg, tc.same)
			}
			// The same agent, on a free port rather than 3868.
			cfg.Listen[0].Address = "127.0.0.1:0"
			a := dratest.StartAgentConfig(t, cfg)
			c := dratest.Client(t, a, "dra.localdomain", "client.lab.test", "lab.test")
			req := dratest.Request(3, 271, "client.lab.test;1;"+strings.TrimPrefix(tc.flag, "-"), "client.lab.test", "lab.test", "localdomain", "")
			req = req.AppendUint32AVP(480, wire.AVPFlagMandatory, 0, 2) // Accounting-Record-Type EVENT_RECORD
			req = req.AppendUint32AVP(485, wire.AVPFlagMandatory, 0, 0) // Accounting-Record-Number
			req = req.AppendUint32AVP(259, wire.AVPFlagMandatory, 0, 3) // Acct-Application-Id
			ans := c.Call(t, "dra.localdomain", req)
			if got := dratest.ResultCode(ans); got != tc.code {
				t.Errorf("ACR for localdomain answered %d, want %d", got, tc.code)
			}
		})
	}
	var code int
	captureStdout(t, func() { code = run([]string{"-print-default-config", "-print-builtin-defaults"}) })
	if code != 2 {
		t.Errorf("both flags: exit %d, want 2", code)
	}
}
