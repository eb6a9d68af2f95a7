package loadgen

import (
	"bytes"
	"cmp"
	"fmt"
	"strings"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/wire"
)

// decode parses m with go-diameter and its default dictionary, which knows
// the base protocol, base accounting (3), credit control (4) and NASREQ
// (1), and checks the header and the AVPs every request carries.
func decode(t *testing.T, m wire.Msg, app, cmd uint32, s *Session) *diam.Message {
	t.Helper()
	if m.Len() != len(m) || len(m)%4 != 0 {
		t.Fatalf("header length %d, message %d bytes", m.Len(), len(m))
	}
	if _, err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	dm, err := diam.ReadMessage(bytes.NewReader(m), dict.Default)
	if err != nil {
		t.Fatalf("go-diameter: %v", err)
	}
	if dm.Header.ApplicationID != app || dm.Header.CommandCode != cmd {
		t.Fatalf("app %d cmd %d", dm.Header.ApplicationID, dm.Header.CommandCode)
	}
	if dm.Header.CommandFlags != diam.RequestFlag|diam.ProxiableFlag {
		t.Fatalf("flags %#x, want R and P", dm.Header.CommandFlags)
	}
	if dm.AVP[0].Code != avp.SessionID {
		t.Fatalf("first AVP is %d, not Session-Id", dm.AVP[0].Code)
	}
	want := map[uint32]string{
		avp.SessionID:        string(s.ID),
		avp.OriginHost:       s.OriginHost,
		avp.OriginRealm:      s.OriginRealm,
		avp.DestinationRealm: "dest.test",
		avp.DestinationHost:  "server.dest.test",
	}
	for code, v := range want {
		a, err := dm.FindAVP(code, 0)
		if err != nil {
			t.Fatalf("AVP %d: %v", code, err)
		}
		if got := avpString(a); got != v {
			t.Errorf("AVP %d = %q, want %q", code, got, v)
		}
		if a.Flags&avp.Mbit == 0 {
			t.Errorf("AVP %d without M bit", code)
		}
	}
	// Everything must be well-typed for the dictionary.
	if dm.DecodeErr != nil {
		t.Errorf("decode errors: %v", dm.DecodeErr)
	}
	return dm
}

func avpString(a *diam.AVP) string {
	switch d := a.Data.(type) {
	case datatype.UTF8String:
		return string(d)
	case datatype.DiameterIdentity:
		return string(d)
	case datatype.OctetString:
		return string(d)
	}
	return fmt.Sprint(a.Data)
}

// find returns the first AVP at path (codes of nested Grouped AVPs).
func find(dm *diam.Message, path ...any) (*diam.AVP, error) {
	as, err := dm.FindAVPsWithPath(path, 0)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("not found")
	}
	return as[0], nil
}

func u32(t *testing.T, dm *diam.Message, path ...any) uint64 {
	t.Helper()
	a, err := find(dm, path...)
	if err != nil {
		t.Fatalf("AVP %v: %v", path, err)
	}
	switch d := a.Data.(type) {
	case datatype.Unsigned32:
		return uint64(d)
	case datatype.Enumerated:
		return uint64(d)
	case datatype.Unsigned64:
		return uint64(d)
	}
	t.Fatalf("AVP %v: type %T", path, a.Data)
	return 0
}

func str(t *testing.T, dm *diam.Message, path ...any) string {
	t.Helper()
	a, err := find(dm, path...)
	if err != nil {
		t.Fatalf("AVP %v: %v", path, err)
	}
	return avpString(a)
}

func has(dm *diam.Message, path ...any) bool {
	_, err := find(dm, path...)
	return err == nil
}

func testMix(t *testing.T, cfg MixConfig) Mix {
	t.Helper()
	cfg.DestRealm, cfg.DestHost = "dest.test", "server.dest.test"
	return mustMix(t, cfg)
}

func session(seq uint64) *Session {
	s := new(Session)
	s.Start("load-1.load.test", "load.test", 1700000000, seq)
	return s
}

func TestGenericMix(t *testing.T) {
	for _, tc := range []struct {
		app, cmd uint32
		size     int
	}{{4, 272, 200}, {4, 272, 1024}, {3, 271, 1024}, {16777238, 272, 0}, {4, 272, 50}} {
		mix := testMix(t, MixConfig{App: tc.app, Cmd: tc.cmd, Size: tc.size})
		if mix.SessionLen() != 1 || mix.AppID() != tc.app || mix.Name() != MixGeneric {
			t.Fatalf("mix %s len %d app %d", mix.Name(), mix.SessionLen(), mix.AppID())
		}
		s := session(12345)
		m := mix.Request(s)
		dm := decode(t, m, tc.app, tc.cmd, s)
		appAVP := avp.AuthApplicationID
		if tc.app == 3 {
			appAVP = avp.AcctApplicationID
		}
		if got := u32(t, dm, appAVP); got != uint64(tc.app) {
			t.Errorf("application AVP %d", got)
		}
		pad, err := dm.FindAVP(uint32(PadAVPCode), PadVendorID)
		if size := cmp.Or(tc.size, 200); size >= 200 {
			if len(m) != size {
				t.Errorf("size %d, want %d", len(m), size)
			}
			if err != nil || pad.Flags != avp.Vbit || pad.VendorID != PadVendorID {
				t.Errorf("padding AVP: %+v %v", pad, err)
			}
		} else if err == nil {
			t.Errorf("size %d: padding AVP in a %d-byte request", tc.size, len(m))
		}
		wire.PutBuf(m)
	}
}

func TestCCRMix(t *testing.T) {
	mix := testMix(t, MixConfig{Name: MixCCR, Updates: 2, Subscribers: 10, MSISDNFirst: 33600000000,
		RatingGroup: 7, Octets: 5000, ServiceContextID: "32251@3gpp.org"})
	if mix.SessionLen() != 4 || mix.AppID() != 4 {
		t.Fatalf("len %d app %d", mix.SessionLen(), mix.AppID())
	}
	s := session(13)
	wantType := []uint64{ccrInitial, ccrUpdate, ccrUpdate, ccrTermination}
	for step := range 4 {
		s.Step = step
		m := mix.Request(s)
		dm := decode(t, m, 4, 272, s)
		if got := u32(t, dm, avp.CCRequestType); got != wantType[step] {
			t.Errorf("step %d: CC-Request-Type %d", step, got)
		}
		if got := u32(t, dm, avp.CCRequestNumber); got != uint64(step) {
			t.Errorf("step %d: CC-Request-Number %d", step, got)
		}
		if u32(t, dm, avp.AuthApplicationID) != 4 || str(t, dm, avp.ServiceContextID) != "32251@3gpp.org" {
			t.Errorf("step %d: application or service context", step)
		}
		if u32(t, dm, avp.SubscriptionID, avp.SubscriptionIDType) != subscriptionE164 ||
			str(t, dm, avp.SubscriptionID, avp.SubscriptionIDData) != "33600000003" {
			t.Errorf("step %d: Subscription-Id", step)
		}
		if u32(t, dm, avp.MultipleServicesCreditControl, avp.RatingGroup) != 7 {
			t.Errorf("step %d: Rating-Group", step)
		}
		rsu := has(dm, avp.MultipleServicesCreditControl, avp.RequestedServiceUnit)
		usu := has(dm, avp.MultipleServicesCreditControl, avp.UsedServiceUnit)
		if rsu != (step < 3) || usu != (step > 0) {
			t.Errorf("step %d: RSU %v USU %v", step, rsu, usu)
		}
		if rsu && u32(t, dm, avp.MultipleServicesCreditControl, avp.RequestedServiceUnit, avp.CCTotalOctets) != 5000 {
			t.Errorf("step %d: RSU octets", step)
		}
		if usu && u32(t, dm, avp.MultipleServicesCreditControl, avp.UsedServiceUnit, avp.CCTotalOctets) != 5000 {
			t.Errorf("step %d: USU octets", step)
		}
		if has(dm, avp.TerminationCause) != (step == 3) {
			t.Errorf("step %d: Termination-Cause", step)
		}
		wire.PutBuf(m)
	}
}

func TestACRMix(t *testing.T) {
	mix := testMix(t, MixConfig{Name: MixACR, Updates: 3, UserName: "sub-%d@acct.test", Subscribers: 1000})
	if mix.SessionLen() != 5 || mix.AppID() != 3 {
		t.Fatalf("len %d app %d", mix.SessionLen(), mix.AppID())
	}
	s := session(1234)
	want := []uint64{acctStart, acctInterim, acctInterim, acctInterim, acctStop}
	for step := range 5 {
		s.Step = step
		m := mix.Request(s)
		dm := decode(t, m, 3, 271, s)
		if got := u32(t, dm, avp.AccountingRecordType); got != want[step] {
			t.Errorf("step %d: Accounting-Record-Type %d", step, got)
		}
		if got := u32(t, dm, avp.AccountingRecordNumber); got != uint64(step) {
			t.Errorf("step %d: Accounting-Record-Number %d", step, got)
		}
		if u32(t, dm, avp.AcctApplicationID) != 3 || has(dm, avp.AuthApplicationID) {
			t.Errorf("step %d: application AVPs", step)
		}
		if got := str(t, dm, avp.UserName); got != "sub-234@acct.test" {
			t.Errorf("step %d: User-Name %q", step, got)
		}
		wire.PutBuf(m)
	}
}

func TestAARMix(t *testing.T) {
	mix := testMix(t, MixConfig{Name: MixAAR, Password: "pap-secret", Subscribers: 50})
	if mix.SessionLen() != 1 || mix.AppID() != 1 {
		t.Fatalf("len %d app %d", mix.SessionLen(), mix.AppID())
	}
	s := session(77)
	m := mix.Request(s)
	dm := decode(t, m, 1, 265, s)
	if u32(t, dm, avp.AuthApplicationID) != 1 || u32(t, dm, avp.AuthRequestType) != authorizeAuthenticate {
		t.Error("application or Auth-Request-Type")
	}
	if got := str(t, dm, avp.UserName); got != "user27@load.test" {
		t.Errorf("User-Name %q", got)
	}
	if got := str(t, dm, avp.UserPassword); got != "pap-secret" {
		t.Errorf("User-Password %q", got)
	}
	// NAS-Identifier is not in go-diameter's dictionary: check it with wire.
	if a, ok := m.Find(avpNASIdentifier, 0); !ok || string(a.Data) != s.OriginHost || !a.Mandatory() {
		t.Errorf("NAS-Identifier %+v", a)
	}
	wire.PutBuf(m)
}

func TestNoDestinationHost(t *testing.T) {
	mix := mustMix(t, MixConfig{Name: MixCCR, DestRealm: "dest.test"})
	m := mix.Request(session(1))
	if _, ok := m.Find(wire.AVPDestinationHost, 0); ok {
		t.Error("Destination-Host sent without being configured")
	}
}

func TestMixConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  MixConfig
		want string
	}{
		{MixConfig{Name: "xyz", DestRealm: "a"}, "unknown mix"},
		{MixConfig{}, "destination realm"},
		{MixConfig{DestRealm: "a", UserName: "u%s"}, "user name"},
		{MixConfig{DestRealm: "a", UserName: "u%d%d"}, "only one"},
		{MixConfig{DestRealm: "a", Size: 1 << 20}, "size"},
		{MixConfig{DestRealm: strings.Repeat("a", 300)}, "longer than"},
	} {
		if _, err := NewMix(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// Session-Ids are unique across the connections of a run and across runs
// started at different seconds; a reused Session gets a fresh Id.
func TestSessionIDUnique(t *testing.T) {
	seen := map[string]bool{}
	var s Session
	for conn := 1; conn <= 4; conn++ {
		for seq := uint64(1); seq <= 5000; seq++ {
			s.Start(fmt.Sprintf("load-%d.load.test", conn), "load.test", 1700000000, seq)
			id := string(s.ID)
			if seen[id] {
				t.Fatalf("duplicate Session-Id %s", id)
			}
			seen[id] = true
		}
	}
	s.Start("load-1.load.test", "load.test", 1700000001, 1)
	if seen[string(s.ID)] || string(s.ID) != "load-1.load.test;1700000001;1" {
		t.Fatalf("Session-Id %s", s.ID)
	}
}

// The client numbers sessions across all its connections: a run's
// Session-Ids are unique even when every connection has the same identity.
func TestRunSessionIDsUnique(t *testing.T) {
	var mu = make(chan struct{}, 1)
	seen := map[string]int{}
	_, addr := startServer(t, ServerConfig{Observe: func(m wire.Msg) {
		a, _ := m.Find(wire.AVPSessionID, 0)
		mu <- struct{}{}
		seen[string(a.Data)]++
		<-mu
	}})
	r := run(t, ClientConfig{Addr: addr, Conns: 3, InFlight: 30, Count: 3000, Mix: mustMix(t, MixConfig{Name: MixAAR})})
	if r.Answered != 3000 || len(seen) != 3000 {
		t.Errorf("answered %d, %d distinct Session-Ids", r.Answered, len(seen))
	}
}
