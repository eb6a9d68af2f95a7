package wire

import "testing"

func TestGetBuf(t *testing.T) {
	tests := []struct {
		n       int
		wantCap int
	}{
		{0, 256},
		{1, 256},
		{20, 256},
		{256, 256},
		{257, 512},
		{400, 512},
		{4096, 4096},
		{4097, 8192},
		{65535, 65536},
		{65536, 65536},
		{65537, 65537},
		{1 << 20, 1 << 20},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			b := GetBuf(tt.n)
			if len(b) != tt.n || cap(b) != tt.wantCap {
				t.Errorf("GetBuf(%d): len %d cap %d, want len %d cap %d", tt.n, len(b), cap(b), tt.n, tt.wantCap)
			}
			PutBuf(b)
		})
	}
}

func TestGetBufNegativePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("GetBuf(-1) did not panic")
		}
	}()
	GetBuf(-1)
}

func TestPutBufIgnoresOddCapacities(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"small", make([]byte, 10)},
		{"not a power of two", make([]byte, 300)},
		{"power of two below smallest class", make([]byte, 128)},
		{"above largest class", make([]byte, 1<<17)},
		{"sub-slice with odd cap", make([]byte, 1024)[3:]},
		{"zero length, class cap", make([]byte, 0, 512)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			PutBuf(tt.b) // must not panic
			b := GetBuf(cap(tt.b))
			if len(b) != cap(tt.b) || cap(b) < len(b) {
				t.Errorf("GetBuf after PutBuf: len %d cap %d", len(b), cap(b))
			}
		})
	}
}

func TestPoolSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, n := range []int{20, 400, 3000, 65536} {
		PutBuf(GetBuf(n))
		if a := testing.AllocsPerRun(100, func() { PutBuf(GetBuf(n)) }); a != 0 {
			t.Errorf("GetBuf/PutBuf(%d) allocates %v times", n, a)
		}
	}
}
