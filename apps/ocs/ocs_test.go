package ocs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dra-project/dra/wire"
	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

const msisdn = "491700000001"

// octetsConfig provisions one E.164 account with balance octets and a
// grant of grant octets.
func octetsConfig(t testing.TB, balance, grant uint64) Config {
	cfg := testConfig(t)
	cfg.LabMode = false
	cfg.DefaultGrant.Octets = grant
	cfg.Accounts = []AccountConfig{{Type: "end_user_e164", Data: msisdn, Balance: Balance{Octets: balance, Units: 1000}}}
	return cfg
}

func available(t testing.TB, s *Server) Balance {
	t.Helper()
	info, ok := s.Account(0, msisdn)
	if !ok {
		t.Fatal("account missing")
	}
	return info.Available
}

func TestCallFlow(t *testing.T) {
	st := startStack(t, octetsConfig(t, 1_000_000, 100_000))
	c := newClient(t, st.addr)
	sid := "pgw;flow;1"
	steps := []struct {
		name      string
		typ, num  uint32
		rsu       bool
		used      uint64
		granted   uint64
		available uint64
	}{
		{"initial", requestInitial, 0, true, 0, 100_000, 900_000},
		{"update 1", requestUpdate, 1, true, 30_000, 100_000, 870_000},
		{"update 2", requestUpdate, 2, true, 50_000, 100_000, 820_000},
		{"termination", requestTermination, 3, false, 20_000, 0, 900_000},
	}
	for _, s := range steps {
		var rsu *diam.AVP
		if s.rsu {
			rsu = emptyRSU()
		}
		a := c.call(t, ccrMsg(sid, s.typ, s.num, subAVP(0, msisdn), msccReqAVP(10, rsu, s.used)))
		if code := resultCode(a); code != 2001 {
			t.Fatalf("%s: Result-Code %d", s.name, code)
		}
		if n, err := a.FindAVP(avp.CCRequestNumber, 0); err != nil || n.Data.(datatype.Unsigned32) != datatype.Unsigned32(s.num) {
			t.Errorf("%s: CC-Request-Number not echoed: %v", s.name, n)
		}
		for _, code := range []uint32{avp.SessionID, avp.OriginHost, avp.AuthApplicationID, avp.CCRequestType, avp.CCSessionFailover, avp.CreditControlFailureHandling} {
			if _, err := a.FindAVP(code, 0); err != nil {
				t.Errorf("%s: AVP %d missing", s.name, code)
			}
		}
		if a.AVP[0].Code != avp.SessionID {
			t.Errorf("%s: Session-Id not first", s.name)
		}
		ms := msccsOf(a)
		if len(ms) != 1 || ms[0].rg != 10 || ms[0].code != 2001 || ms[0].granted != s.granted || ms[0].fui {
			t.Errorf("%s: MSCC %s, want granted %d", s.name, fmtMSCC(ms), s.granted)
		}
		if got := available(t, st.srv).Octets; got != s.available {
			t.Errorf("%s: available %d, want %d", s.name, got, s.available)
		}
	}
	info, _ := st.srv.Account(0, msisdn)
	if info.Used.Octets != 100_000 || info.Reserved.Octets != 0 || info.Sessions != 0 {
		t.Errorf("after the call: %+v", info)
	}
	a := c.call(t, ccrMsg(sid, requestUpdate, 4, msccReqAVP(10, emptyRSU(), 0)))
	if code := resultCode(a); code != 5002 {
		t.Errorf("update after termination: %d, want 5002", code)
	}
}

func TestDuplicateUpdateIsNotChargedTwice(t *testing.T) {
	st := startStack(t, octetsConfig(t, 1_000_000, 100_000))
	c := newClient(t, st.addr)
	c.call(t, ccrMsg("s;dup", requestInitial, 0, subAVP(0, msisdn), msccReqAVP(1, emptyRSU(), 0)))
	for range 2 {
		a := c.call(t, ccrMsg("s;dup", requestUpdate, 1, msccReqAVP(1, emptyRSU(), 40_000)))
		if ms := msccsOf(a); resultCode(a) != 2001 || len(ms) != 1 || ms[0].granted != 100_000 {
			t.Fatalf("update: %d %s", resultCode(a), fmtMSCC(ms))
		}
	}
	if got := available(t, st.srv).Octets; got != 1_000_000-40_000-100_000 {
		t.Errorf("available %d after a duplicate update", got)
	}
}

func TestEventDirectDebit(t *testing.T) {
	st := startStack(t, octetsConfig(t, 1_000_000, 100_000))
	c := newClient(t, st.addr)
	units := func(code uint32, n uint64) *diam.AVP {
		return diam.NewAVP(code, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.CCServiceSpecificUnits, avp.Mbit, 0, datatype.Unsigned64(n))}})
	}
	tests := []struct {
		name    string
		action  uint32
		amount  uint64
		code    uint32
		balance uint64 // units available afterwards
		check   int    // Check-Balance-Result expected, -1 none
	}{
		{"debit", actionDirectDebiting, 300, 2001, 700, -1},
		{"refund", actionRefundAccount, 100, 2001, 800, -1},
		{"check enough", actionCheckBalance, 800, 2001, 800, enoughCredit},
		{"check not enough", actionCheckBalance, 801, 2001, 800, noCredit},
		{"price", actionPriceEnquiry, 5, 2001, 800, -1},
		{"debit too much", actionDirectDebiting, 801, resultCreditLimitReached, 800, -1},
		{"debit all", actionDirectDebiting, 800, 2001, 0, -1},
		{"check empty", actionCheckBalance, 1, 2001, 0, noCredit},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := []*diam.AVP{subAVP(0, msisdn), requestedAction(tt.action)}
			if tt.amount > 0 {
				extra = append(extra, units(avp.RequestedServiceUnit, tt.amount))
			}
			a := c.call(t, ccrMsg(fmt.Sprintf("s;ev;%d", i), requestEvent, 0, extra...))
			if code := resultCode(a); code != tt.code {
				t.Fatalf("Result-Code %d, want %d", code, tt.code)
			}
			if got := available(t, st.srv).Units; got != tt.balance {
				t.Errorf("units %d, want %d", got, tt.balance)
			}
			cbr, err := a.FindAVP(avp.CheckBalanceResult, 0)
			switch {
			case tt.check < 0 && err == nil:
				t.Error("unexpected Check-Balance-Result")
			case tt.check >= 0 && (err != nil || cbr.Data.(datatype.Enumerated) != datatype.Enumerated(tt.check)):
				t.Errorf("Check-Balance-Result %v, want %d", cbr, tt.check)
			}
			if tt.action == actionDirectDebiting && tt.code == 2001 {
				if gsu, err := a.FindAVP(avp.GrantedServiceUnit, 0); err != nil || parseServiceUnit(gsu).amt[unitUnits] != tt.amount {
					t.Errorf("Granted-Service-Unit %v", gsu)
				}
			}
			if tt.action == actionPriceEnquiry {
				if _, err := a.FindAVP(avp.CostInformation, 0); err != nil {
					t.Error("Cost-Information missing")
				}
			}
		})
	}
}

func TestBalanceExhaustion(t *testing.T) {
	for _, action := range []string{"terminate", "redirect", "restrict_access"} {
		t.Run(action, func(t *testing.T) {
			cfg := octetsConfig(t, 250_000, 100_000)
			cfg.FinalUnitAction = action
			cfg.RedirectServerAddress = "http://topup.lab.test/"
			st := startStack(t, cfg)
			c := newClient(t, st.addr)
			sid := "s;exh;" + action
			steps := []struct {
				typ, num uint32
				used     uint64
				granted  uint64
				fui      bool
				code     uint32
			}{
				{requestInitial, 0, 0, 100_000, false, 2001},
				{requestUpdate, 1, 100_000, 100_000, false, 2001},
				{requestUpdate, 2, 100_000, 50_000, true, 2001},
				{requestUpdate, 3, 50_000, 0, false, resultCreditLimitReached},
			}
			for i, s := range steps {
				a := c.call(t, ccrMsg(sid, s.typ, s.num, subAVP(0, msisdn), msccReqAVP(7, emptyRSU(), s.used)))
				ms := msccsOf(a)
				if resultCode(a) != 2001 || len(ms) != 1 {
					t.Fatalf("step %d: %d %s", i, resultCode(a), fmtMSCC(ms))
				}
				if m := ms[0]; m.code != s.code || m.granted != s.granted || m.fui != s.fui || (m.fui && m.action != finalActions[action]) {
					t.Fatalf("step %d: %s, want code %d granted %d fui %v", i, fmtMSCC(ms), s.code, s.granted, s.fui)
				}
			}
			info, _ := st.srv.Account(0, msisdn)
			if info.Available.Octets != 0 || info.Used.Octets != 250_000 || info.Reserved.Octets != 0 {
				t.Errorf("account %+v", info)
			}
		})
	}
}

// failedAVPCode returns the code of the AVP inside Failed-AVP, or 0.
func failedAVPCode(t *testing.T, a *diam.Message) uint32 {
	t.Helper()
	f, err := a.FindAVP(avp.FailedAVP, 0)
	if err != nil {
		return 0
	}
	kids := group(f)
	if len(kids) == 0 {
		return 0
	}
	return kids[0].Code
}

func TestErrors(t *testing.T) {
	cfg := octetsConfig(t, 1000, 100)
	cfg.Accounts = append(cfg.Accounts, AccountConfig{Type: "imsi", Data: "001010000000009", Blocked: true, Balance: Balance{Octets: 1000}})
	st := startStack(t, cfg)
	c := newClient(t, st.addr)
	noNumber := ccrMsg("s;e;2", requestInitial, 0, subAVP(0, msisdn))
	noNumber.DeleteAVP(avp.CCRequestNumber, 0)
	abort := diam.NewRequest(274, AppID, dict.Default)
	abort.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("s;e;9"))
	abort.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(clientHost))
	abort.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("client.test"))
	abort.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(agentRealm))
	abort.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	tests := []struct {
		name   string
		req    *diam.Message
		code   uint32
		failed uint32
	}{
		{"missing Subscription-Id", ccrMsg("s;e;1", requestInitial, 0, msccReqAVP(1, emptyRSU(), 0)), 5005, avp.SubscriptionID},
		{"missing Subscription-Id in event", ccrMsg("s;e;1b", requestEvent, 0, requestedAction(0)), 5005, avp.SubscriptionID},
		{"missing CC-Request-Number", noNumber, 5005, avp.CCRequestNumber},
		{"bad CC-Request-Type", ccrMsg("s;e;3", 9, 0, subAVP(0, msisdn)), 5004, avp.CCRequestType},
		{"bad Subscription-Id-Type", ccrMsg("s;e;4", requestInitial, 0, subAVP(9, msisdn)), 5004, avp.SubscriptionIDType},
		{"unknown user", ccrMsg("s;e;5", requestInitial, 0, subAVP(0, "49999"), msccReqAVP(1, emptyRSU(), 0)), resultUserUnknown, 0},
		{"unknown user event", ccrMsg("s;e;5b", requestEvent, 0, subAVP(1, "00101"), requestedAction(2)), resultUserUnknown, 0},
		{"blocked", ccrMsg("s;e;6", requestInitial, 0, subAVP(1, "001010000000009"), msccReqAVP(1, emptyRSU(), 0)), resultEndUserServiceDenied, 0},
		{"unknown session", ccrMsg("s;e;7", requestUpdate, 1, msccReqAVP(1, emptyRSU(), 10)), 5002, 0},
		{"debit without amount", ccrMsg("s;e;8", requestEvent, 0, subAVP(0, msisdn), requestedAction(0)), 5005, avp.RequestedServiceUnit},
		{"unknown command", abort, 3001, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := c.call(t, tt.req)
			if code := resultCode(a); code != tt.code {
				t.Fatalf("Result-Code %d, want %d", code, tt.code)
			}
			if got := failedAVPCode(t, a); got != tt.failed {
				t.Errorf("Failed-AVP holds %d, want %d", got, tt.failed)
			}
			if (a.Header.CommandFlags&diam.ErrorFlag != 0) != (tt.code/1000 == 3) {
				t.Errorf("E bit %v for %d", a.Header.CommandFlags&diam.ErrorFlag != 0, tt.code)
			}
			if h, err := a.FindAVP(avp.OriginHost, 0); err != nil || str(h) != agentHost {
				t.Errorf("Origin-Host %v", h)
			}
		})
	}
	if info, _ := st.srv.Account(0, msisdn); info.Available.Octets != 1000 {
		t.Errorf("errors changed the balance: %+v", info)
	}
}

func TestLabModeCreatesAccount(t *testing.T) {
	cfg := testConfig(t)
	cfg.StartingBalance = Balance{Octets: 5000}
	cfg.DefaultGrant.Octets = 2000
	st := startStack(t, cfg)
	c := newClient(t, st.addr)
	a := c.call(t, ccrMsg("s;lab", requestInitial, 0, subAVP(3, "user@lab.test"), msccReqAVP(1, emptyRSU(), 0)))
	if ms := msccsOf(a); resultCode(a) != 2001 || len(ms) != 1 || ms[0].granted != 2000 {
		t.Fatalf("%d %s", resultCode(a), fmtMSCC(ms))
	}
	if info, ok := st.srv.Account(3, "user@lab.test"); !ok || info.Available.Octets != 3000 {
		t.Errorf("account %+v %v", info, ok)
	}
}

// TestConcurrentSessions runs many sessions of one subscriber at once:
// the balance is conserved, never overspent, and ends at initial − used.
func TestConcurrentSessions(t *testing.T) {
	const (
		initial  = 1_000_000
		grant    = 7_000
		sessions = 50
	)
	st := startStack(t, octetsConfig(t, initial, grant))
	c := newClient(t, st.addr)
	var used atomic.Uint64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() { // conservation: available + reserved + used == initial
		defer watch.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			info, _ := st.srv.Account(0, msisdn)
			if sum := info.Available.Octets + info.Reserved.Octets + info.Used.Octets; sum != initial {
				t.Errorf("not conserved: %+v", info)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			sid := fmt.Sprintf("pgw;conc;%d", i)
			a, err := c.send(ccrMsg(sid, requestInitial, 0, subAVP(0, msisdn), msccReqAVP(1, emptyRSU(), 0)), 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			granted := msccsOf(a)[0].granted
			num := uint32(1)
			for granted > 0 {
				use := granted - uint64(i)%(granted/2+1) // at most the grant
				a, err = c.send(ccrMsg(sid, requestUpdate, num, msccReqAVP(1, emptyRSU(), use)), 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				used.Add(use)
				num++
				ms := msccsOf(a)
				if len(ms) != 1 {
					t.Errorf("update: %s", fmtMSCC(ms))
					return
				}
				granted = ms[0].granted
			}
			if _, err := c.send(ccrMsg(sid, requestTermination, num), 10*time.Second); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(stop)
	watch.Wait()
	info, _ := st.srv.Account(0, msisdn)
	if info.Used.Octets != used.Load() || info.Available.Octets != initial-used.Load() || info.Reserved.Octets != 0 {
		t.Errorf("account %+v, reported used %d", info, used.Load())
	}
	if used.Load() > initial {
		t.Errorf("overspent: %d", used.Load())
	}
	if info.Sessions != 0 {
		t.Errorf("%d sessions left", info.Sessions)
	}
}

func TestReAuth(t *testing.T) {
	cfg := octetsConfig(t, 1_000_000, 1000)
	cfg.ValidityTime = time.Second
	st := startStack(t, cfg)
	raa := make(chan uint32, 4)
	st.srv.raaHook = func(_ string, code uint32) { raa <- code }
	c := newClient(t, st.addr)
	if err := st.srv.ReAuth("nope"); err == nil {
		t.Error("ReAuth of an unknown session succeeded")
	}
	c.call(t, ccrMsg("s;rar", requestInitial, 0, subAVP(0, msisdn), msccReqAVP(1, emptyRSU(), 0)))
	check := func(why string) {
		t.Helper()
		select {
		case m := <-c.rars:
			if sid, _ := m.FindAVP(avp.SessionID, 0); sid == nil || str(sid) != "s;rar" {
				t.Errorf("%s: RAR Session-Id %v", why, sid)
			}
			if dh, _ := m.FindAVP(avp.DestinationHost, 0); dh == nil || str(dh) != clientHost {
				t.Errorf("%s: RAR Destination-Host %v", why, dh)
			}
			if oh, _ := m.FindAVP(avp.OriginHost, 0); oh == nil || str(oh) != agentHost {
				t.Errorf("%s: RAR Origin-Host %v", why, oh)
			}
			if rt, _ := m.FindAVP(avp.ReAuthRequestType, 0); rt == nil || rt.Data.(datatype.Enumerated) != reAuthAuthorizeOnly {
				t.Errorf("%s: Re-Auth-Request-Type %v", why, rt)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no RAR", why)
		}
		select {
		case code := <-raa:
			if code != 2001 {
				t.Errorf("%s: RAA %d", why, code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no RAA", why)
		}
	}
	if err := st.srv.ReAuth("s;rar"); err != nil {
		t.Fatal(err)
	}
	check("operator")
	check("validity expiry") // Validity-Time 1 s passes without a CCR-U
}

func TestSessionTimeoutReleasesReservation(t *testing.T) {
	cfg := octetsConfig(t, 10_000, 4_000)
	cfg.SessionTimeout = 100 * time.Millisecond
	st := startStack(t, cfg)
	c := newClient(t, st.addr)
	c.call(t, ccrMsg("s;to", requestInitial, 0, subAVP(0, msisdn), msccReqAVP(1, emptyRSU(), 0)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := st.srv.Account(0, msisdn)
		if info.Sessions == 0 && info.Available.Octets == 10_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reservation not released: %+v", info)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRestartKeepsReservations closes and reopens the server on the same
// directory in the middle of a session.
func TestRestartKeepsReservations(t *testing.T) {
	cfg := octetsConfig(t, 100_000, 10_000)
	cfg.SnapshotRecords = 3 // exercise snapshots and log rotation
	st, err := startAgent(cfg, quietLogger(testWriter{t}), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialClient(st.addr, clientHost)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		c.call(t, ccrMsg(fmt.Sprintf("s;r;%d", i), requestInitial, 0, subAVP(0, msisdn), msccReqAVP(1, emptyRSU(), 0)))
	}
	c.call(t, ccrMsg("s;r;0", requestUpdate, 1, msccReqAVP(1, emptyRSU(), 3_000)))
	c.conn.Close()
	st.stop()

	st = startStack(t, cfg)
	info, _ := st.srv.Account(0, msisdn)
	if info.Sessions != 5 || info.Reserved.Octets != 50_000 || info.Used.Octets != 3_000 || info.Available.Octets != 47_000 {
		t.Fatalf("after restart: %+v", info)
	}
	c = newClient(t, st.addr)
	a := c.call(t, ccrMsg("s;r;0", requestTermination, 2, msccReqAVP(1, nil, 1_000)))
	if resultCode(a) != 2001 {
		t.Fatalf("termination after restart: %d", resultCode(a))
	}
	if got := available(t, st.srv).Octets; got != 56_000 {
		t.Errorf("available %d, want 56000", got)
	}
}

// A resent EVENT (same Session-Id and CC-Request-Number, T flag) is
// answered as the first was and not charged again; a resent CCR-T gets
// the CCR-T's answer, not 5002; a new EVENT in the same session is a new
// charge.
func TestResentEventAndTerminationAreNotChargedTwice(t *testing.T) {
	st := startStack(t, octetsConfig(t, 1_000_000, 100_000))
	c := newClient(t, st.addr)
	units := diam.NewAVP(avp.RequestedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.CCServiceSpecificUnits, avp.Mbit, 0, datatype.Unsigned64(300))}})
	debit := func(num uint32, retransmit bool) *diam.Message {
		m := ccrMsg("s;ev;dup", requestEvent, num, subAVP(0, msisdn), requestedAction(actionDirectDebiting), units)
		if retransmit {
			m.Header.CommandFlags |= diam.RetransmittedFlag
		}
		return c.call(t, m)
	}
	first := debit(0, false)
	again := debit(0, true)
	if resultCode(first) != 2001 || resultCode(again) != 2001 {
		t.Fatalf("EVENT %d, resent %d", resultCode(first), resultCode(again))
	}
	if got := available(t, st.srv).Units; got != 700 {
		t.Errorf("units %d after an EVENT and its retransmission, want 700", got)
	}
	if again.Header.EndToEndID == first.Header.EndToEndID {
		t.Error("the resent answer kept the first request's End-to-End id")
	}
	debit(1, false)
	if got := available(t, st.srv).Units; got != 400 {
		t.Errorf("units %d after a second EVENT, want 400", got)
	}

	c.call(t, ccrMsg("s;t;dup", requestInitial, 0, subAVP(0, msisdn), msccReqAVP(1, emptyRSU(), 0)))
	term := c.call(t, ccrMsg("s;t;dup", requestTermination, 1, msccReqAVP(1, nil, 40_000)))
	resent := ccrMsg("s;t;dup", requestTermination, 1, msccReqAVP(1, nil, 40_000))
	resent.Header.CommandFlags |= diam.RetransmittedFlag
	again = c.call(t, resent)
	if resultCode(term) != 2001 || resultCode(again) != 2001 {
		t.Fatalf("CCR-T %d, resent %d", resultCode(term), resultCode(again))
	}
	if got := available(t, st.srv).Octets; got != 1_000_000-40_000 {
		t.Errorf("octets %d after CCR-T and its retransmission, want %d", got, 1_000_000-40_000)
	}
	// A later CCR-U for the ended session is still unknown.
	if a := c.call(t, ccrMsg("s;t;dup", requestUpdate, 2, msccReqAVP(1, emptyRSU(), 0))); resultCode(a) != wire.ResultUnknownSessionID {
		t.Errorf("CCR-U after CCR-T: %d, want 5002", resultCode(a))
	}
}

func TestDoneCacheBounds(t *testing.T) {
	var c doneCache
	t0 := time.Unix(1000, 0)
	for i := range doneMax + 10 {
		c.put(fmt.Sprint(i), 0, []byte{byte(i)}, t0, nil)
	}
	if len(c.m) != doneMax {
		t.Errorf("%d entries, want at most %d", len(c.m), doneMax)
	}
	if a, _ := c.get("0", 0, t0); a != nil {
		t.Error("the oldest entry should be gone")
	}
	if a, _ := c.get(fmt.Sprint(doneMax+9), 0, t0); a == nil {
		t.Error("the newest entry should be kept")
	}
	if st := c.states(t0); len(st) != doneMax || st[0].Sid != "10" || st[len(st)-1].Sid != fmt.Sprint(doneMax+9) {
		t.Errorf("states: %d entries, oldest first", len(st))
	}
	if a, _ := c.get(fmt.Sprint(doneMax+9), 0, t0.Add(doneTTL+time.Second)); a != nil {
		t.Error("an entry older than doneTTL was returned")
	}
}

// A damaged frame with more log after it is refused at start (replaying
// around it would restore spent credit); a zero-filled or cut tail is not.
func TestLogCorruptionInTheMiddle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func([]byte) []byte
		refused bool
	}{
		{"zero fill after the end", func(b []byte) []byte { return append(b, make([]byte, 512)...) }, false},
		{"last frame cut", func(b []byte) []byte { return b[:len(b)-3] }, false},
		{"first frame damaged", func(b []byte) []byte { b[frameHeader+2] ^= 0xff; return b }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := octetsConfig(t, 100_000, 10_000)
			st, err := startAgent(cfg, quietLogger(testWriter{t}), "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			c, err := dialClient(st.addr, clientHost)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				c.call(t, ccrMsg(fmt.Sprintf("s;c;%d", i), requestInitial, 0, subAVP(0, msisdn), msccReqAVP(1, emptyRSU(), 0)))
			}
			// Copy the data directory while the server runs: the snapshot it
			// wrote at start and the segment holding the three CCRs (a
			// clean stop would fold them into a new snapshot).
			dir := t.TempDir()
			ents, err := os.ReadDir(cfg.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			var seg string
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(cfg.DataDir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(e.Name(), "wal-") && len(b) > 0 {
					seg = e.Name()
					b = tc.damage(b)
				}
				if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c.conn.Close()
			st.stop()
			if seg == "" {
				t.Fatal("no segment with records")
			}
			cfg.DataDir = dir
			srv, err := New(cfg, Identity{OriginHost: "ocs.test", OriginRealm: "test"}, nil, quietLogger(testWriter{t}))
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), "corrupt in the middle") {
					if srv != nil {
						srv.Close()
					}
					t.Fatalf("started on a corrupt log (err %v)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			srv.Close()
		})
	}
}
