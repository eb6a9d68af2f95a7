package wire

import (
	"errors"
	"testing"
)

func TestCheckHeader(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		maxLen  int
		wantLen int
		wantErr error
	}{
		{"empty", nil, DefaultMaxLen, 0, ErrShortHeader},
		{"19 bytes", header(1, 20)[:19], DefaultMaxLen, 0, ErrShortHeader},
		{"header only", header(1, 20), DefaultMaxLen, 20, nil},
		{"longer slice than header", append(header(1, 24), 0, 0, 0, 0), DefaultMaxLen, 24, nil},
		{"version 0", header(0, 20), DefaultMaxLen, 0, ErrVersion},
		{"version 2", header(2, 20), DefaultMaxLen, 0, ErrVersion},
		{"length 0", header(1, 0), DefaultMaxLen, 0, ErrLength},
		{"length 16", header(1, 16), DefaultMaxLen, 0, ErrLength},
		{"length 19", header(1, 19), DefaultMaxLen, 0, ErrLength},
		{"length 21", header(1, 21), DefaultMaxLen, 0, ErrLength},
		{"length 22", header(1, 22), DefaultMaxLen, 0, ErrLength},
		{"length 23", header(1, 23), DefaultMaxLen, 0, ErrLength},
		{"length exactly maxLen", header(1, 1024), 1024, 1024, nil},
		{"length maxLen+4", header(1, 1028), 1024, 0, ErrTooLarge},
		{"default maxLen exactly", header(1, DefaultMaxLen), DefaultMaxLen, DefaultMaxLen, nil},
		{"default maxLen+4", header(1, DefaultMaxLen+4), DefaultMaxLen, 0, ErrTooLarge},
		{"maxLen 0 means default", header(1, DefaultMaxLen), 0, DefaultMaxLen, nil},
		{"maxLen -1 means default", header(1, DefaultMaxLen+4), -1, 0, ErrTooLarge},
		{"16 MiB claim", header(1, 0xfffffc), DefaultMaxLen, 0, ErrTooLarge},
		{"max 24-bit length allowed by limit", header(1, MaxLen), 1 << 24, MaxLen, nil},
		{"version checked before length", header(2, 3), DefaultMaxLen, 0, ErrVersion},
		{"bad length reported before size", header(1, 0xffffff), DefaultMaxLen, 0, ErrLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := CheckHeader(tt.b, tt.maxLen)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("CheckHeader() error = %v, want %v", err, tt.wantErr)
			}
			if n != tt.wantLen {
				t.Errorf("CheckHeader() = %d, want %d", n, tt.wantLen)
			}
			if err != nil && err.Error()[:6] != "wire: " {
				t.Errorf("error %q lacks the wire: prefix", err)
			}
		})
	}
}

func TestCheckHeaderAllocs(t *testing.T) {
	h := header(1, 400)
	if n := testing.AllocsPerRun(100, func() { _, _ = CheckHeader(h, DefaultMaxLen) }); n != 0 {
		t.Errorf("CheckHeader allocates %v times per call", n)
	}
}
