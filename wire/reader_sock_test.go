package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestSocketReaderSplits sends frames over loopback TCP in pieces cut at
// the given offsets, each piece its own write (TCP_NODELAY) with a pause
// so that it tends to arrive as its own segment, and checks that the
// socket Reader, which takes its buffer only once data is there, frames
// them, and holds no buffer once everything is read.
func TestSocketReaderSplits(t *testing.T) {
	ccr := buildCCR("relay.example.com")
	cer := buildCER()
	dwr := NewMsg(FlagRequest, CmdDeviceWatchdog, 0, 9, 9)
	big := NewMsg(FlagRequest, CmdCreditControl, 4, 1, 1)
	big = big.AppendStringAVP(AVPSessionID, AVPFlagMandatory, 0, string(bytes.Repeat([]byte("x"), 6000)))
	stream := concat(cer, ccr, dwr, big, ccr)
	want := [][]byte{cer, ccr, dwr, big, ccr}
	tests := []struct {
		name   string
		splits []int // offsets into stream where a write ends
	}{
		{"whole stream", nil},
		{"inside the first header", []int{1, 7, HeaderLen - 1}},
		{"header, then body", []int{HeaderLen, len(cer)}},
		{"across frame boundaries", []int{len(cer) - 3, len(cer) + 5, len(cer) + len(ccr) + 2}},
		{"inside the large frame", []int{len(cer) + len(ccr) + len(dwr) + 10, len(cer) + len(ccr) + len(dwr) + 4200, len(stream) - len(ccr) - 1}},
		{"every 97 bytes", every(97, len(stream))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := tcpPair(t)
			c.SetNoDelay(true)
			r := NewReaderSize(s, 0, 4096)
			if r.raw == nil {
				t.Skip("no socket reads on this platform")
			}
			go func() {
				off := 0
				for _, end := range append(tt.splits, len(stream)) {
					c.Write(stream[off:end])
					off = end
					time.Sleep(time.Millisecond)
				}
				c.CloseWrite()
			}()
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
			if r.Buffering() {
				t.Error("the Reader still holds a buffer at the end of the stream")
			}
		})
	}
}

func every(step, n int) []int {
	var out []int
	for i := step; i < n; i += step {
		out = append(out, i)
	}
	return out
}

// TestSocketReaderDeadline: a read deadline interrupts a socket Reader
// inside a header and inside a body; Next resumes the frame after it.
func TestSocketReaderDeadline(t *testing.T) {
	ccr := buildCCR("")
	for _, cut := range []int{0, 7, HeaderLen, 100} {
		c, s := tcpPair(t)
		r := NewReaderSize(s, 0, 4096)
		c.Write(ccr[:cut])
		s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := r.Next(); !isTimeout(err) {
			t.Fatalf("cut %d: Next = %v, want a timeout", cut, err)
		}
		if cut == 0 && r.Buffering() {
			t.Errorf("cut %d: a Reader that read nothing holds a buffer", cut)
		}
		s.SetReadDeadline(time.Time{})
		c.Write(ccr[cut:])
		m, err := r.Next()
		if err != nil || !bytes.Equal(m, ccr) {
			t.Fatalf("cut %d: Next after the timeout = %v, equal %v", cut, err, bytes.Equal(m, ccr))
		}
		if r.Buffering() {
			t.Errorf("cut %d: the Reader holds a buffer after its last frame", cut)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestSocketReaderClosed: closing the socket ends a Next blocked on it.
func TestSocketReaderClosed(t *testing.T) {
	_, s := tcpPair(t)
	r := NewReaderSize(s, 0, 4096)
	done := make(chan error, 1)
	go func() { _, err := r.Next(); done <- err }()
	time.Sleep(10 * time.Millisecond) // let Next block (it need not have)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Next = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still blocked after Close")
	}
}

// TestIdleReadersHoldNoBuffer: many Readers blocked on idle sockets, and on
// idle pipes (the path a TLS connection takes), hold no read buffer: the
// heap grows by far less than one buffer per Reader.
func TestIdleReadersHoldNoBuffer(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory distorts heap figures")
	}
	const n, bufSize = 200, 16 << 10
	for _, kind := range []string{"socket", "pipe"} {
		t.Run(kind, func(t *testing.T) {
			srcs := make([]io.Reader, n)
			for i := range srcs {
				if kind == "socket" {
					_, srcs[i] = tcpPair(t)
				} else {
					pr, pw := io.Pipe()
					t.Cleanup(func() { pw.Close() })
					srcs[i] = pr
				}
			}
			before := heapInuse()
			readers := make([]*Reader, n)
			errs := make(chan error, n)
			for i, src := range srcs {
				readers[i] = NewReaderSize(src, 0, bufSize)
				go func() { _, err := readers[i].Next(); errs <- err }()
			}
			waitBlocked(t, n)
			per := (heapInuse() - before) / n
			if per > bufSize/4 {
				t.Errorf("%d idle Readers: %d heap bytes each, want far below the %d B buffer", n, per, bufSize)
			}
			for _, src := range srcs {
				src.(io.Closer).Close()
			}
			for range n {
				<-errs
			}
			runtime.KeepAlive(readers)
		})
	}
}

// heapInuse is the heap in use after a collection.
func heapInuse() int {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int(ms.HeapInuse)
}

// waitBlocked waits until at least n goroutines besides the test's are
// blocked (on I/O or a pipe).
func waitBlocked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		buf := make([]byte, 1<<20)
		st := buf[:runtime.Stack(buf, true)]
		if bytes.Count(st, []byte("[IO wait]"))+bytes.Count(st, []byte("[select]"))+bytes.Count(st, []byte("[sync.Cond.Wait]"))+bytes.Count(st, []byte("[chan receive]")) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d goroutines blocked", n)
}

// TestSocketReaderSteadyStateAllocs: framing from a socket, taking and
// returning the pooled buffer on the way, does not allocate.
func TestSocketReaderSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	c, s := tcpPair(t)
	msg := concat(buildCCR("a"), buildCER())
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Write(msg); err != nil {
				return
			}
		}
	}()
	r := NewReaderSize(s, 0, 4096)
	for range 100 {
		m, _ := r.Next()
		PutBuf(m)
	}
	if n := testing.AllocsPerRun(2000, func() {
		m, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		PutBuf(m)
	}); n != 0 {
		t.Errorf("Next+PutBuf on a socket allocates %v times per message", n)
	}
}
