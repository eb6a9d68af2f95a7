package loadgen

import (
	"net"
	"testing"
	"time"

	"github.com/dra-project/dra/wire"
)

// Each hot path is a setup function returning one iteration, shared by
// the benchmarks and by TestZeroAllocs.

var mixCases = []struct {
	name string
	cfg  MixConfig
}{
	{"generic-200B", MixConfig{Size: 200}},
	{"generic-1KiB", MixConfig{Size: 1024}},
	{"ccr", MixConfig{Name: MixCCR}},
	{"acr", MixConfig{Name: MixACR}},
	{"aar", MixConfig{Name: MixAAR}},
}

// mixRequest builds the requests of successive sessions.
func mixRequest(tb testing.TB, cfg MixConfig) func() int {
	mix := mustMix(tb, cfg)
	var s Session
	seq := uint64(0)
	return func() int {
		if s.Step == 0 {
			seq++
			s.Start("load-1.load.test", "load.test", 1700000000, seq)
		}
		m := mix.Request(&s)
		n := len(m)
		wire.PutBuf(m)
		s.Step = (s.Step + 1) % mix.SessionLen()
		return n
	}
}

func BenchmarkMixRequest(b *testing.B) {
	for _, tc := range mixCases {
		b.Run(tc.name, func(b *testing.B) {
			f := mixRequest(b, tc.cfg)
			b.ReportAllocs()
			for b.Loop() {
				b.SetBytes(int64(f()))
			}
		})
	}
}

// serverAnswer builds the server's answer to a CCR.
func serverAnswer(tb testing.TB, vendor uint32) func() {
	a := newAnswerer("srv.load.test", "load.test", 2001, vendor)
	req := mustMix(tb, MixConfig{Name: MixCCR}).Request(session(42))
	return func() { wire.PutBuf(a.answer(req)) }
}

func BenchmarkServerAnswer(b *testing.B) {
	for _, tc := range []struct {
		name   string
		vendor uint32
	}{{"result-code", 0}, {"experimental-result", 10415}} {
		b.Run(tc.name, func(b *testing.B) {
			f := serverAnswer(b, tc.vendor)
			b.ReportAllocs()
			for b.Loop() {
				f()
			}
		})
	}
}

// answerPath is the client's work per answer outside the socket calls:
// match the answer in the pending table, read its result code, record the
// latency, build the next request of the session and queue it, then write
// the batch (to a connection that discards it).
func answerPath(tb testing.TB, mix string) (func(), *conn) {
	cl, err := NewClient(ClientConfig{Addr: "127.0.0.1:3868", InFlight: 1, Duration: time.Hour,
		Mix: mustMix(tb, MixConfig{Name: mix})})
	if err != nil {
		tb.Fatal(err)
	}
	cl.epoch = time.Now()
	c := newConn(cl, 1, "load-1.load.test", discardConn{})
	srv := newAnswerer("srv.load.test", "load.test", 2001, 0)
	if !c.send(nil, cl.now()) {
		tb.Fatal("first send")
	}
	return func() {
		ans := srv.answer(c.queue[0])
		if err := c.flush(); err != nil {
			tb.Fatal(err)
		}
		c.onAnswer(ans)
		wire.PutBuf(ans)
	}, c
}

func BenchmarkAnswerPath(b *testing.B) {
	for _, name := range []string{MixGeneric, MixCCR} {
		b.Run(name, func(b *testing.B) {
			f, c := answerPath(b, name)
			b.ReportAllocs()
			for b.Loop() {
				f()
			}
			if c.stats.answered.Load() == 0 || c.stats.late.Load() != 0 {
				b.Fatalf("answered %d, late %d", c.stats.answered.Load(), c.stats.late.Load())
			}
		})
	}
}

// BenchmarkResultCode parses the result of an answer.
func BenchmarkResultCode(b *testing.B) {
	a := newAnswerer("srv.load.test", "load.test", 2001, 0)
	ans := a.answer(mustMix(b, MixConfig{Name: MixCCR}).Request(session(42)))
	b.ReportAllocs()
	for b.Loop() {
		if code, _ := resultCode(ans); code != 2001 {
			b.Fatal(code)
		}
	}
}

// discardConn is a net.Conn that swallows writes.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }
func (discardConn) Close() error                { return nil }

// The allocation-free claims, checked in the ordinary test run.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	check := func(name string, f func()) {
		t.Helper()
		for range 100 { // warm the pools and the pending ring
			f()
		}
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocations per op", name, a)
		}
	}
	for _, tc := range mixCases {
		f := mixRequest(t, tc.cfg)
		check("request "+tc.name, func() { f() })
	}
	check("server answer", serverAnswer(t, 0))
	check("server answer, experimental", serverAnswer(t, 10415))
	for _, mix := range []string{MixGeneric, MixCCR} {
		f, _ := answerPath(t, mix)
		check("answer path "+mix, f)
	}
	var h Histogram
	check("histogram", func() { h.Record(time.Millisecond) })
}
