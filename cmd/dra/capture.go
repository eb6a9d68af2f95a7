package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/dra-project/dra/internal/capture"
	"github.com/dra-project/dra/wire"
)

// found is what a capture or a hex dump held: the Diameter messages and
// where they were found.
type found struct {
	msgs []wire.Msg
	from string // e.g. "frame 4: Ethernet, 127.0.0.1:3868 -> 127.0.0.1:41234 TCP"
}

// plausible reports whether b starts with a Diameter header that is worth
// taking for the start of a message: version 1, a length that is a
// multiple of 4, no reserved flag set, no E bit on a request, and when
// the message is whole, AVPs that fill it exactly; when it is not, a
// first AVP whose header fits. whole is true when b holds all of it.
func plausible(b []byte) (n int, whole, ok bool) {
	n, err := wire.CheckHeader(b, wire.MaxLen)
	if err != nil {
		return 0, false, false
	}
	fl := b[4]
	if fl&wire.FlagReserved != 0 || fl&wire.FlagRequest != 0 && fl&wire.FlagError != 0 {
		return 0, false, false
	}
	if n <= len(b) {
		if _, err := wire.Msg(b[:n]).Validate(); err != nil {
			return 0, false, false
		}
		return n, true, true
	}
	if len(b) >= wire.HeaderLen+8 {
		avp := b[wire.HeaderLen:]
		l := int(avp[5])<<16 | int(avp[6])<<8 | int(avp[7])
		if avp[4]&0x1f != 0 || l < 8 || l > n-wire.HeaderLen {
			return 0, false, false
		}
	}
	return n, false, true
}

// piece is one message located in a byte stream: [start, start+n), of
// which only the bytes before len(stream) may be present.
type piece struct{ start, n int }

// locate walks b for Diameter messages: back to back from the first byte
// when aligned (b starts a message), and otherwise, or after bytes that
// are no message, from the next offset where a plausible header starts.
// The last piece may run past the end of b.
func locate(b []byte, aligned bool) []piece {
	var ps []piece
	for pos := 0; pos+wire.HeaderLen <= len(b); {
		if n, whole, ok := plausible(b[pos:]); ok && (aligned || whole) {
			ps = append(ps, piece{pos, n})
			pos += n
			aligned = true
			continue
		}
		aligned = false
		pos++
	}
	return ps
}

// titled matches tshark's heading of each data source it dumps when a
// frame has more than one ("Frame (158 bytes):", "Reassembled TCP (192
// bytes):").
var titled = regexp.MustCompile(`(?m)^([A-Za-z][^\n]*) \((\d+) bytes\):\s*$`)

// messagesFromHex finds the Diameter messages in hex: one whole message,
// or a captured frame as tshark -x prints it (the link, IP and TCP or
// SCTP headers are decoded, or, failing that, the bytes searched for a
// whole, well-formed message). Of a dump with several data sources the
// reassembled ones are searched first.
func messagesFromHex(s string) (*found, error) {
	if idx := titled.FindAllStringSubmatchIndex(s, -1); len(idx) > 0 {
		var frameHex string
		var f found
		for i, m := range idx {
			end := len(s)
			if i+1 < len(idx) {
				end = idx[i+1][0]
			}
			name, body := s[m[2]:m[3]], s[m[1]:end]
			if name == "Frame" {
				frameHex = body
				continue
			}
			raw, ok := hexBytes(body)
			if !ok {
				return nil, fmt.Errorf("%s: not a hex dump", name)
			}
			if r := whole(raw, true); r != nil {
				f.msgs = append(f.msgs, r.msgs...)
				f.from = fmt.Sprintf("%s (%d bytes)", name, len(raw))
			}
		}
		if len(f.msgs) > 0 {
			// The frame may also hold whole messages after the tail of
			// the reassembled one.
			if raw, ok := hexBytes(frameHex); ok {
				if r, err := messagesInFrame(raw); err == nil {
					f.msgs = append(f.msgs, r.msgs...)
					f.from += " and the frame (" + r.from + ")"
				}
			}
			return &f, nil
		}
		if frameHex == "" {
			return nil, errors.New("no Diameter message in the dump's data sources")
		}
		s = frameHex
	}
	raw, ok := hexBytes(s)
	if !ok {
		return nil, errors.New("not hex: give the bytes of a whole Diameter message (first byte 01) or of a captured frame")
	}
	m, err := frame(raw)
	if err == nil {
		return &found{msgs: []wire.Msg{m}}, nil
	}
	if raw[0] == wire.Version {
		return nil, err // it starts like a message: say what is wrong with it
	}
	f, ferr := messagesInFrame(raw)
	if ferr != nil {
		return nil, fmt.Errorf("%d bytes: no Diameter message (that starts with 01), nor a captured frame holding one: %w", len(raw), ferr)
	}
	return f, nil
}

// whole returns the whole messages locate finds in b, nil when none.
func whole(b []byte, aligned bool) *found {
	var f found
	for _, p := range locate(b, aligned) {
		if p.start+p.n <= len(b) {
			f.msgs = append(f.msgs, wire.Msg(b[p.start:p.start+p.n]))
		}
	}
	if len(f.msgs) == 0 {
		return nil
	}
	return &f
}

// hexLinks are the link layers tried, in order, on a frame whose link
// type a hex dump does not say.
var hexLinks = []capture.LinkType{capture.LinkEthernet, capture.LinkLinuxSLL2, capture.LinkLinuxSLL, capture.LinkNull, capture.LinkLoop, capture.LinkRaw}

// messagesInFrame finds the messages in the bytes of one captured frame of
// unknown link type.
func messagesInFrame(raw []byte) (*found, error) {
	var partial, none error
	for _, l := range hexLinks {
		seg, err := capture.Decode(l, raw)
		if err != nil {
			continue
		}
		from := fmt.Sprintf("%s, %s", l, flow(seg))
		f, err := segmentMessages(seg, !seg.SYN)
		if err == nil {
			f.from = from
			return f, nil
		}
		switch {
		case partial == nil && !errors.Is(err, errNoMessage):
			partial = fmt.Errorf("%s: %w", from, err)
		case none == nil:
			none = fmt.Errorf("%s: %w", from, err)
		}
	}
	if partial != nil {
		return nil, partial
	}
	if f := whole(raw, false); f != nil {
		f.from = "searched in the frame's bytes"
		return f, nil
	}
	if none != nil {
		return nil, fmt.Errorf("%w (the tail of a message that began in an earlier segment? give tshark's \"Reassembled TCP\" bytes or -pcap FILE -frame N)", none)
	}
	return nil, errors.New("no Ethernet, Linux cooked, loopback or raw IP frame carrying TCP or SCTP")
}

var errNoMessage = errors.New("no Diameter message")

// segmentMessages returns the whole messages in one segment's payload;
// for a message cut short it says how much of it the segment holds.
func segmentMessages(seg capture.Segment, aligned bool) (*found, error) {
	if seg.Proto == capture.SCTP {
		var f found
		for _, c := range seg.Chunks {
			if n, whole, ok := plausible(c); ok && whole && n == len(c) {
				f.msgs = append(f.msgs, wire.Msg(c))
			}
		}
		if len(f.msgs) == 0 {
			return nil, fmt.Errorf("%w in %d SCTP DATA chunks", errNoMessage, len(seg.Chunks))
		}
		return &f, nil
	}
	ps := locate(seg.Payload, aligned)
	var f found
	for _, p := range ps {
		if p.start+p.n <= len(seg.Payload) {
			f.msgs = append(f.msgs, wire.Msg(seg.Payload[p.start:p.start+p.n]))
		}
	}
	if len(f.msgs) > 0 {
		return &f, nil
	}
	if len(ps) > 0 {
		p := ps[len(ps)-1]
		return nil, fmt.Errorf("the TCP payload holds the first %d bytes of a %d-byte Diameter message; the rest is in later segments: give tshark's \"Reassembled TCP\" bytes (tshark -x prints them at the frame that completes the message) or the capture file with -pcap FILE -frame N",
			len(seg.Payload)-p.start, p.n)
	}
	return nil, fmt.Errorf("%w in %d bytes of TCP payload", errNoMessage, len(seg.Payload))
}

func flow(s capture.Segment) string {
	proto := "TCP"
	if s.Proto == capture.SCTP {
		proto = "SCTP"
	}
	return fmt.Sprintf("%s -> %s %s", s.Src, s.Dst, proto)
}

// capturedMessages returns the Diameter messages of frame number n of a
// pcap or pcapng file. A TCP message is reassembled from the segments of
// its connection: the messages given are those whose bytes frame n
// carries, wholly or in part (tshark shows a message at the frame that
// completes it).
func capturedMessages(path string, n int) (*found, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	r, err := capture.NewReader(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	flows := map[[2]string][]capture.FrameSegment{}
	var target *capture.FrameSegment
	var link capture.LinkType
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		seg, derr := capture.Decode(p.Link, p.Data)
		if p.Number == n {
			if derr != nil {
				return nil, fmt.Errorf("frame %d (%s, %d bytes): %w", n, p.Link, len(p.Data), derr)
			}
			target, link = &capture.FrameSegment{Frame: n, Segment: seg}, p.Link
		}
		if derr != nil || seg.Proto != capture.TCP {
			continue
		}
		key := [2]string{seg.Src.String(), seg.Dst.String()}
		if target != nil && key != [2]string{target.Src.String(), target.Dst.String()} {
			continue // only the target's connection matters from here on
		}
		flows[key] = append(flows[key], capture.FrameSegment{Frame: p.Number, Segment: seg})
	}
	if target == nil {
		return nil, fmt.Errorf("%s: no frame %d: the capture holds %d", path, n, r.Packets())
	}
	from := fmt.Sprintf("frame %d: %s, %s", n, link, flow(target.Segment))
	if target.Proto == capture.SCTP {
		f, err := segmentMessages(target.Segment, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
		f.from = from
		return f, nil
	}
	if len(target.Payload) == 0 {
		return nil, fmt.Errorf("%s: %w: the segment carries no data", from, errNoMessage)
	}
	run, err := capture.Reassemble(flows[[2]string{target.Src.String(), target.Dst.String()}], n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	span, _ := run.SpanOf(n)
	f := &found{from: from}
	var cut *piece
	for _, p := range locate(run.Data, run.FromStart) {
		if p.start >= span.End || p.start+p.n <= span.Start {
			continue // not carried by frame n
		}
		if p.start+p.n > len(run.Data) {
			cut = &p
			continue
		}
		f.msgs = append(f.msgs, wire.Msg(run.Data[p.start:p.start+p.n]))
		if first, last := run.FrameAt(p.start), run.FrameAt(p.start+p.n-1); first != last {
			f.from += fmt.Sprintf("; message %d reassembled from frames %d to %d", len(f.msgs), first, last)
		}
	}
	if len(f.msgs) > 0 {
		return f, nil
	}
	if cut != nil {
		return nil, fmt.Errorf("%s: a %d-byte Diameter message starts in frame %d, the capture holds only %d bytes of it", from, cut.n, run.FrameAt(cut.start), len(run.Data)-cut.start)
	}
	return nil, fmt.Errorf("%s: %w in its %d bytes of TCP payload", from, errNoMessage, span.End-span.Start)
}
