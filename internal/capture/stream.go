package capture

import (
	"fmt"
	"sort"
)

// FrameSegment is a decoded frame's segment with its frame number.
type FrameSegment struct {
	Frame int
	Segment
}

// Span is where one frame's payload lies in a reassembled stream.
type Span struct {
	Frame      int
	Start, End int
}

// Run is a stretch of one TCP direction's bytes without a gap.
type Run struct {
	Data []byte
	// Spans lists the frames whose payload the run holds, in stream
	// order; a retransmission adds no span.
	Spans []Span
	// FromStart is true when the run begins right after the SYN, so its
	// first byte starts the application's first message.
	FromStart bool
}

// SpanOf returns the span of the given frame in the run.
func (r *Run) SpanOf(frame int) (Span, bool) {
	for _, s := range r.Spans {
		if s.Frame == frame {
			return s, true
		}
	}
	return Span{}, false
}

// FrameAt returns the frame that carried the stream byte at offset i.
func (r *Run) FrameAt(i int) int {
	for _, s := range r.Spans {
		if i >= s.Start && i < s.End {
			return s.Frame
		}
	}
	return 0
}

// Reassemble puts the TCP segments of one direction of a connection (same
// source and destination, in capture order) back in sequence order and
// returns the gap-free run that holds the payload of frame target.
// Overlapping bytes (retransmissions) are taken from the first segment
// that carried them.
func Reassemble(segs []FrameSegment, target int) (*Run, error) {
	if len(segs) == 0 {
		return nil, fmt.Errorf("capture: frame %d: no segments", target)
	}
	// A capture may hold several connections on the same addresses and
	// ports: keep the one frame target belongs to, between SYNs.
	lo, hi := 0, len(segs)
	for i, s := range segs {
		if s.SYN && s.Frame <= target {
			lo = i
		}
		if s.SYN && s.Frame > target {
			hi = i
			break
		}
	}
	segs = segs[lo:hi]
	if len(segs) == 0 {
		return nil, fmt.Errorf("capture: frame %d: no segments", target)
	}
	base := segs[0].Seq
	fromSYN := segs[0].SYN
	if fromSYN {
		base++
	}
	if !fromSYN { // the capture began mid-connection: start at the lowest
		for _, s := range segs {
			if int32(s.Seq-base) < 0 {
				base = s.Seq
			}
		}
	}
	type piece struct {
		frame int
		off   int64
		data  []byte
	}
	var ps []piece
	for _, s := range segs {
		seq := s.Seq
		if s.SYN {
			seq++ // the SYN takes one sequence number (and TFO data follows)
		}
		if len(s.Payload) == 0 {
			continue
		}
		off := int64(int32(seq - base))
		if off < 0 {
			continue // before the SYN: not this connection
		}
		ps = append(ps, piece{s.Frame, off, s.Payload})
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].off < ps[j].off })
	var r *Run
	var runOff int64 // stream offset of r.Data[0]
	for _, p := range ps {
		if r == nil || p.off > runOff+int64(len(r.Data)) { // a gap: a new run
			if r != nil {
				if _, ok := r.SpanOf(target); ok {
					return r, nil
				}
			}
			r, runOff = &Run{FromStart: fromSYN && p.off == 0}, p.off
		}
		start := int(p.off - runOff)
		end := start + len(p.data)
		if end <= len(r.Data) {
			continue // all seen already
		}
		r.Data = append(r.Data, p.data[len(r.Data)-start:]...)
		r.Spans = append(r.Spans, Span{Frame: p.frame, Start: start, End: end})
	}
	if r != nil {
		if _, ok := r.SpanOf(target); ok {
			return r, nil
		}
	}
	return nil, fmt.Errorf("capture: frame %d: its payload was all carried by earlier segments (a retransmission)", target)
}
