package capture

import (
	"strings"
	"testing"
)

func TestReassemble(t *testing.T) {
	seg := func(frame int, seq uint32, syn bool, data string) FrameSegment {
		return FrameSegment{Frame: frame, Segment: Segment{Proto: TCP, Seq: seq, SYN: syn, Payload: []byte(data)}}
	}
	tests := []struct {
		name      string
		segs      []FrameSegment
		target    int
		data      string
		fromStart bool
		spans     []Span
		err       string
	}{
		{
			name: "in order after the SYN", target: 3,
			segs: []FrameSegment{seg(1, 99, true, ""), seg(2, 100, false, "hello "), seg(3, 106, false, "world")},
			data: "hello world", fromStart: true,
			spans: []Span{{2, 0, 6}, {3, 6, 11}},
		},
		{
			name: "out of order, retransmitted, sequence numbers wrapping", target: 2,
			segs: []FrameSegment{seg(1, 0xfffffffe, true, ""), seg(2, 5, false, "world"), seg(3, 0xffffffff, false, "hello "),
				seg(4, 5, false, "world")},
			data: "hello world", fromStart: true,
			spans: []Span{{3, 0, 6}, {2, 6, 11}},
		},
		{
			name: "a retransmission only", target: 4,
			segs: []FrameSegment{seg(1, 0xfffffffe, true, ""), seg(2, 5, false, "world"), seg(3, 0xffffffff, false, "hello "),
				seg(4, 5, false, "world")},
			err: "retransmission",
		},
		{
			name: "no SYN captured: from the lowest sequence number", target: 2,
			segs: []FrameSegment{seg(1, 506, false, "tail"), seg(2, 500, false, "head: ")},
			data: "head: tail", spans: []Span{{2, 0, 6}, {1, 6, 10}},
		},
		{
			name: "a gap: the run after it", target: 3,
			segs: []FrameSegment{seg(1, 9, true, ""), seg(2, 10, false, "aaaa"), seg(3, 20, false, "bbbb"), seg(4, 24, false, "cc")},
			data: "bbbbcc", spans: []Span{{3, 0, 4}, {4, 4, 6}},
		},
		{
			name: "two connections on the same ports", target: 5,
			segs: []FrameSegment{seg(1, 9, true, ""), seg(2, 10, false, "old"), seg(3, 999, true, ""), seg(4, 1000, false, "new "), seg(5, 1004, false, "one")},
			data: "new one", fromStart: true, spans: []Span{{4, 0, 4}, {5, 4, 7}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Reassemble(tc.segs, tc.target)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Data) != tc.data || r.FromStart != tc.fromStart {
				t.Errorf("data %q from start %v, want %q %v", r.Data, r.FromStart, tc.data, tc.fromStart)
			}
			if len(r.Spans) != len(tc.spans) {
				t.Fatalf("spans %v, want %v", r.Spans, tc.spans)
			}
			for i := range r.Spans {
				if r.Spans[i] != tc.spans[i] {
					t.Errorf("spans %v, want %v", r.Spans, tc.spans)
				}
			}
		})
	}
}
