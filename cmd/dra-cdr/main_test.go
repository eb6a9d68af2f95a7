package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const journal = `{"time":"2026-11-23T10:00:00Z","session_id":"a;1","record_type":2,"record_number":0,"origin_host":"pgw.test","origin_realm":"test","destination_realm":"lab.test","user_name":"alice","acct_application_id":3,"avp_85":60}
{"time":"2026-11-23T10:01:00Z","session_id":"a;1","record_type":4,"record_number":1,"origin_host":"pgw.test","origin_realm":"test","destination_realm":"lab.test","acct_application_id":3}
`

func TestRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cdr-00000001.jsonl"), []byte(journal), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		code  int
		check func(t *testing.T, out string)
	}{
		{"json", []string{"-dir", dir}, 0, func(t *testing.T, out string) {
			if out != journal {
				t.Errorf("output\n%s\nwant\n%s", out, journal)
			}
		}},
		{"csv", []string{"-dir", dir, "-format", "csv"}, 0, func(t *testing.T, out string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 3 || rows[0][1] != "session_id" || rows[1][7] != "alice" || rows[1][10] != `{"avp_85":60}` || rows[2][2] != "4" {
				t.Errorf("rows %q", rows)
			}
		}},
		{"bad format", []string{"-dir", dir, "-format", "xml"}, 2, nil},
		{"missing dir", []string{"-dir", filepath.Join(dir, "none")}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d (%s)", code, tt.code, errb.String())
			}
			if tt.check != nil {
				tt.check(t, out.String())
			}
		})
	}
}
