package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/test/fdtest"
)

// tsharkPath returns tshark's path or fails: the capture test is part of
// the suite (test/deps.sh installs tshark), never skipped.
func tsharkPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatalf("tshark is not installed (%v): run test/deps.sh (make test does)", err)
	}
	return p
}

// capture is a running `tshark -i lo -f "tcp port N" -w file`.
type capture struct {
	cmd     *exec.Cmd
	file    string
	stderr  lockedBuffer
	done    chan struct{}
	waitErr error
}

// startCapture captures TCP port port on the loopback interface into a
// file in t.TempDir(), and returns once packets are really being written:
// tshark says "Capturing on" before its filter is attached, so probes to a
// second, closed port (also in the filter) are sent until the file grows.
func startCapture(t *testing.T, tshark string, port int) *capture {
	t.Helper()
	probe := fdtest.FreePort(t, "127.0.0.1")
	c := &capture{file: filepath.Join(t.TempDir(), "diameter.pcapng"), done: make(chan struct{})}
	c.cmd = exec.Command(tshark, "-i", "lo", "-f", fmt.Sprintf("tcp port %d or tcp port %d", port, probe), "-w", c.file)
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting tshark: %v", err)
	}
	go func() { c.waitErr = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.stderr.String(), "Capturing on ") {
		select {
		case <-c.done:
			t.Fatalf("tshark cannot capture on lo (%v):\n%s", c.waitErr, c.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tshark did not start capturing within 10s:\n%s", c.stderr.String())
		}
	}
	size := func() int64 {
		fi, err := os.Stat(c.file)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	time.Sleep(100 * time.Millisecond)
	header := size()
	for size() <= header {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", probe), 100*time.Millisecond); err == nil {
			conn.Close()
		}
		time.Sleep(300 * time.Millisecond)
		if time.Now().After(deadline) {
			t.Fatalf("tshark wrote no probe packet within 10s:\n%s", c.stderr.String())
		}
	}
	return c
}

// sentinel sends a last packet the capture filter matches (a connection
// attempt to port, whose listener is closed by now) and gives the capture
// time to write it out: on lo, libpcap hands packets over in blocks
// retired by a timer (about 250 ms here), and packets of a block not yet
// handed over when tshark stops are lost. It returns the SYN's source
// port, for checking that the capture holds every packet before it.
func (c *capture) sentinel(t *testing.T, port int) int {
	t.Helper()
	d := net.Dialer{Timeout: time.Second}
	local := fdtest.FreePort(t, "127.0.0.1")
	d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: local}
	if conn, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		conn.Close()
	}
	time.Sleep(time.Second)
	return local
}

// stop ends the capture (SIGINT: tshark writes out what it has) and waits.
func (c *capture) stop(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		t.Fatalf("tshark did not stop on SIGINT:\n%s", c.stderr.String())
	}
	if c.waitErr != nil {
		t.Fatalf("tshark: %v\n%s", c.waitErr, c.stderr.String())
	}
}

// tsharkRead decodes the capture file with TCP port port as Diameter and
// returns tshark's standard output.
func tsharkRead(t *testing.T, tshark, file string, port int, args ...string) string {
	t.Helper()
	all := append([]string{"-r", file, "-d", fmt.Sprintf("tcp.port==%d,diameter", port)}, args...)
	cmd := exec.Command(tshark, all...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(all, " "), err, stderr.String())
	}
	return string(out)
}

// diamPDU is one Diameter message as tshark decoded it.
type diamPDU struct {
	frame      string
	fromAgent  bool
	code       int
	request    bool
	originHost string
	result     string // "" in requests
	cause      string // Disconnect-Cause, "" if absent
}

func (m diamPDU) String() string {
	dir := "fd->agent"
	if m.fromAgent {
		dir = "agent->fd"
	}
	kind := "answer"
	if m.request {
		kind = "request"
	}
	return fmt.Sprintf("frame %s %s %d %s Origin-Host=%s Result-Code=%s Disconnect-Cause=%s",
		m.frame, dir, m.code, kind, m.originHost, m.result, m.cause)
}

// decodePDUs runs tshark -T fields over the capture and splits frames that
// carry several Diameter messages. Each base protocol message has one
// Origin-Host; answers have one Result-Code, requests none; only DPR has
// Disconnect-Cause.
func decodePDUs(t *testing.T, tshark, file string, agentPort int) []diamPDU {
	t.Helper()
	out := tsharkRead(t, tshark, file, agentPort, "-Y", "diameter", "-T", "fields",
		"-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=;",
		"-e", "frame.number", "-e", "tcp.srcport",
		"-e", "diameter.cmd.code", "-e", "diameter.flags.request",
		"-e", "diameter.Origin-Host", "-e", "diameter.Result-Code", "-e", "diameter.Disconnect-Cause")
	var pdus []diamPDU
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			t.Fatalf("tshark line %q: %d fields", line, len(f))
		}
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ";")
		}
		codes, flags, hosts, results, causes := split(f[2]), split(f[3]), split(f[4]), split(f[5]), split(f[6])
		if len(flags) != len(codes) || len(hosts) != len(codes) {
			t.Fatalf("tshark line %q: %d commands, %d flags, %d Origin-Host", line, len(codes), len(flags), len(hosts))
		}
		for i := range codes {
			code, err := strconv.Atoi(codes[i])
			if err != nil {
				t.Fatalf("tshark line %q: command code %q", line, codes[i])
			}
			m := diamPDU{frame: f[0], fromAgent: f[1] == strconv.Itoa(agentPort), code: code, originHost: hosts[i]}
			switch flags[i] {
			case "1", "True":
				m.request = true
			case "0", "False":
			default:
				t.Fatalf("tshark line %q: request flag %q", line, flags[i])
			}
			if !m.request {
				if len(results) == 0 {
					t.Fatalf("tshark line %q: answer without Result-Code", line)
				}
				m.result, results = results[0], results[1:]
			}
			if m.code == 282 && m.request && len(causes) > 0 {
				m.cause, causes = causes[0], causes[1:]
			}
			pdus = append(pdus, m)
		}
		if len(results) != 0 || len(causes) != 0 {
			t.Fatalf("tshark line %q: unmatched Result-Code or Disconnect-Cause", line)
		}
	}
	return pdus
}

// An independent decoder, Wireshark's, reads what the agent puts on the
// wire: a capture of freeDiameter connecting, exchanging watchdogs and
// being disconnected decodes without a malformed packet, with the agent's
// CEA, watchdog and DPR where they belong.
func TestCaptureDecodedByTshark(t *testing.T) {
	t.Parallel()
	tshark := tsharkPath(t)
	a := startAgent(t, "timers:\n  watchdog: 6s\n  reconnect: 1s\n  reconnect_max: 2s\n  disconnect: 3s\n")
	port := a.Addrs()[0].(*net.TCPAddr).Port
	start := time.Now()
	c := startCapture(t, tshark, port)
	t.Logf("tshark capturing after %s", time.Since(start).Round(time.Millisecond))

	fd := fdtest.Start(t, fdtest.Config{Identity: "fdc1.fd.test", TwTimer: 6,
		Peers: []fdtest.Peer{{Identity: draHost, Addr: addr(a)}}})
	fd.WaitPeerState(t, draHost, fdtest.StateOpen, 10*time.Second)
	waitPeer(t, a, "fdc1.fd.test", 5*time.Second, isOpen)
	// Within one Tw (6 s +/- 2 s on either side) the agent sends a DWR or
	// answers freeDiameter's.
	fd.WaitLog(t, `RCV from '`+draHost+`': .*0/280 `, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil { // DPR, DPA, then the agent closes
		t.Fatal(err)
	}
	fd.WaitLog(t, `Peer '`+draHost+`' sent a DPR with cause: REBOOTING`, 5*time.Second)
	fd.WaitPeerState(t, draHost, fdtest.StateClosed, 5*time.Second)
	sentinel := c.sentinel(t, port)
	c.stop(t)
	t.Logf("captured for %s", time.Since(start).Round(time.Millisecond))

	if syn := tsharkRead(t, tshark, c.file, port, "-Y", fmt.Sprintf("tcp.srcport==%d && tcp.flags.syn==1", sentinel)); strings.TrimSpace(syn) == "" {
		t.Fatalf("the capture lacks the last packets (sentinel SYN from port %d missing):\n%s",
			sentinel, tsharkRead(t, tshark, c.file, port))
	}
	pdus := decodePDUs(t, tshark, c.file, port)
	var cea, wd, dpr, dpa bool
	for _, m := range pdus {
		t.Log(m)
		if m.fromAgent && m.originHost != draHost {
			t.Errorf("agent message with Origin-Host %q: %v", m.originHost, m)
		}
		switch {
		case m.fromAgent && m.code == 257 && !m.request:
			cea = m.result == "2001"
			if !cea {
				t.Errorf("agent's CEA: %v", m)
			}
		case m.fromAgent && m.code == 280:
			wd = wd || m.request || m.result == "2001"
		case m.fromAgent && m.code == 282 && m.request:
			dpr = m.cause == "0" // REBOOTING
			if !dpr {
				t.Errorf("agent's DPR: %v", m)
			}
		case !m.fromAgent && m.code == 282 && !m.request:
			dpa = m.result == "2001"
		}
	}
	if !cea || !wd || !dpr || !dpa {
		t.Errorf("decoded: agent's CEA %v, agent's DWR or DWA %v, agent's DPR %v, freeDiameter's DPA %v", cea, wd, dpr, dpa)
	}
	if bad := tsharkRead(t, tshark, c.file, port, "-Y", "_ws.malformed"); strings.TrimSpace(bad) != "" {
		t.Errorf("tshark reports malformed packets:\n%s", bad)
	}
	// Expert info: TCP's notes and the sentinel's RST are expected; nothing
	// about Diameter, and no error at all.
	ex := tsharkRead(t, tshark, c.file, port, "-q", "-z", "expert,note")
	if strings.Contains(strings.ToLower(ex), "diameter") || strings.Contains(ex, "Errors (") {
		t.Errorf("tshark expert info:\n%s", ex)
	}
}
