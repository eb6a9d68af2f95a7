package routing_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// rawPeer is a minimal hand-driven peer for benchmarks: CER/CEA on a real
// socket, then the caller reads and writes frames itself.
type rawPeer struct {
	nc net.Conn
	rd *wire.Reader
}

func dialRawPeer(tb testing.TB, addr, host, realm string) *rawPeer {
	tb.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	cer := wire.NewMsg(wire.FlagRequest, wire.CmdCapabilitiesExchange, 0, 1, 1)
	cer = cer.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, host)
	cer = cer.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, realm)
	cer = cer.AppendAVP(wire.AVPHostIPAddress, wire.AVPFlagMandatory, 0, []byte{0, 1, 127, 0, 0, 1})
	cer = cer.AppendUint32AVP(wire.AVPVendorID, wire.AVPFlagMandatory, 0, 0)
	cer = cer.AppendStringAVP(wire.AVPProductName, 0, 0, "bench")
	cer = cer.AppendUint32AVP(wire.AVPAuthApplicationID, wire.AVPFlagMandatory, 0, wire.RelayAppID)
	if _, err := nc.Write(cer); err != nil {
		tb.Fatal(err)
	}
	rp := &rawPeer{nc: nc, rd: wire.NewReader(bufio.NewReader(nc), 1<<16)}
	cea, err := rp.rd.Next()
	if err != nil {
		tb.Fatal(err)
	}
	if a, _ := cea.Find(wire.AVPResultCode, 0); a.Data == nil {
		tb.Fatal("CEA without Result-Code")
	}
	return rp
}

// serve answers every request by turning it around (R bit cleared), and
// DWR the same way, until the connection ends. It does not allocate.
func (rp *rawPeer) serve() {
	for {
		m, err := rp.rd.Next()
		if err != nil {
			return
		}
		if m.IsRequest() {
			m.SetFlags(m.Flags() &^ wire.FlagRequest)
			rp.nc.Write(m)
		}
		wire.PutBuf(m)
	}
}

// forwardRig is an agent with a raw server and a raw client peer over
// loopback; send writes one request on the client's socket, and done
// receives a token per answer the client reads.
type forwardRig struct {
	send   func(i int)
	done   chan struct{}
	stats  func() uint64
	router *routing.Router
}

func newForwardRig(tb testing.TB) *forwardRig {
	a := startAgentB(tb, `accept_unknown_peers: true
routes:
  - realm: srv.test
    application: 4
    action: relay
    peers: [{host: srv.bench.test}]
`)
	addr := a.Addrs()[0].String()
	srv := dialRawPeer(tb, addr, "srv.bench.test", "srv.test")
	go srv.serve()
	cli := dialRawPeer(tb, addr, "cli.bench.test", "cli.test")
	done := make(chan struct{}, 1024)
	go func() {
		for {
			m, err := cli.rd.Next()
			if err != nil {
				return
			}
			if m.IsRequest() { // DWR
				m.SetFlags(m.Flags() &^ wire.FlagRequest)
				cli.nc.Write(m)
			} else {
				done <- struct{}{}
			}
			wire.PutBuf(m)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for a.Peers().Peer("srv.bench.test") == nil || a.Peers().Peer("srv.bench.test").Active() == nil ||
		a.Peers().Peer("cli.bench.test") == nil || a.Peers().Peer("cli.bench.test").Active() == nil {
		if time.Now().After(deadline) {
			tb.Fatal("peers not open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	rt := a.Router()
	tmpl := ccrTemplate()
	buf := make(wire.Msg, len(tmpl))
	copy(buf, tmpl)
	return &forwardRig{
		router: rt,
		done:   done,
		stats:  func() uint64 { return rt.Stats().LocalAnswers.Load() },
		send: func(i int) {
			buf.SetHopByHop(uint32(i))
			if _, err := cli.nc.Write(buf); err != nil {
				tb.Error(err)
			}
		},
	}
}

// BenchmarkForward measures one request forwarded client -> agent ->
// server and its answer relayed back, over loopback sockets, in-process
// (agent, raw client and raw server): allocations per op are those of the
// whole relay path, both directions.
func BenchmarkForward(b *testing.B) {
	rig := newForwardRig(b)
	for _, inflight := range []int{1, 64} {
		b.Run(map[int]string{1: "inflight=1", 64: "inflight=64"}[inflight], func(b *testing.B) {
			rig.run(b, inflight)
		})
	}
	if n := rig.stats(); n != 0 {
		b.Fatalf("%d requests answered by the agent itself", n)
	}
}

// run keeps inflight requests outstanding for b.Loop, one new request per
// answer.
func (rig *forwardRig) run(b *testing.B, inflight int) {
	for i := range inflight {
		rig.send(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		<-rig.done
		rig.send(i)
		i++
	}
	for range inflight {
		<-rig.done
	}
}

// ccrTemplate is a ~400-byte Credit-Control-Request.
func ccrTemplate() wire.Msg {
	m := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, 272, 4, 0, 7)
	m = m.AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "cli.bench.test;1700000000;1234567")
	m = m.AppendUint32AVP(wire.AVPAuthApplicationID, wire.AVPFlagMandatory, 0, 4)
	m = m.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "cli.bench.test")
	m = m.AppendStringAVP(wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, "cli.test")
	m = m.AppendStringAVP(wire.AVPDestinationRealm, wire.AVPFlagMandatory, 0, "srv.test")
	m = m.AppendStringAVP(461, wire.AVPFlagMandatory, 0, "32251@3gpp.org")        // Service-Context-Id
	m = m.AppendUint32AVP(416, wire.AVPFlagMandatory, 0, 2)                       // CC-Request-Type UPDATE
	m = m.AppendUint32AVP(415, wire.AVPFlagMandatory, 0, 1)                       // CC-Request-Number
	sub := wire.AppendUint32AVP(nil, 450, wire.AVPFlagMandatory, 0, 0)            // Subscription-Id-Type E164
	sub = wire.AppendStringAVP(sub, 444, wire.AVPFlagMandatory, 0, "15551234567") // Subscription-Id-Data
	m = m.AppendAVP(443, wire.AVPFlagMandatory, 0, sub)
	mscc := wire.AppendUint32AVP(nil, 432, wire.AVPFlagMandatory, 0, 100)                                                        // Rating-Group
	mscc = wire.AppendAVP(mscc, 437, wire.AVPFlagMandatory, 0, wire.AppendUint32AVP(nil, 421, wire.AVPFlagMandatory, 0, 1<<20))  // RSU
	mscc = wire.AppendAVP(mscc, 446, wire.AVPFlagMandatory, 0, wire.AppendUint32AVP(nil, 421, wire.AVPFlagMandatory, 0, 524288)) // USU
	m = m.AppendAVP(456, wire.AVPFlagMandatory, 0, mscc)
	m = m.AppendAVP(873, wire.AVPFlagMandatory|wire.AVPFlagVendor, 10415, make([]byte, 120)) // Service-Information (opaque here)
	return m
}
