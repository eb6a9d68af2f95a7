package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/wire"
)

const policyTestConfig = `identity: {origin_host: dra.dra.test, origin_realm: dra.test}
listen: [{address: "127.0.0.1:3868"}]
policy:
  avp_rules:
    - name: mask-imsi
      when: {egress_peers: ["*.partner.test"], avp: {path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]"}}
      actions:
        - {action: replace, path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data", value: "001010000000000"}
        - {action: remove, path: "Multiple-Services-Credit-Control[Rating-Group=200]/Used-Service-Unit/CC-Total-Octets"}
        - {action: add, path: "Multiple-Services-Credit-Control/Service-Identifier", value: 7}
    - name: answers
      direction: answer
      when: {ingress_peers: ["*.client.test"]}
      actions: [{action: remove, code: 281}]
    - name: gx-only
      when: {applications: [16777238]}
      actions: [{action: remove, code: 1}]
`

const policyTestCCR = `command: CCR
application: 4
avps:
  - {name: Session-Id, value: "mme.client.test;1;2"}
  - {name: Origin-Host, value: mme.client.test}
  - {name: Origin-Realm, value: client.test}
  - {name: Destination-Realm, value: partner.test}
  - {name: Auth-Application-Id, value: 4}
  - {name: CC-Request-Type, value: UPDATE_REQUEST}
  - {name: CC-Request-Number, value: 1}
  - name: Subscription-Id
    avps:
      - {name: Subscription-Id-Type, value: END_USER_IMSI}
      - {name: Subscription-Id-Data, value: "001010123456789"}
  - name: Multiple-Services-Credit-Control
    avps:
      - {name: Rating-Group, value: 200}
      - name: Used-Service-Unit
        avps:
          - {name: CC-Time, value: 60}
          - {name: CC-Total-Octets, value: 123456}
  - {code: 3999, vendor: 99999, type: hex, value: "cafe"}
`

// policyTestCCA is an answer as JSON.
const policyTestCCA = `{"command": "CCA", "application": 4, "avps": [
  {"name": "Session-Id", "value": "mme.client.test;1;2"},
  {"name": "Result-Code", "value": 2001},
  {"name": "Origin-Host", "value": "ocs.partner.test"},
  {"name": "Origin-Realm", "value": "partner.test"},
  {"name": "Error-Message", "value": "internal detail"}]}`

// ccrHex is the hex of the CCR the YAML description gives, as a capture
// shows it.
func ccrHex(t *testing.T) string {
	t.Helper()
	spec, err := configs.ParseMessageSpec([]byte(policyTestCCR))
	if err != nil {
		t.Fatal(err)
	}
	m, err := encodeSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(m)
}

// tsharkDump prints b as tshark -x does.
func tsharkDump(b []byte) string {
	var s strings.Builder
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		fmt.Fprintf(&s, "%04x  % x%s   %s\n", off, line, strings.Repeat("   ", 16-len(line)), bytes.Map(func(r rune) rune {
			if r < ' ' || r > '~' {
				return '.'
			}
			return r
		}, line))
	}
	return s.String()
}

func TestPolicyTestCommand(t *testing.T) {
	h := ccrHex(t)
	raw, _ := hex.DecodeString(h)
	tests := []struct {
		name     string
		config   string
		message  string // file content
		args     []string
		code     int
		stdout   []string // in order
		absent   []string
		stderr   string
		checkHex bool // the printed result must be a well-formed message
	}{
		{
			name: "YAML request toward a partner", config: policyTestConfig, message: policyTestCCR,
			args: []string{"-ingress", "mme.client.test", "-egress", "ocs.partner.test"},
			stdout: []string{
				"valid, 3 AVP rules",
				"Credit-Control-Request (272), Application-Id 4, flags RP",
				"MATCH     mask-imsi",
				"replace Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data = 001010000000000: 1 AVP",
				"remove Multiple-Services-Credit-Control[Rating-Group=200]/Used-Service-Unit/CC-Total-Octets: 1 AVP",
				"add Multiple-Services-Credit-Control/Service-Identifier = 7: 1 AVP",
				"no match  answers: direction: the rule applies to answers only",
				"no match  gx-only: Application-Id 4 is not one of [16777238]",
				"resulting message (",
				"CC-Request-Type (416) M: 2 UPDATE_REQUEST",
				"  Subscription-Id (443) M:\n    Subscription-Id-Type (450) M: 1 END_USER_IMSI\n    Subscription-Id-Data (444) M: \"001010000000000\"",
				"  Multiple-Services-Credit-Control (456) M:\n    Rating-Group (432) M: 200\n    Used-Service-Unit (446) M:\n      CC-Time (420) M: 60\n    Service-Identifier (439) M: 7",
				"AVP 3999 vendor 99999 VM: 0xcafe",
			},
			absent:   []string{"CC-Total-Octets", "001010123456789"},
			checkHex: true,
		},
		{
			name: "toward an internal peer nothing matches", config: policyTestConfig, message: policyTestCCR,
			args: []string{"-egress", "ocs1.a.test"},
			stdout: []string{
				`no match  mask-imsi: egress peer "ocs1.a.test" matches none of [*.partner.test]`,
				"resulting message (unchanged)",
				"CC-Total-Octets (421) M: 123456",
			},
		},
		{
			name: "hex dump as tshark prints it", config: policyTestConfig, message: tsharkDump(raw),
			args:   []string{"-egress", "ocs.partner.test"},
			stdout: []string{"MATCH     mask-imsi", `Subscription-Id-Data (444) M: "001010000000000"`},
		},
		{
			name: "hex on the command line", config: policyTestConfig,
			args:   []string{"-egress", "ocs.partner.test", "-hex", h},
			stdout: []string{"MATCH     mask-imsi", "Service-Identifier (439) M: 7"},
		},
		{
			name: "JSON answer back to a client", config: policyTestConfig, message: policyTestCCA,
			args: []string{"-ingress", "mme.client.test", "-egress", "ocs.partner.test", "-dest-realm", "partner.test"},
			stdout: []string{
				"Credit-Control-Answer (272), Application-Id 4, flags P",
				"answer sent back to ingress peer mme.client.test",
				"no match  mask-imsi: direction: the rule applies to requests only",
				"MATCH     answers",
				"remove 281: 1 AVP",
				"Result-Code (268) M: 2001",
			},
			absent: []string{"internal detail"},
		},
		{
			name: "answer to another client", config: policyTestConfig, message: policyTestCCA,
			args:   []string{"-ingress", "pgw.other.test"},
			stdout: []string{`no match  answers: ingress peer "pgw.other.test" matches none of [*.client.test]`, `Error-Message (281) M: "internal detail"`},
		},
		{
			name: "condition AVP value not in the message", config: policyTestConfig,
			message: strings.Replace(policyTestCCR, "value: END_USER_IMSI", "value: END_USER_E164", 1),
			args:    []string{"-egress", "ocs.partner.test"},
			stdout:  []string{"no match  mask-imsi: Subscription-Id[Subscription-Id-Type=END_USER_IMSI] is not in the message", "resulting message (unchanged)"},
		},
		{
			name: "invalid configuration", code: 1, message: policyTestCCR,
			config: strings.Replace(policyTestConfig, "Rating-Group=200", "Rating-Grup=200", 1),
			stderr: `policy.avp_rules[0].actions[1].path: "Multiple-Services-Credit-Control[Rating-Grup=200]/Used-Service-Unit/CC-Total-Octets": filter: "Rating-Grup" is not an AVP name`,
		},
		{
			name: "unknown AVP name in the message", code: 1, config: policyTestConfig,
			message: "command: CCR\navps: [{name: Subscription-Identity, value: x}]\n",
			stderr:  `message: avps[0].name: "Subscription-Identity" is not an AVP of the dictionary`,
		},
		{
			name: "bad value in a nested AVP", code: 1, config: policyTestConfig,
			message: "command: CCR\navps: [{name: Subscription-Id, avps: [{name: Subscription-Id-Type, value: END_USER_NOBODY}]}]\n",
			stderr:  `message: avps[0].avps[0].value: "END_USER_NOBODY" is not an integer32`,
		},
		{
			name: "truncated hex", code: 1, config: policyTestConfig,
			args:   []string{"-hex", h[:200]},
			stderr: fmt.Sprintf("message: the header gives %d bytes, the hex holds 100", len(raw)),
		},
		{
			name: "hex with a broken AVP length", code: 1, config: policyTestConfig,
			args:   []string{"-hex", h[:50] + "ff" + h[52:]}, // first AVP's length
			stderr: "message: AVP at byte 20: ",
		},
		{
			name: "no message", code: 2, config: policyTestConfig,
			stderr: "give the message with one of -message FILE, -hex HEX and -pcap FILE -frame N",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "dra.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-config", cfg}, tc.args...)
			if tc.message != "" {
				msg := filepath.Join(dir, "message")
				if err := os.WriteFile(msg, []byte(tc.message), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-message", msg)
			}
			var stdout, stderr bytes.Buffer
			code := policyTest(args, &stdout, &stderr)
			out := stdout.String()
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, stderr.String())
			}
			rest := out
			for _, s := range tc.stdout {
				i := strings.Index(rest, s)
				if i < 0 {
					t.Fatalf("stdout lacks (or misorders) %q:\n%s", s, out)
				}
				rest = rest[i+len(s):]
			}
			for _, s := range tc.absent {
				if i := strings.Index(out, "resulting message"); i >= 0 && strings.Contains(out[i:], s) {
					t.Errorf("resulting message still shows %q:\n%s", s, out[i:])
				}
			}
			if !strings.Contains(stderr.String(), tc.stderr) || (tc.stderr == "") != (stderr.Len() == 0) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
			if tc.checkHex {
				_, hx, _ := strings.Cut(out, "\nhex: ")
				b, err := hex.DecodeString(strings.TrimSpace(hx))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := frame(b); err != nil || len(b) == len(raw) {
					t.Errorf("result %d bytes (input %d): %v", len(b), len(raw), err)
				}
			}
		})
	}
}

// TestPolicyTestDispatch runs the command through the daemon's argument
// dispatch.
func TestPolicyTestDispatch(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dra.yaml")
	if err := os.WriteFile(cfg, []byte(policyTestConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var code int
	out := captureStdout(t, func() {
		code = run([]string{"policy", "test", "-config", cfg, "-egress", "ocs.partner.test", "-hex", ccrHex(t)})
	})
	if code != 0 || !strings.Contains(out, "MATCH     mask-imsi") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if code := run([]string{"policy", "nothing"}); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}

// FuzzPolicyMessage feeds arbitrary input to the message readers: hex
// (every format) and the YAML description. Neither may panic; a message
// either reader accepts is well formed.
func FuzzPolicyMessage(f *testing.F) {
	f.Add([]byte(policyTestCCR))
	f.Add([]byte(policyTestCCA))
	f.Add([]byte("0000  01 00 00 14 80 00 01 01 00 00 00 00 00 00 00 01   ................\n0010  00 00 00 01   ....\n"))
	f.Add([]byte("00000000: 0100 0014 8000 0101 0000 0000 0000 0001  ................\n00000010: 0000 0001                                ....\n"))
	f.Add([]byte("01:00:00:14:80:00:01:01:00:00:00:00:00:00:00:01:00:00:00:01"))
	f.Add([]byte("command: 272\nflags: [request]\navps: [{code: 443, avps: [{code: 450, value: 1}]}]\n"))
	f.Add([]byte("Frame (74 bytes):\n0000  00 00 00 00 00 00 00 00 00 00 00 00 08 00 45 00   ..............E.\nReassembled TCP (20 bytes):\n0000  01 00 00 14 80 00 01 01 00 00 00 00 00 00 00 01   ................\n0010  00 00 00 01   ....\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ms []wire.Msg
		if _, ok := hexBytes(string(b)); ok || titled.Match(b) {
			f, err := messagesFromHex(string(b))
			if err != nil {
				return
			}
			ms = f.msgs
		} else if spec, err := configs.ParseMessageSpec(b); err == nil {
			m, err := encodeSpec(spec)
			if err != nil {
				return
			}
			ms = []wire.Msg{m}
		} else {
			return
		}
		for _, m := range ms {
			if len(m) < wire.HeaderLen || m.Len() != len(m) {
				t.Fatalf("accepted a message of %d bytes with header length %d", len(m), m.Len())
			}
			if _, err := m.Validate(); err != nil {
				t.Fatalf("accepted a malformed message: %v", err)
			}
			var out bytes.Buffer
			writeAVPs(&out, m.Body(), m.AppID(), 1)
		}
	})
}
