package ocs

import (
	"bytes"
	"testing"
)

func TestFrames(t *testing.T) {
	var b []byte
	for _, p := range []string{"a", "b", `{"s":1}`} {
		b = appendFrame(b, []byte(p))
	}
	whole := len(b)
	tests := []struct {
		name string
		in   []byte
		n    int
		good int
	}{
		{"whole", b, 3, whole},
		{"torn tail", b[:whole-2], 2, whole - 8 - 7},
		{"corrupt checksum", append(append([]byte(nil), b[:whole-1]...), '!'), 2, whole - 8 - 7},
		{"short header", b[:5], 0, 0},
		{"zero fill after the end", append(append([]byte(nil), b...), make([]byte, 64)...), 3, whole},
		{"zero-length frame", appendFrame(nil, nil), 0, 0},
		{"empty", nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, good := splitFrames(tt.in)
			if len(ps) != tt.n || good != tt.good {
				t.Errorf("got %d frames, %d bytes; want %d, %d", len(ps), good, tt.n, tt.good)
			}
		})
	}
}

func FuzzSplitFrames(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, []byte(`{"s":1}`)), []byte("x")))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, good := splitFrames(b)
		if good < 0 || good > len(b) {
			t.Fatalf("good %d of %d", good, len(b))
		}
		// Re-encoding the valid frames gives back the valid prefix.
		var re []byte
		for _, p := range ps {
			re = appendFrame(re, p)
		}
		if !bytes.Equal(re, b[:good]) {
			t.Fatal("valid prefix does not round-trip")
		}
	})
}
