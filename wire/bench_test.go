package wire

import (
	"testing"
)

// ccrStream returns a stream of 64 CCR frames of about 400 bytes each.
func ccrStream() []byte {
	var s []byte
	for i := range 64 {
		m := buildCCR("relay.example.com")
		m.SetHopByHop(uint32(i))
		s = append(s, m...)
	}
	return s
}

func BenchmarkReaderNext(b *testing.B) {
	stream := ccrStream()
	r := NewReader(&loopReader{data: stream}, 0)
	b.SetBytes(int64(len(stream) / 64))
	b.ReportAllocs()
	for b.Loop() {
		m, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		PutBuf(m)
	}
}

func BenchmarkFind(b *testing.B) {
	m := buildCCR("relay.example.com")
	b.ReportAllocs()
	for b.Loop() {
		a, ok := m.Find(AVPDestinationRealm, 0)
		if !ok || len(a.Data) != len(testDestRealm) {
			b.Fatal("Destination-Realm not found")
		}
	}
}

// BenchmarkRelayPath is the per-request work of a relay: frame, route on
// Destination-Realm/Destination-Host, detect loops, add Route-Record, swap
// the Hop-by-Hop identifier, and release the buffer once written.
func BenchmarkRelayPath(b *testing.B) {
	stream := ccrStream()
	r := NewReader(&loopReader{data: stream}, 0)
	self := []byte(testAgentHost)
	b.SetBytes(int64(len(stream) / 64))
	b.ReportAllocs()
	var hbh uint32
	for b.Loop() {
		m, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		realm, ok := m.Find(AVPDestinationRealm, 0)
		if !ok {
			b.Fatal("no Destination-Realm")
		}
		host, _ := m.Find(AVPDestinationHost, 0)
		if len(realm.Data)+len(host.Data) == 0 || m.HasRouteRecord(self) {
			b.Fatal("loop")
		}
		m = m.AppendRouteRecord(testAgentHost)
		hbh++
		m.SetHopByHop(hbh)
		PutBuf(m)
	}
}

func BenchmarkErrorAnswer(b *testing.B) {
	req, _ := requestWithProxies(FlagRequest | FlagProxiable)
	spec := ErrorSpec{
		OriginHost: testAgentHost, OriginRealm: testAgentRealm, ResultCode: ResultUnableToDeliver,
		Message: "no route to realm", ErrorReportingHost: testAgentHost,
	}
	b.ReportAllocs()
	for b.Loop() {
		PutBuf(ErrorAnswer(req, spec))
	}
}

func BenchmarkAppendRouteRecord(b *testing.B) {
	base := buildCCR("relay.example.com")
	m := Msg(GetBuf(len(base)))
	copy(m, base)
	b.ReportAllocs()
	for b.Loop() {
		m = m[:len(base)].AppendRouteRecord(testAgentHost)
	}
}

func BenchmarkValidate(b *testing.B) {
	m := buildCCR("relay.example.com")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
