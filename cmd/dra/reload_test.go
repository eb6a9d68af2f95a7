package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dra-project/dra/admin"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// freePort returns a loopback address nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// captureStdout runs f and returns what it printed.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	f()
	os.Stdout = old
	w.Close()
	return <-done
}

// TestSIGHUPAndCheck runs the daemon's main loop on a file, changes the
// file, reloads it with SIGHUP (the file watch reloads it too: the same
// path and counters), refuses a broken file, and checks that dra check
// prints the diff against the running agent.
func TestSIGHUPAndCheck(t *testing.T) {
	s1 := dratest.Start(t, dratest.Options{Host: "s1.a.test", Realm: "a.test", Listen: true})
	s2 := dratest.Start(t, dratest.Options{Host: "s2.b.test", Realm: "b.test", Listen: true})
	listen, adminAddr := freePort(t), freePort(t)
	path := filepath.Join(t.TempDir(), "dra.yaml")
	file := func(peers, routes string) string {
		return fmt.Sprintf(`identity: {origin_host: dra.dra.test, origin_realm: dra.test}
listen: [{address: %q}]
admin: {address: %q, token: tok}
log: {level: warn}
peers:
  - {host: s1.a.test, address: %q, connect: true}
%sroutes:
  - {name: a, realm: a.test, action: relay, peers: [{host: s1.a.test}]}
%s`, listen, adminAddr, s1.Addr(), peers, routes)
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(file("", ""))
	for _, kv := range os.Environ() { // DRA_* would override the file
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "DRA_") {
			t.Setenv(k, "") // restored when the test ends
			os.Unsetenv(k)
		}
	}
	exited := make(chan int, 1)
	go func() { exited <- run([]string{"-config", path}) }()
	t.Cleanup(func() {
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Error("the daemon did not stop on SIGTERM")
		}
	})
	ac := &admin.Client{Addr: adminAddr, Token: "tok"}
	ctx := context.Background()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			select {
			case rc := <-exited:
				t.Fatalf("the daemon exited with %d while waiting for %s", rc, what)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	peerOpen := func(id string) bool {
		p, err := ac.Peer(ctx, id)
		return err == nil && p.Watchdog == "OKAY" && strings.HasSuffix(p.State, "Open")
	}
	waitFor("s1 open", func() bool { return peerOpen("s1.a.test") })

	newPeers := fmt.Sprintf("  - {host: s2.b.test, address: %q, connect: true}\n", s2.Addr())
	newRoutes := "  - {name: b, realm: b.test, action: relay, peers: [{host: s2.b.test}]}\n"
	next := filepath.Join(t.TempDir(), "next.yaml")
	if err := os.WriteFile(next, []byte(file(newPeers, newRoutes)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := captureStdout(t, func() {
		if rc := check([]string{"-config", next, "-admin", adminAddr, "-token", "tok"}); rc != 0 {
			t.Errorf("dra check exited %d", rc)
		}
	})
	for _, want := range []string{"valid (1 listeners, 2 peers, 2 routes)", "peer added      s2.b.test", "route added     b"} {
		if !strings.Contains(out, want) {
			t.Errorf("dra check output lacks %q:\n%s", want, out)
		}
	}

	reloads := func() (ok, failed uint64) {
		st, err := ac.Stats(ctx)
		if err != nil || st.Reloads == nil {
			return 0, 0
		}
		return st.Reloads.OK, st.Reloads.Failed
	}
	write(file(newPeers, newRoutes))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("s2 open after SIGHUP", func() bool { return peerOpen("s2.b.test") })
	// The watch sees the change too: both reloads apply the same file.
	waitFor("two reloads", func() bool { ok, _ := reloads(); return ok == 2 })

	c := dratest.Start(t, dratest.Options{Host: "c.client.test", Realm: "client.test",
		Dial: []peers.PeerConfig{{Identity: "dra.dra.test", Addr: listen, Connect: true}}})
	for _, dest := range []string{"a.test", "b.test"} {
		m := c.Call(t, "dra.dra.test", dratest.Request(4, 272, "c;"+dest, "c.client.test", "client.test", dest, ""))
		if rc := dratest.ResultCode(m); rc != wire.ResultSuccess {
			t.Errorf("%s answered %d", dest, rc)
		}
	}

	// A broken file: refused by SIGHUP (and the watch), the agent serves on.
	write("peers: [\n")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("refused reloads", func() bool { _, failed := reloads(); return failed == 2 })
	m := c.Call(t, "dra.dra.test", dratest.Request(4, 272, "c;after", "c.client.test", "client.test", "b.test", ""))
	if rc := dratest.ResultCode(m); rc != wire.ResultSuccess {
		t.Errorf("after a refused reload: %d", rc)
	}
	if ok, failed := reloads(); ok != 2 || failed != 2 {
		t.Errorf("reloads: %d applied, %d refused; want 2 and 2", ok, failed)
	}

	// An empty file, and one with only comments (an editor that truncates
	// before writing leaves the first): refused too, never taken for the
	// defaults, which have no route.
	for i, content := range []string{"", "# being edited\n\n"} {
		write(content)
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		want := uint64(4 + 2*i)
		waitFor("refused empty file", func() bool { _, failed := reloads(); return failed == want })
		m := c.Call(t, "dra.dra.test", dratest.Request(4, 272, fmt.Sprintf("c;empty%d", i), "c.client.test", "client.test", "a.test", ""))
		if rc := dratest.ResultCode(m); rc != wire.ResultSuccess {
			t.Errorf("after an empty file (%q): %d", content, rc)
		}
		if st, err := ac.Stats(ctx); err != nil || st.Reloads == nil || !strings.Contains(st.Reloads.LastError, "sets nothing") {
			t.Errorf("last reload error: %+v %v", st.Reloads, err)
		}
	}
	if ok, _ := reloads(); ok != 2 {
		t.Errorf("reloads applied: %d, want 2", ok)
	}

	// dra stats: a readable table, or the JSON with -json; reads need the
	// token once one is configured.
	out = captureStdout(t, func() {
		if rc := ctl("stats", []string{"-admin", adminAddr, "-token", "tok"}); rc != 0 {
			t.Errorf("dra stats exited %d", rc)
		}
	})
	for _, re := range []string{`(?m)^REQUESTS$`, `(?m)^  received\s+\d+$`, `(?m)^  answered by servers\s+[1-9]\d*$`,
		`(?m)^SHED WITH 3004 \(OVERLOAD\)$`, `(?m)^  egress_queue\s+0$`, `(?m)^CONNECTIONS CLOSED BEFORE OPEN$`, `(?m)^  cer_timeout\s+0$`,
		`(?m)^RELOADS$`, `(?m)^  applied\s+2$`, `(?m)^  refused\s+6$`, `(?m)^  last refusal\s+.*sets nothing`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("dra stats lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "0x") || strings.Contains(out, "{") {
		t.Errorf("dra stats prints a Go value:\n%s", out)
	}
	out = captureStdout(t, func() {
		if rc := ctl("stats", []string{"-admin", adminAddr, "-token", "tok", "-json"}); rc != 0 {
			t.Errorf("dra stats -json exited %d", rc)
		}
	})
	var sv admin.StatsView
	if err := json.Unmarshal([]byte(out), &sv); err != nil || sv.Reloads == nil || sv.Reloads.OK != 2 {
		t.Errorf("dra stats -json: %v %+v\n%s", err, sv.Reloads, out)
	}
	out = captureStdout(t, func() {
		if rc := ctl("peers", []string{"-admin", adminAddr, "-token", "tok", "-json"}); rc != 0 {
			t.Errorf("dra peers -json exited %d", rc)
		}
	})
	var pv []admin.PeerView
	if err := json.Unmarshal([]byte(out), &pv); err != nil || len(pv) < 2 {
		t.Errorf("dra peers -json: %v %d peers\n%s", err, len(pv), out)
	}
	if rc := ctl("peers", []string{"-admin", adminAddr, "-token", ""}); rc != 1 {
		t.Errorf("dra peers without the token exited %d, want 1", rc)
	}
}
