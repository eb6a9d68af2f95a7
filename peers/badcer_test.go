package peers

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/wire"
)

// TestBadCERAnswers sends malformed CERs over loopback and checks the CEA
// RFC 6733 §5.3 and §7 ask for (Result-Code, E bit, Error-Message,
// Failed-AVP), that the connection then closes, and that a good CER on a
// new connection still opens.
func TestBadCERAnswers(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	good := minimalCERAVPs()
	with := func(extra ...tAVP) []tAVP { return append(append([]tAVP(nil), good...), extra...) }
	replace := func(code uint32, a tAVP) []tAVP { return append(without(good, code), a) }
	noM := func(a tAVP) tAVP { a.flags &^= wire.AVPFlagMandatory; return a }
	tests := []struct {
		name   string
		flags  uint8
		avps   []tAVP
		code   uint32
		failed []byte // Failed-AVP content; nil: none expected
	}{
		{"P bit", wire.FlagRequest | wire.FlagProxiable, good, wire.ResultInvalidHdrBits, nil},
		{"E bit", wire.FlagRequest | wire.FlagError, good, wire.ResultInvalidHdrBits, nil},
		{"two Origin-Host", wire.FlagRequest, with(mStr(wire.AVPOriginHost, "y.test")), wire.ResultAVPOccursTooManyTimes, mStr(wire.AVPOriginHost, "y.test").encode()},
		{"two Origin-State-Id", wire.FlagRequest, with(mU32(wire.AVPOriginStateID, 1), mU32(wire.AVPOriginStateID, 2)), wire.ResultAVPOccursTooManyTimes, mU32(wire.AVPOriginStateID, 2).encode()},
		{"two Firmware-Revision", wire.FlagRequest, with(tAVP{code: wire.AVPFirmwareRevision, data: u32Data(1)}, tAVP{code: wire.AVPFirmwareRevision, data: u32Data(2)}),
			wire.ResultAVPOccursTooManyTimes, tAVP{code: wire.AVPFirmwareRevision, data: u32Data(2)}.encode()},
		{"Origin-Host without M bit", wire.FlagRequest, replace(wire.AVPOriginHost, noM(mStr(wire.AVPOriginHost, capPeerHost))), wire.ResultInvalidAVPBits, noM(mStr(wire.AVPOriginHost, capPeerHost)).encode()},
		{"Vendor-Id without M bit", wire.FlagRequest, replace(wire.AVPVendorID, noM(mU32(wire.AVPVendorID, 10415))), wire.ResultInvalidAVPBits, noM(mU32(wire.AVPVendorID, 10415)).encode()},
		{"Origin-Realm with a space", wire.FlagRequest, replace(wire.AVPOriginRealm, mStr(wire.AVPOriginRealm, "a realm")), wire.ResultInvalidAVPValue, mStr(wire.AVPOriginRealm, "a realm").encode()},
		{"empty Origin-Host", wire.FlagRequest, replace(wire.AVPOriginHost, mStr(wire.AVPOriginHost, "")), wire.ResultInvalidAVPValue, mStr(wire.AVPOriginHost, "").encode()},
		{"no Origin-Realm", wire.FlagRequest, without(good, wire.AVPOriginRealm), wire.ResultMissingAVP, nil},
		{"no Vendor-Id", wire.FlagRequest, without(good, wire.AVPVendorID), wire.ResultMissingAVP, nil},
		{"Vendor-Id of 3 octets", wire.FlagRequest, replace(wire.AVPVendorID, tAVP{code: wire.AVPVendorID, flags: wire.AVPFlagMandatory, data: []byte{0, 0, 1}}),
			wire.ResultInvalidAVPLength, tAVP{code: wire.AVPVendorID, flags: wire.AVPFlagMandatory, data: []byte{0, 0, 1}}.encode()},
		{"unknown mandatory AVP", wire.FlagRequest, with(mU32(9999, 1)), wire.ResultAVPUnsupported, mU32(9999, 1).encode()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, b.addr())
			cer := capMsg(true, tt.avps)
			cer.SetFlags(tt.flags)
			rc.send(t, cer)
			cea := rc.read(t)
			if got := resultCode(t, cea); got != tt.code {
				t.Fatalf("Result-Code %d, want %d", got, tt.code)
			}
			if cea.IsError() != wire.IsProtocolError(tt.code) || cea.IsRequest() || cea.IsProxiable() {
				t.Errorf("CEA flags %#x for %d", cea.Flags(), tt.code)
			}
			if cea.HopByHop() != capHopByHop || cea.EndToEnd() != capEndToEnd {
				t.Errorf("identifiers %x/%x not echoed", cea.HopByHop(), cea.EndToEnd())
			}
			if em, ok := cea.Find(wire.AVPErrorMessage, 0); !ok || len(em.Data) == 0 {
				t.Error("no Error-Message")
			}
			f, ok := cea.Find(wire.AVPFailedAVP, 0)
			switch {
			case tt.failed != nil && (!ok || !bytes.Equal(f.Data, tt.failed)):
				t.Errorf("Failed-AVP %x, want %x", f.Data, tt.failed)
			case tt.code == wire.ResultMissingAVP && !ok:
				t.Error("5005 without Failed-AVP")
			}
			if !rc.closed(t) {
				t.Fatal("connection not closed after a failed CEA")
			}
		})
	}
	rc := dialRaw(t, b.addr())
	if cea := rc.exchange(t, Local{OriginHost: "x.test", OriginRealm: "test", ProductName: "x", Relay: true}); resultCode(t, cea) != wire.ResultSuccess {
		t.Fatalf("good CER after the bad ones: %d", resultCode(t, cea))
	}
}

// TestUnreadableFrameClosesOnlyItsConnection: frames whose header cannot
// be trusted (version, length below 20 or not a multiple of 4, length over
// the limit) close their connection, once, with one log line, counted;
// another open peer keeps working throughout.
func TestUnreadableFrameClosesOnlyItsConnection(t *testing.T) {
	o := fastOpts("b.test")
	o.MaxMessageSize = 4096
	var logs lockedBuf
	rec := newRecorder()
	o.Handler = rec
	o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		m.Shutdown(ctx)
	})
	b := &testNode{m: m, rec: rec}
	steady := dialRaw(t, b.addr())
	if cea := steady.exchange(t, Local{OriginHost: "steady.test", OriginRealm: "test", ProductName: "x", Relay: true}); resultCode(t, cea) != wire.ResultSuccess {
		t.Fatal("steady peer not open")
	}
	hdr := func(version uint8, length int, flags uint8) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint32(h[0:4], uint32(version)<<24|uint32(length))
		binary.BigEndian.PutUint32(h[4:8], uint32(flags)<<24|wire.CmdCreditControl)
		binary.BigEndian.PutUint32(h[8:12], 4)
		binary.BigEndian.PutUint32(h[12:16], 55)
		return h
	}
	tests := []struct {
		name  string
		frame []byte
		code  uint32 // answer expected before the close; 0 for none
	}{
		{"version 2", hdr(2, 20, wire.FlagRequest), wire.ResultUnsupportedVersion},
		{"length 12", hdr(1, 12, wire.FlagRequest), wire.ResultInvalidMessageLength},
		{"length 22", hdr(1, 22, wire.FlagRequest), wire.ResultInvalidMessageLength},
		{"length over the limit", hdr(1, 8192, wire.FlagRequest), wire.ResultInvalidMessageLength},
		{"bad answer header", hdr(3, 20, 0), 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := b.m.FrameErrors()
			rc := dialRaw(t, b.addr())
			id := Local{OriginHost: "bad" + string(rune('a'+i)) + ".test", OriginRealm: "test", ProductName: "x", Relay: true}
			if cea := rc.exchange(t, id); resultCode(t, cea) != wire.ResultSuccess {
				t.Fatal("CEA")
			}
			logs.reset()
			rc.send(t, tt.frame)
			if tt.code != 0 {
				ans := rc.read(t)
				if resultCode(t, ans) != tt.code || ans.HopByHop() != 55 {
					t.Fatalf("answer %d hbh %d, want %d", resultCode(t, ans), ans.HopByHop(), tt.code)
				}
			}
			if !rc.closed(t) {
				t.Fatal("connection not closed")
			}
			waitFor(t, "frame error counted", time.Second, func() bool { return b.m.FrameErrors() == before+1 })
			time.Sleep(50 * time.Millisecond)
			l := logs.bytes()
			if n := bytes.Count(l, []byte("unreadable frame")) + bytes.Count(l, []byte("connection read failed")); n != 1 {
				t.Errorf("%d log lines about one bad frame:\n%s", n, l)
			}
			// The steady peer still carries traffic.
			req := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, wire.CmdCreditControl, 4, uint32(100+i), 1)
			req = req.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, "steady.test")
			steady.send(t, req)
			select {
			case m := <-rec.got:
				if m.HopByHop() != uint32(100+i) {
					t.Fatalf("steady peer: got hbh %d", m.HopByHop())
				}
			case <-time.After(2 * time.Second):
				t.Fatal("steady peer's request not delivered")
			}
		})
	}
}

// lockedBuf is a log sink safe for concurrent writers.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func (l *lockedBuf) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// TestBadCERFailedAVPDecodes: a CER whose Host-IP-Address has a broken
// length is answered 5014 with a Failed-AVP a strict peer can read: the
// stand-in carries a zero Address of its type's size, not an empty one
// (which go-diameter refuses, losing the whole CEA).
func TestBadCERFailedAVPDecodes(t *testing.T) {
	b := startNode(t, fastOpts("b.test"))
	cer := capMsg(true, minimalCERAVPs())
	// Host-IP-Address, M bit, claiming 100 octets where 4 follow.
	bad := []byte{0, 0, 1, 1, wire.AVPFlagMandatory, 0, 0, 100, 0, 1, 127, 0}
	cer = append(cer, bad...)
	cer.SetLen(len(cer))
	rc := dialRaw(t, b.addr())
	rc.send(t, cer)
	cea := rc.read(t)
	if got := resultCode(t, cea); got != wire.ResultInvalidAVPLength {
		t.Fatalf("Result-Code %d, want 5014", got)
	}
	m, err := diam.ReadMessage(bytes.NewReader(cea), dict.Default)
	if err != nil {
		t.Fatalf("CEA does not decode: %v", err)
	}
	failed, err := m.FindAVP(avp.FailedAVP, 0)
	if err != nil {
		t.Fatalf("no Failed-AVP: %v", err)
	}
	g, ok := failed.Data.(*diam.GroupedAVP)
	if !ok || len(g.AVP) != 1 || g.AVP[0].Code != avp.HostIPAddress {
		t.Fatalf("Failed-AVP %v, want the Host-IP-Address stand-in", failed)
	}
}
