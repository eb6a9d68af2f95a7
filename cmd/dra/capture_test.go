package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dra-project/dra/wire"
)

// The capture files under testdata were recorded on the loopback
// interface by testdata/record (dumpcap): lo.pcapng with an Ethernet link
// layer, any.pcapng with a Linux cooked v2 one. Each holds CCRs with
// hop-by-hop ids 1 to 7: one in one segment, one split over two segments,
// two in one segment, one over IPv6, and one split over two segments of
// which the second also holds a whole one.

// tsharkPath returns tshark's path or fails: these tests are part of the
// suite (test/deps.sh installs tshark), never skipped.
func tsharkPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatalf("tshark is not installed (%v): run test/deps.sh (make test does)", err)
	}
	return p
}

// tshark runs tshark and returns its standard output.
func tshark(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(tsharkPath(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// diameterFrames asks tshark which frames of file carry Diameter messages
// and their hop-by-hop ids, frame by frame.
func diameterFrames(t *testing.T, file string) map[int][]uint32 {
	t.Helper()
	out := tshark(t, "-r", file, "--enable-heuristic", "diameter_tcp", "-Y", "diameter", "-T", "fields", "-e", "frame.number", "-e", "diameter.hopbyhopid")
	frames := map[int][]uint32{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		num, ids, _ := strings.Cut(line, "\t")
		n, err := strconv.Atoi(num)
		if err != nil {
			t.Fatalf("tshark line %q", line)
		}
		for _, id := range strings.Split(ids, ",") {
			v, err := strconv.ParseUint(strings.TrimPrefix(id, "0x"), 16, 32)
			if err != nil {
				t.Fatalf("tshark line %q", line)
			}
			frames[n] = append(frames[n], uint32(v))
		}
	}
	return frames
}

// splitDumps splits tshark -x output of several frames (in frame order,
// a blank line after each) by frame number.
func splitDumps(t *testing.T, frames map[int][]uint32, out string) map[int]string {
	t.Helper()
	var nums []int
	for n := range frames {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	parts := strings.Split(strings.TrimSpace(out), "\n\n")
	if len(parts) != len(nums) {
		t.Fatalf("tshark -x printed %d dumps for frames %v:\n%s", len(parts), nums, out)
	}
	m := map[int]string{}
	for i, n := range nums {
		m[n] = parts[i] + "\n"
	}
	return m
}

// checkReport checks a policy test report on a CCR of the recorded
// captures: one report per message, in order, with the rule applied.
func checkReport(t *testing.T, out string, ids []uint32) {
	t.Helper()
	rest := out
	for i, id := range ids {
		want := []string{fmt.Sprintf("hop-by-hop 0x%08x", id), "MATCH     mask-imsi", `Subscription-Id-Data (444) M: "001010000000000"`}
		if len(ids) > 1 {
			want = append([]string{fmt.Sprintf("=== message %d of %d", i+1, len(ids))}, want...)
		}
		for _, s := range want {
			j := strings.Index(rest, s)
			if j < 0 {
				t.Fatalf("report lacks (or misorders) %q:\n%s", s, out)
			}
			rest = rest[j+len(s):]
		}
	}
	if n := strings.Count(out, "\nmessage: "); n != len(ids) {
		t.Errorf("%d reports, want %d:\n%s", n, len(ids), out)
	}
}

// TestPolicyTestCapture tries the AVP rules on every Diameter frame tshark
// finds in real captures (pcapng as dumpcap wrote it, pcap as tshark
// converts it; Ethernet and Linux cooked v2 link layers; IPv4 and IPv6),
// given as -pcap FILE -frame N, and as tshark -x prints the frame (with
// and without the reassembled bytes).
func TestPolicyTestCapture(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dra.yaml")
	if err := os.WriteFile(cfg, []byte(policyTestConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, name := range []string{"lo", "any"} {
		ng := filepath.Join("testdata", name+".pcapng")
		pcap := filepath.Join(dir, name+".pcap")
		tshark(t, "-r", ng, "-F", "pcap", "-w", pcap)
		files = append(files, ng, pcap)
	}
	policy := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := policyTest(append([]string{"-config", cfg, "-egress", "ocs.partner.test"}, args...), &stdout, &stderr)
		return stdout.String(), stderr.String(), code
	}
	var frames map[int][]uint32
	for i, file := range files {
		ng := i%2 == 0
		if ng { // the pcap converted from it holds the same frames
			frames = diameterFrames(t, file)
		}
		var all []uint32
		var filter []string
		for n, ids := range frames {
			all = append(all, ids...)
			filter = append(filter, fmt.Sprintf("frame.number==%d", n))
		}
		if len(frames) != 5 || len(all) != 7 {
			t.Fatalf("%s: tshark finds Diameter in frames %v, want 7 messages in 5 frames", file, frames)
		}
		// tshark -x prints each frame, then the reassembled bytes of a
		// message split over segments, a blank line after each frame;
		// without the Diameter dissector, only the frame.
		var dumps, bare map[int]string
		if ng {
			dumps = splitDumps(t, frames, tshark(t, "-r", file, "--enable-heuristic", "diameter_tcp", "-x", "-Y", strings.Join(filter, " || ")))
			bare = splitDumps(t, frames, tshark(t, "-r", file, "-x", "-Y", strings.Join(filter, " || ")))
		}
		for n, ids := range frames {
			t.Run(fmt.Sprintf("%s frame %d", filepath.Base(file), n), func(t *testing.T) {
				out, errs, code := policy(t, "-pcap", file, "-frame", strconv.Itoa(n))
				if code != 0 {
					t.Fatalf("-pcap: exit %d: %s", code, errs)
				}
				checkReport(t, out, ids)
				if !ng {
					return
				}

				msg := filepath.Join(t.TempDir(), "frame.txt")
				if err := os.WriteFile(msg, []byte(dumps[n]), 0o600); err != nil {
					t.Fatal(err)
				}
				out, errs, code = policy(t, "-message", msg)
				if code != 0 {
					t.Fatalf("tshark -x output: exit %d: %s\n%s", code, errs, dumps[n])
				}
				checkReport(t, out, ids)

				out, errs, code = policy(t, "-hex", bare[n])
				if strings.Contains(dumps[n], "Reassembled TCP") {
					// The frame holds the tail of a message: explained
					// when nothing follows it, skipped when a whole
					// message does.
					if len(ids) == 1 {
						if code != 1 || !strings.Contains(errs, "no Diameter message in 92 bytes of TCP payload (the tail of a message") {
							t.Fatalf("tail of a split message: exit %d: %s", code, errs)
						}
						return
					}
					ids = ids[1:]
				}
				if code != 0 {
					t.Fatalf("-hex with tshark -x output: exit %d: %s\n%s", code, errs, bare[n])
				}
				checkReport(t, out, ids)
			})
		}
	}

	// The first frame with data but no whole message carries the first
	// 100 bytes of the CCR split over two segments (tshark shows the
	// message at the second).
	starts := strings.Fields(tshark(t, "-r", files[0], "--enable-heuristic", "diameter_tcp", "-Y", "tcp.len>0 && !diameter", "-T", "fields", "-e", "frame.number"))
	if len(starts) != 2 {
		t.Fatalf("frames with the start of a split message: %q, want 2", starts)
	}
	first := starts[0]
	var second int
	for n, ids := range frames {
		if ids[0] == 2 {
			second = n
		}
	}
	errCases := []struct {
		name string
		args []string
		out  string // stdout, exit 0
		err  string // stderr, exit 1
	}{
		{"pcap frame with the first part", []string{"-pcap", files[0], "-frame", first}, fmt.Sprintf("message 1 reassembled from frames %s to %d", first, second), ""},
		{"tshark -x of the first part", []string{"-hex", tshark(t, "-r", files[0], "-x", "-Y", "frame.number=="+first)}, "",
			"the TCP payload holds the first 100 bytes of a 192-byte Diameter message; the rest is in later segments"},
		{"SYN", []string{"-pcap", files[1], "-frame", "1"}, "", "frame 1: Ethernet, 127.0.0.1:"},
		{"no such frame", []string{"-pcap", files[2], "-frame", "99"}, "", "no frame 99: the capture holds 44"},
		{"not a capture", []string{"-pcap", cfg, "-frame", "1"}, "", "capture: not a pcap or pcapng file"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := policy(t, tc.args...)
			if tc.err == "" {
				if code != 0 || !strings.Contains(out, tc.out) {
					t.Fatalf("exit %d, stdout lacks %q:\n%s%s", code, tc.out, out, errs)
				}
				return
			}
			if code != 1 || !strings.Contains(errs, tc.err) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errs, tc.err)
			}
		})
	}
}

// TestPolicyTestCaptureFlags checks the flags that go together.
func TestPolicyTestCaptureFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-pcap", "x.pcap"},
		{"-frame", "3", "-hex", "01"},
		{"-pcap", "x.pcap", "-frame", "-1"},
		{"-pcap", "x.pcap", "-frame", "1", "-hex", "01"},
	} {
		var stdout, stderr bytes.Buffer
		if code := policyTest(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2: %s", args, code, stderr.String())
		}
	}
}

// FuzzFrameMessages feeds arbitrary bytes to the search for Diameter
// messages in a captured frame: no panic, and every message found is
// whole and well formed.
func FuzzFrameMessages(f *testing.F) {
	for _, name := range []string{"lo.pcapng", "any.pcapng"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[len(b)/2:]) // somewhere in the middle of frames
	}
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00E\x00\x00\x3c"))
	f.Fuzz(func(t *testing.T, b []byte) {
		found, err := messagesInFrame(b)
		if err != nil {
			return
		}
		for _, m := range found.msgs {
			if len(m) < wire.HeaderLen || m.Len() != len(m) {
				t.Fatalf("message of %d bytes, header says %d", len(m), m.Len())
			}
			if _, err := m.Validate(); err != nil {
				t.Fatalf("malformed message: %v", err)
			}
		}
	})
}

// TestMessagesInFrame covers frames the recorded captures do not hold:
// SCTP, the BSD loopback link layer, raw IP, and a link layer not decoded,
// searched for a whole message instead.
func TestMessagesInFrame(t *testing.T) {
	raw, _ := hex.DecodeString(ccrHex(t))
	ipv4 := func(proto byte, payload []byte) []byte {
		h := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2}
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		return append(h, payload...)
	}
	tcp := append([]byte{0x9c, 0x40, 0x0f, 0x1c, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0, 0, 0, 0, 0, 0}, raw...)
	chunk := []byte{0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 46}
	binary.BigEndian.PutUint16(chunk[2:], uint16(16+len(raw)))
	sctp := append(append([]byte{0x9c, 0x40, 0x0f, 0x1c, 0, 0, 0, 0, 0, 0, 0, 0}, chunk...), raw...)
	tests := []struct {
		name  string
		frame []byte
		from  string
		err   string
	}{
		{"SCTP over raw IPv4", ipv4(132, sctp), "raw IP, 127.0.0.1:40000 -> 127.0.0.2:3868 SCTP", ""},
		{"BSD loopback", append([]byte{2, 0, 0, 0}, ipv4(6, tcp)...), "BSD loopback, 127.0.0.1:40000 -> 127.0.0.2:3868 TCP", ""},
		{"undecoded link layer", append(bytes.Repeat([]byte{0xaa}, 30), raw...), "searched in the frame's bytes", ""},
		{"the start of a message", ipv4(6, tcp[:40]), "", fmt.Sprintf("the TCP payload holds the first 20 bytes of a %d-byte Diameter message", len(raw))},
		{"no message", ipv4(6, append(bytes.Clone(tcp[:20]), bytes.Repeat([]byte{0xee}, 20)...)), "", "no Diameter message in 20 bytes of TCP payload"},
		{"nothing decodable", bytes.Repeat([]byte{0xaa}, 60), "", "no Ethernet, Linux cooked, loopback or raw IP frame carrying TCP or SCTP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := messagesInFrame(tc.frame)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.from != tc.from || len(f.msgs) != 1 || !bytes.Equal(f.msgs[0], raw) {
				t.Errorf("from %q, %d messages; want %q and the CCR", f.from, len(f.msgs), tc.from)
			}
		})
	}
}
