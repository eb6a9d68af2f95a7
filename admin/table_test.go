package admin

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestWriteTables(t *testing.T) {
	s := startServer(t, Config{}, newFake(t))
	c := &Client{Addr: s.Addr()}
	ps, err := c.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ps[1].LastError = "line one\nline\ttwo"
	var b bytes.Buffer
	WriteTable(&b, ps)
	want := `IDENTITY          REALM        ADDRESS        STATE   WATCHDOG  ROLE       TLS  APPS            SINCE                 LAST ERROR
hss1.example.net  example.net  10.0.0.1:3868  I-Open  OKAY      initiator  yes  16777251,relay  2025-03-01T12:30:00Z  -
MME.example.org   example.org  -              Closed  DOWN      -          no   -               -                     line one line two
`
	if b.String() != want {
		t.Errorf("WriteTable:\n%s\nwant\n%s", b.String(), want)
	}

	rs, err := c.Routes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	WriteRoutes(&b, rs)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("WriteRoutes: %d lines:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"NAME", "REALM", "APP", "COMMANDS", "NEXT HOPS", "TIMEOUT", "RETRIES", "STICKY"},
		{"hss", "example.net", "16777251", "316,318", "relay", "hss1.example.net(p1,w10) hss2.example.net(p2,w1)", "1.5s", "2", "yes"},
		{"moved", "redirect", "aaa://new.example.net:3868 usage=2 cache=3600s", "default"},
		{"route2", "host=pcrf.example.org", "local"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d lacks %q: %s", i, w, lines[i])
			}
		}
	}
	// Columns are aligned: the NAME column is padded to one width.
	if strings.Index(lines[1], "example.net") != strings.Index(lines[0], "REALM") {
		t.Errorf("columns not aligned:\n%s", b.String())
	}
	b.Reset()
	WriteTable(&b, nil)
	if !strings.HasPrefix(b.String(), "IDENTITY") || strings.Count(b.String(), "\n") != 1 {
		t.Errorf("empty table: %q", b.String())
	}
}
