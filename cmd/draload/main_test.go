package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/loadgen"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
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

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func startServer(t *testing.T, cfg loadgen.ServerConfig) string {
	t.Helper()
	s, err := loadgen.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return addr.String()
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"client", "-h"}, {"server", "-h"}, {"help", "client"}} {
		code, out, _ := runCmd(t, args...)
		if code != exitOK || !strings.Contains(out, "Usage") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	_, out, _ := runCmd(t, "client", "-h")
	for _, want := range []string{"-inflight", "-rate", "-mix", "-dest-realm", "-tls-ca", "-json", "-allow-unanswered", "closed loop", "open loop", "Exit status"} {
		if !strings.Contains(out, want) {
			t.Errorf("client help lacks %q", want)
		}
	}
	_, out, _ = runCmd(t, "server", "-h")
	for _, want := range []string{"-listen", "-result", "-delay", "-origin-host"} {
		if !strings.Contains(out, want) {
			t.Errorf("server help lacks %q", want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"client", "-nope"},
		{"client", "extra"},
		{"client", "-rate", "10", "-inflight", "10"},
		{"client", "-mix", "xyz"},
		{"client", "-advertise", "relay,foo"},
		{"client", "-tls-cert", "x.pem"},
		{"server", "-result", "0"},
	} {
		if code, _, errs := runCmd(t, args...); code != exitUsage || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

func TestClientJSON(t *testing.T) {
	addr := startServer(t, loadgen.ServerConfig{})
	code, out, errs := runCmd(t, "client", "-addr", addr, "-conns", "2", "-inflight", "20", "-count", "1000",
		"-mix", "ccr", "-json", "-advertise", "mix,relay")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		Sent, Answered, Unanswered uint64
		ResultCodes                map[string]uint64 `json:"result_codes"`
		Mix                        string
		Connections                int
		InFlight                   int                `json:"in_flight"`
		Latency                    map[string]float64 `json:"latency_us"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.Sent != 1000 || r.Answered != 1000 || r.Unanswered != 0 || r.ResultCodes["2001"] != 1000 ||
		r.Mix != "ccr" || r.Connections != 2 || r.InFlight != 20 || r.Latency["p99"] <= 0 {
		t.Errorf("summary %+v", r)
	}
	if !strings.Contains(errs, "ccr mix to "+addr) {
		t.Errorf("stderr %q", errs)
	}
}

func TestClientUnansweredExit(t *testing.T) {
	addr := startServer(t, loadgen.ServerConfig{Delay: time.Hour})
	args := []string{"client", "-addr", addr, "-conns", "1", "-inflight", "5", "-count", "5", "-timeout", "100ms", "-quiet"}
	code, out, errs := runCmd(t, args...)
	if code != exitUnanswered || !strings.Contains(out, "unanswered 5") || !strings.Contains(errs, "5 of 5 requests unanswered") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, _ := runCmd(t, append(args, "-allow-unanswered")...); code != exitOK {
		t.Errorf("with -allow-unanswered: exit %d", code)
	}
}

func TestClientCannotConnect(t *testing.T) {
	addr := startServer(t, loadgen.ServerConfig{})
	// A node that refuses TLS handshakes: the plain server.
	code, _, errs := runCmd(t, "client", "-addr", addr, "-count", "1", "-quiet", "-tls-server-name", "srv.load.test", "-connect-timeout", "1s")
	if code != exitError || !strings.Contains(errs, "TLS") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// The server command serves a client until its context ends, then stops.
func TestServerCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"server", "-listen", "127.0.0.1:0", "-result", "3004", "-origin-host", "s.cmd.test"}, &out, &errb)
	}()
	listening := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if m := listening.FindStringSubmatch(errb.String()); m != nil {
			addr = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", errb.String())
		}
	}
	code, stdout, errs := runCmd(t, "client", "-addr", addr, "-count", "200", "-mix", "aar", "-quiet")
	if code != exitOK || !strings.Contains(stdout, "3004: 200") || !strings.Contains(stdout, "s.cmd.test") {
		t.Errorf("client exit %d\n%s\n%s", code, stdout, errs)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("server exit %d", code)
	}
	if !strings.Contains(errb.String(), "stopped after 200 requests") {
		t.Errorf("server stderr %q", errb.String())
	}
}
