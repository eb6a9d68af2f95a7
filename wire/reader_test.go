package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"
)

// readAll reads messages from r until an error and returns copies of them
// with the error.
func readAll(r *Reader) ([][]byte, error) {
	var msgs [][]byte
	for {
		m, err := r.Next()
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, append([]byte(nil), m...))
		PutBuf(m)
	}
}

func TestReaderFraming(t *testing.T) {
	ccr := buildCCR("relay.example.com")
	cer := buildCER()
	empty := NewMsg(FlagRequest, CmdDeviceWatchdog, 0, 9, 9)
	stream := concat(cer, ccr, empty, ccr)
	want := [][]byte{cer, ccr, empty, ccr}

	tests := []struct {
		name  string
		sizes []int
	}{
		{"one write", nil},
		{"one byte at a time", []int{1}},
		{"three bytes at a time", []int{3}},
		{"header then rest", []int{HeaderLen, 1 << 20}},
		{"odd chunks", []int{7, 13, 1, 400, 2, 19, 64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(&chunkReader{data: stream, sizes: tt.sizes}, 0)
			got, err := readAll(r)
			if err != io.EOF {
				t.Fatalf("final error = %v, want io.EOF", err)
			}
			if len(got) != len(want) {
				t.Fatalf("read %d messages, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("message %d differs", i)
				}
			}
		})
	}
}

func TestReaderSplitAtEveryByte(t *testing.T) {
	ccr := buildCCR("")
	cer := buildCER()
	stream := concat(ccr, cer)
	for split := 1; split < len(stream); split++ {
		r := NewReader(&chunkReader{data: stream, sizes: []int{split, len(stream)}}, 0)
		got, err := readAll(r)
		if err != io.EOF || len(got) != 2 || !bytes.Equal(got[0], ccr) || !bytes.Equal(got[1], cer) {
			t.Fatalf("split at %d: %d messages, err %v", split, len(got), err)
		}
	}
}

func TestReaderEOF(t *testing.T) {
	ccr := buildCCR("")
	tests := []struct {
		name    string
		stream  []byte
		wantN   int
		wantErr error
		wantHdr bool
	}{
		{"empty stream", nil, 0, io.EOF, false},
		{"clean EOF after frame", ccr, 1, io.EOF, false},
		{"EOF inside header", concat(ccr, ccr[:10]), 1, io.ErrUnexpectedEOF, false},
		{"EOF after 19 header bytes", ccr[:19], 0, io.ErrUnexpectedEOF, false},
		{"EOF after header", ccr[:HeaderLen], 0, io.ErrUnexpectedEOF, true},
		{"EOF inside body", concat(ccr, ccr[:len(ccr)-1]), 1, io.ErrUnexpectedEOF, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sizes := range [][]int{nil, {1}} {
				r := NewReader(&chunkReader{data: tt.stream, sizes: sizes}, 0)
				got, err := readAll(r)
				if err != tt.wantErr || len(got) != tt.wantN {
					t.Fatalf("sizes %v: %d messages, err %v; want %d, %v", sizes, len(got), err, tt.wantN, tt.wantErr)
				}
				if h := r.LastHeader(); (h != nil) != tt.wantHdr {
					t.Errorf("LastHeader() = %x, want present=%v", h, tt.wantHdr)
				}
				if _, err := r.Next(); err != tt.wantErr {
					t.Errorf("Next after end = %v, want %v again", err, tt.wantErr)
				}
			}
		})
	}
}

func TestReaderHeaderErrors(t *testing.T) {
	ccr := buildCCR("")
	tests := []struct {
		name    string
		hdr     []byte
		maxLen  int
		wantErr error
	}{
		{"version 2", header(2, 400), 0, ErrVersion},
		{"length 19", header(1, 19), 0, ErrLength},
		{"length 402", header(1, 402), 0, ErrLength},
		{"length maxLen+4", header(1, 1028), 1024, ErrTooLarge},
		{"16 MiB claim", header(1, 16<<20-4), 64 << 10, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A good frame, then the bad header and plenty of bytes after it.
			stream := concat(ccr, tt.hdr, make([]byte, 4096))
			r := NewReader(bytes.NewReader(stream), tt.maxLen)
			m, err := r.Next()
			if err != nil || !bytes.Equal(m, ccr) {
				t.Fatalf("first Next = %v", err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m, err = r.Next()
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.wantErr) || m != nil {
				t.Fatalf("Next = %d bytes, %v; want %v", len(m), err, tt.wantErr)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("rejecting the header allocated %d bytes", grew)
			}
			if !bytes.Equal(r.LastHeader(), tt.hdr) {
				t.Errorf("LastHeader() = %x, want %x", r.LastHeader(), tt.hdr)
			}
			if _, err2 := r.Next(); !errors.Is(err2, tt.wantErr) {
				t.Errorf("second Next = %v, want sticky %v", err2, tt.wantErr)
			}
		})
	}
}

func TestReaderMaxLenBoundary(t *testing.T) {
	const maxLen = 1024
	exact := NewMsg(FlagRequest, CmdAccounting, 3, 1, 1)
	exact = exact.AppendAVP(AVPUserName, 0, 0, make([]byte, maxLen-HeaderLen-8))
	if len(exact) != maxLen {
		t.Fatalf("test message is %d bytes", len(exact))
	}
	r := NewReader(bytes.NewReader(exact), maxLen)
	m, err := r.Next()
	if err != nil || !bytes.Equal(m, exact) {
		t.Fatalf("Next on exactly maxLen = %v", err)
	}
	if m.Len() != len(m) {
		t.Errorf("Len %d != len %d", m.Len(), len(m))
	}
}

// errTimeout is a transient error like a read deadline.
var errTimeout = errors.New("i/o timeout")

// flakyReader fails with errTimeout before each listed offset once.
type flakyReader struct {
	data  []byte
	off   int
	fails map[int]bool
}

func (r *flakyReader) Read(p []byte) (int, error) {
	if r.fails[r.off] {
		delete(r.fails, r.off)
		return 0, errTimeout
	}
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	n := copy(p[:1], r.data[r.off:])
	r.off += n
	return n, nil
}

func TestReaderResumesAfterTransientError(t *testing.T) {
	ccr := buildCCR("")
	cer := buildCER()
	stream := concat(ccr, cer)
	fails := map[int]bool{0: true, 5: true, HeaderLen: true, 100: true, len(ccr): true, len(ccr) + 21: true}
	r := NewReader(&flakyReader{data: stream, fails: fails}, 0)
	var got [][]byte
	timeouts := 0
	for {
		m, err := r.Next()
		if errors.Is(err, errTimeout) {
			timeouts++
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next = %v", err)
		}
		got = append(got, append([]byte(nil), m...))
	}
	if timeouts != 6 || len(got) != 2 || !bytes.Equal(got[0], ccr) || !bytes.Equal(got[1], cer) {
		t.Errorf("timeouts %d, messages %d", timeouts, len(got))
	}
}

// zeroReader returns (0, nil) forever.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		r := NewReader(io.MultiReader(bytes.NewReader(header(1, 400)), zeroReader{}), 0)
		_, err := r.Next()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.ErrNoProgress) {
			t.Errorf("Next = %v, want io.ErrNoProgress", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next spins on a reader that makes no progress")
	}
}

func TestReaderSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := NewReader(&loopReader{data: concat(buildCCR("a"), buildCER())}, 0)
	for range 10 {
		m, _ := r.Next()
		PutBuf(m)
	}
	if n := testing.AllocsPerRun(1000, func() {
		m, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		PutBuf(m)
	}); n != 0 {
		t.Errorf("Next+PutBuf allocates %v times per message", n)
	}
}
