package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/policy"
	"github.com/dra-project/dra/wire"
)

const policyUsage = `usage: dra policy test -config FILE (-message FILE | -hex HEX | -pcap FILE -frame N) [-ingress PEER] [-egress PEER] [-dest-realm REALM]

Tries the configuration's AVP rules on one message, as the agent applies
them to a request it sends to the egress peer or an answer it sends back to
the ingress peer (the message's R bit tells which), and prints which rules
matched, why the others did not, what each action did and the resulting
message AVP by AVP. The message is a YAML or JSON description (command,
application, flags, avps by name or code, Grouped AVPs nested), the hex
of a whole Diameter message (a stream, spaced or colon-separated bytes, or
hex-dump lines with offsets), a captured frame as tshark -x prints it (its
Ethernet, Linux cooked, loopback or raw IP, IPv4 or IPv6, and TCP or SCTP
headers are skipped), or frame N of a pcap or pcapng file (TCP segments
reassembled; N counts from 1, as tshark numbers frames). A frame that
carries several messages gives one report each. Exit status 1 when the
configuration is invalid or no message can be read.

`

// policyCmd runs the policy subcommands: dra policy test.
func policyCmd(args []string) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprint(os.Stderr, policyUsage)
		return 2
	}
	return policyTest(args[1:], os.Stdout, os.Stderr)
}

// policyTest is dra policy test: it writes the report to stdout and
// errors to stderr, and returns the exit status.
func policyTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dra policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), policyUsage)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", os.Getenv("DRA_CONFIG"), "configuration `file` whose policy is tried (env DRA_CONFIG)")
	msgPath := fs.String("message", "", "message `file`: a YAML or JSON description, or hex; - reads standard input")
	hexArg := fs.String("hex", "", "the message as `hex` on the command line")
	pcapPath := fs.String("pcap", "", "pcap or pcapng capture `file` holding the message (with -frame)")
	frameNum := fs.Int("frame", 0, "`number` of the frame of the -pcap file, 1 the first (as tshark numbers them)")
	ingress := fs.String("ingress", "", "identity of the `peer` the request came from (the answer goes back to)")
	egress := fs.String("egress", "", "identity of the `peer` the request is sent to (the answer came from)")
	destRealm := fs.String("dest-realm", "", "the request's Destination-`Realm` (for an answer; a request's default is its own)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	given := 0
	for _, v := range []string{*msgPath, *hexArg, *pcapPath} {
		if v != "" {
			given++
		}
	}
	if fs.NArg() > 0 || given != 1 {
		fmt.Fprintln(stderr, "dra policy test: give the message with one of -message FILE, -hex HEX and -pcap FILE -frame N")
		return 2
	}
	if (*pcapPath != "") != (*frameNum != 0) || *frameNum < 0 {
		fmt.Fprintln(stderr, "dra policy test: -pcap FILE goes with -frame N (N from 1, as tshark numbers frames)")
		return 2
	}
	cfg, err := configs.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "dra policy test: %v\n", err)
		return 1
	}
	id := policy.Identity{OriginHost: cfg.Identity.OriginHost, OriginRealm: cfg.Identity.OriginRealm}
	p, err := policy.Build(cfg.Policy, id, policy.NewState(nil))
	if err != nil {
		fmt.Fprintf(stderr, "dra policy test: %v\n", err)
		return 1
	}
	var f *found
	switch {
	case *hexArg != "":
		f, err = messagesFromHex(*hexArg)
	case *pcapPath != "":
		f, err = capturedMessages(*pcapPath, *frameNum)
	default:
		f, err = readMessage(*msgPath)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dra policy test: message: %v\n", err)
		return 1
	}
	for i, msg := range f.msgs {
		if len(f.msgs) > 1 {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "=== message %d of %d\n", i+1, len(f.msgs))
		}
		if f.from != "" {
			fmt.Fprintf(stdout, "found in: %s\n", f.from)
		}
		out, res := p.TryAVPRules(msg, policy.Trial{Ingress: *ingress, Egress: *egress, DestRealm: *destRealm})
		writeTrial(stdout, orDefault(*cfgPath), len(cfg.Policy.AVPRules), msg, out, res, *ingress, *egress, *destRealm)
	}
	return 0
}

// readMessage reads a message file (or standard input for "-"): hex (a
// message, or a captured frame as tshark -x prints it) when it holds only
// hex bytes, a YAML or JSON description otherwise.
func readMessage(path string) (*found, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, ok := hexBytes(string(b)); ok || titled.Match(b) {
		return messagesFromHex(string(b))
	}
	spec, err := configs.ParseMessageSpec(b)
	if err != nil {
		return nil, err
	}
	m, err := encodeSpec(spec)
	if err != nil {
		return nil, err
	}
	return &found{msgs: []wire.Msg{m}}, nil
}

// hexBytes decodes hex as logs and capture tools print it: one stream
// (optionally 0x-prefixed, across lines), bytes separated by spaces or
// colons, or hex-dump lines (tshark -x, hexdump -C, xxd: an offset, at
// most 16 bytes, then characters, which are dropped). ok is false for
// anything else.
func hexBytes(s string) (out []byte, ok bool) {
	var digits strings.Builder
	dump := false
	for _, line := range strings.Split(s, "\n") {
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ':' || r == '\r' })
		if len(fields) == 0 {
			continue
		}
		t := strings.TrimSpace(line)
		if off := fields[0]; len(fields) > 1 && len(off) >= 4 && isHex(off) && (strings.HasPrefix(t, off+"  ") || strings.HasPrefix(t, off+":")) {
			// A hex-dump line: its bytes follow the offset, up to 16 of
			// them, before the characters column.
			dump = true
			n := 0
			if i := strings.IndexByte(line, '|'); i >= 0 {
				line = line[:i]
			}
			for _, f := range strings.Fields(strings.ReplaceAll(line, ":", " "))[1:] {
				if !isHex(f) || len(f)%2 != 0 || n+len(f)/2 > 16 {
					break
				}
				digits.WriteString(f)
				n += len(f) / 2
			}
			continue
		}
		if dump && len(fields) == 1 && isHex(fields[0]) {
			continue // hexdump ends with a line holding the length
		}
		for _, f := range fields {
			f = strings.TrimPrefix(strings.TrimPrefix(f, "0x"), "0X")
			if !isHex(f) {
				return nil, false
			}
			digits.WriteString(f)
		}
	}
	if digits.Len() == 0 || digits.Len()%2 != 0 {
		return nil, false
	}
	out, err := hex.DecodeString(digits.String())
	return out, err == nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// frame checks raw as one whole Diameter message: the agent's frame
// checks, then every AVP's length.
func frame(raw []byte) (wire.Msg, error) {
	n, err := wire.CheckHeader(raw, wire.MaxLen)
	if err != nil {
		return nil, fmt.Errorf("%d bytes: %w", len(raw), err)
	}
	if n != len(raw) {
		return nil, fmt.Errorf("the header gives %d bytes, the hex holds %d: give one whole Diameter message", n, len(raw))
	}
	m := wire.Msg(raw)
	if off, err := m.Validate(); err != nil {
		return nil, fmt.Errorf("AVP at byte %d: %w", wire.HeaderLen+off, err)
	}
	return m, nil
}

// encodeSpec builds the message a description gives.
func encodeSpec(s *configs.MessageSpec) (wire.Msg, error) {
	code, answer, err := commandCode(s.Command)
	if err != nil {
		return nil, err
	}
	flags := wire.FlagRequest | wire.FlagProxiable
	if answer {
		flags = wire.FlagProxiable
	}
	if s.Flags != nil {
		flags = 0
		for _, f := range s.Flags {
			switch strings.ToLower(strings.TrimSpace(f)) {
			case "request", "r":
				flags |= wire.FlagRequest
			case "proxiable", "p":
				flags |= wire.FlagProxiable
			case "error", "e":
				flags |= wire.FlagError
			case "retransmit", "t":
				flags |= wire.FlagRetransmit
			default:
				return nil, fmt.Errorf("flags: %q is not one of request, proxiable, error, retransmit", f)
			}
		}
	}
	body, err := encodeAVPs(nil, s.AVPs, "avps")
	if err != nil {
		return nil, err
	}
	if wire.HeaderLen+len(body) > wire.MaxLen {
		return nil, fmt.Errorf("%d bytes: longer than a Diameter message can be", wire.HeaderLen+len(body))
	}
	m := wire.NewMsg(flags, code, s.Application, s.HopByHop, s.EndToEnd)
	m = append(m, body...)
	m.SetLen(len(m))
	return m, nil
}

func encodeAVPs(dst []byte, avps []configs.AVPSpec, field string) ([]byte, error) {
	for i := range avps {
		a := &avps[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		st, err := a.Step()
		if err != nil {
			return nil, fmt.Errorf("%s.%w", f, err)
		}
		var data []byte
		if len(a.AVPs) > 0 {
			if a.Value != "" {
				return nil, fmt.Errorf("%s: a Grouped AVP takes avps or a value, not both", f)
			}
			if data, err = encodeAVPs(nil, a.AVPs, f+".avps"); err != nil {
				return nil, err
			}
		} else if data, err = a.Encode(st); err != nil {
			return nil, fmt.Errorf("%s.value: %w", f, err)
		}
		if len(data) > 0xffffff-12 {
			return nil, fmt.Errorf("%s: %d bytes: too long for an AVP", f, len(data))
		}
		var flags uint8
		if a.Mandatory == nil || *a.Mandatory {
			flags = wire.AVPFlagMandatory
		}
		dst = wire.AppendAVP(dst, st.Code, flags, st.Vendor, data)
	}
	return dst, nil
}

// commandCode resolves a command given by code or by dictionary name:
// the full name (Credit-Control), or the abbreviation with R or A (CCR,
// CCA). answer is true for an abbreviation ending in A.
func commandCode(s string) (code uint32, answer bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false, errors.New("command: must be set (a code or a name such as CCR)")
	}
	if n, err := strconv.ParseUint(s, 10, 24); err == nil {
		return uint32(n), false, nil
	}
	for _, app := range dict.Default.Apps() {
		for _, c := range app.Command {
			switch {
			case strings.EqualFold(s, c.Name):
				return c.Code, false, nil
			case strings.EqualFold(s, c.Short+"R"):
				return c.Code, false, nil
			case strings.EqualFold(s, c.Short+"A"):
				return c.Code, true, nil
			}
		}
	}
	return 0, false, fmt.Errorf("command: %q is neither a code nor a command of the dictionary", s)
}

// writeTrial prints the report of a dry run.
func writeTrial(w io.Writer, cfgName string, nrules int, in, out wire.Msg, res []policy.RuleResult, ingress, egress, destRealm string) {
	fmt.Fprintf(w, "configuration %s: valid, %d AVP rules\n", cfgName, nrules)
	fmt.Fprintf(w, "message: %s\n", header(in))
	dir := "request sent to egress peer " + orNone(egress) + ", from ingress peer " + orNone(ingress)
	if !in.IsRequest() {
		dir = "answer sent back to ingress peer " + orNone(ingress) + ", from egress peer " + orNone(egress)
	}
	if destRealm != "" {
		dir += ", Destination-Realm " + destRealm
	}
	fmt.Fprintf(w, "as: %s\n\nrules:\n", dir)
	if len(res) == 0 {
		fmt.Fprintln(w, "  (none configured)")
	}
	for _, r := range res {
		if !r.Matched {
			fmt.Fprintf(w, "  no match  %s: %s\n", r.Name, r.Why)
			continue
		}
		fmt.Fprintf(w, "  MATCH     %s\n", r.Name)
		for _, a := range r.Actions {
			switch {
			case a.Count == 0:
				fmt.Fprintf(w, "              %s: nothing to act on\n", a.Action)
			case a.Count == 1:
				fmt.Fprintf(w, "              %s: 1 AVP\n", a.Action)
			default:
				fmt.Fprintf(w, "              %s: %d AVPs\n", a.Action, a.Count)
			}
		}
	}
	what := "unchanged"
	if !bytes.Equal(in, out) {
		what = fmt.Sprintf("%d -> %d bytes", len(in), len(out))
	}
	fmt.Fprintf(w, "\nresulting message (%s): %s\n", what, header(out))
	writeAVPs(w, out.Body(), out.AppID(), 1)
	if len(out) < 4096 {
		fmt.Fprintf(w, "\nhex: %x\n", []byte(out))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none given)"
	}
	return s
}

func header(m wire.Msg) string {
	name := "command"
	if c, err := dict.Default.FindCommand(m.AppID(), m.Code()); err == nil {
		name = c.Name
	}
	kind := "Answer"
	if m.IsRequest() {
		kind = "Request"
	}
	var fl []string
	for _, f := range []struct {
		bit  uint8
		name string
	}{{wire.FlagRequest, "R"}, {wire.FlagProxiable, "P"}, {wire.FlagError, "E"}, {wire.FlagRetransmit, "T"}} {
		if m.Flags()&f.bit != 0 {
			fl = append(fl, f.name)
		}
	}
	return fmt.Sprintf("%s-%s (%d), Application-Id %d, flags %s, %d bytes, hop-by-hop 0x%08x, end-to-end 0x%08x",
		name, kind, m.Code(), m.AppID(), strings.Join(fl, ""), m.Len(), m.HopByHop(), m.EndToEnd())
}

// writeAVPs prints the AVPs in b, one a line, named and typed by
// go-diameter's dictionary; Grouped AVPs are descended into, AVPs the
// dictionary does not know print as code, vendor and hex.
func writeAVPs(w io.Writer, b []byte, app uint32, depth int) {
	indent := strings.Repeat("  ", depth)
	it := wire.NewIter(b)
	for it.Next() {
		a := it.AVP()
		flags := ""
		if a.Vendor() {
			flags += "V"
		}
		if a.Mandatory() {
			flags += "M"
		}
		if a.Flags&wire.AVPFlagProtected != 0 {
			flags += "P"
		}
		if flags != "" {
			flags = " " + flags
		}
		d := lookupAVP(app, a.Code, a.VendorID)
		if d == nil {
			fmt.Fprintf(w, "%sAVP %d vendor %d%s: 0x%x\n", indent, a.Code, a.VendorID, flags, a.Data)
			continue
		}
		id := fmt.Sprint(a.Code)
		if a.VendorID != 0 {
			id = fmt.Sprintf("%d@%d", a.Code, a.VendorID)
		}
		if d.Data.TypeName == "Grouped" {
			fmt.Fprintf(w, "%s%s (%s)%s:\n", indent, d.Name, id, flags)
			writeAVPs(w, a.Data, app, depth+1)
			continue
		}
		fmt.Fprintf(w, "%s%s (%s)%s: %s\n", indent, d.Name, id, flags, formatValue(d, a.Data))
	}
	if err := it.Err(); err != nil {
		fmt.Fprintf(w, "%smalformed: %v\n", indent, err)
	}
}

// lookupAVP finds an AVP in the message's application first, then in any
// application of the dictionary; nil when it is unknown.
func lookupAVP(app, code, vendor uint32) *dict.AVP {
	if d, err := dict.Default.FindAVPWithVendor(app, code, vendor); err == nil && d.Code == code && d.VendorID == vendor {
		return d
	}
	for _, ap := range dict.Default.Apps() {
		for _, d := range ap.AVP {
			if d.Code == code && d.VendorID == vendor {
				return d
			}
		}
	}
	return nil
}

// formatValue prints AVP data as its dictionary type says; data of the
// wrong size prints as hex.
func formatValue(d *dict.AVP, b []byte) string {
	switch d.Data.TypeName {
	case "UTF8String", "DiameterIdentity", "DiameterURI", "IPFilterRule", "QoSFilterRule":
		if utf8.Valid(b) {
			return strconv.Quote(string(b))
		}
	case "OctetString":
		if printable(b) {
			return strconv.Quote(string(b))
		}
	case "Unsigned32":
		if len(b) == 4 {
			return strconv.FormatUint(uint64(binary.BigEndian.Uint32(b)), 10)
		}
	case "Integer32":
		if len(b) == 4 {
			return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(b))), 10)
		}
	case "Enumerated":
		if len(b) == 4 {
			n := int32(binary.BigEndian.Uint32(b))
			for _, e := range d.Data.Enum {
				if e.Code == n {
					return fmt.Sprintf("%d %s", n, e.Name)
				}
			}
			return strconv.FormatInt(int64(n), 10)
		}
	case "Unsigned64":
		if len(b) == 8 {
			return strconv.FormatUint(binary.BigEndian.Uint64(b), 10)
		}
	case "Integer64":
		if len(b) == 8 {
			return strconv.FormatInt(int64(binary.BigEndian.Uint64(b)), 10)
		}
	case "Float32":
		if len(b) == 4 {
			return strconv.FormatFloat(float64(math.Float32frombits(binary.BigEndian.Uint32(b))), 'g', -1, 32)
		}
	case "Float64":
		if len(b) == 8 {
			return strconv.FormatFloat(math.Float64frombits(binary.BigEndian.Uint64(b)), 'g', -1, 64)
		}
	case "Time":
		if len(b) == 4 {
			// NTP seconds since 1900 (RFC 6733 §4.3.1).
			t := time.Unix(int64(binary.BigEndian.Uint32(b))-2208988800, 0).UTC()
			return t.Format(time.RFC3339)
		}
	case "Address":
		if len(b) == 6 && b[0] == 0 && b[1] == 1 || len(b) == 18 && b[0] == 0 && b[1] == 2 {
			a, _ := netip.AddrFromSlice(b[2:])
			return a.String()
		}
	case "IPv4", "IPv6":
		if a, ok := netip.AddrFromSlice(b); ok {
			return a.String()
		}
	}
	return fmt.Sprintf("0x%x", b)
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}
