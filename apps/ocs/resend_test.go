package ocs

import (
	"bytes"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/wire"
)

// resendEnv makes TestHelperProcess run resendConfig.
const resendEnv = "OCS_CRASH_RESEND"

// resendConfig is the account of the resend tests: 500,000,000 octets,
// no lab mode.
func resendConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.LabMode = false
	cfg.DefaultGrant.Octets = 1_000_000
	cfg.Accounts = []AccountConfig{
		{Type: "end_user_e164", Data: msisdn, Balance: Balance{Octets: 500_000_000, Units: 1000}},
		{Type: "end_user_e164", Data: msisdn2, Balance: Balance{Octets: 500_000_000, Units: 1000}},
	}
	return cfg
}

// msisdn2 is a second account of resendConfig.
const msisdn2 = "491700000002"

// retransmit marks m as a retransmission (T flag) and returns it.
func retransmit(m *diam.Message) *diam.Message {
	m.Header.CommandFlags |= diam.RetransmittedFlag
	return m
}

// ccrU is CCR-U/T number num reporting used octets and, when rsu, asking
// for more (single-service charging, top-level units).
func ccrU(sid string, typ, num uint32, used uint64, rsu bool) *diam.Message {
	extra := []*diam.AVP{octets(avp.UsedServiceUnit, used)}
	if rsu {
		extra = append(extra, octets(avp.RequestedServiceUnit, 100_000))
	}
	return ccrMsg(sid, typ, num, extra...)
}

// canonical is an answer's encoding with its hop-by-hop and end-to-end
// identifiers zeroed: a resent answer must equal the first but for them.
func canonical(t *testing.T, m *diam.Message) []byte {
	t.Helper()
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	clear(b[12:20])
	return b
}

func sameAnswer(t *testing.T, what string, first, again *diam.Message) {
	t.Helper()
	if !bytes.Equal(canonical(t, first), canonical(t, again)) {
		t.Errorf("%s: the resent request got another answer:\nfirst %v\nagain %v", what, first, again)
	}
}

// accountsAfter opens the OCS on dir and returns its two accounts.
func accountsAfter(t *testing.T, dir string) (AccountInfo, AccountInfo) {
	t.Helper()
	srv, err := New(resendConfig(dir), Identity{OriginHost: agentHost, OriginRealm: agentRealm}, nil, quietLogger(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, _ := srv.Account(0, msisdn)
	b, _ := srv.Account(0, msisdn2)
	return a, b
}

// TestResendAfterRestartIsNotChargedAgain: a client resends (T flag) the
// requests whose answers a crash kept from it. After SIGKILL or SIGTERM
// and a restart on the same data directory, a resent CCR-U, CCR-T and
// EVENT are answered as the first time and charged once.
func TestResendAfterRestartIsNotChargedAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGKILL", syscall.SIGKILL},
		{"SIGTERM", syscall.SIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ch := startChild(t, dir, resendEnv+"=1")
			c := newClient(t, ch.addr)
			const sid, tsid, esid, isid = "pgw;resend;1", "pgw;resend;t", "pgw;resend;ev", "pgw;resend;i"

			if a := c.call(t, ccrMsg(sid, requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 100_000))); resultCode(a) != 2001 {
				t.Fatalf("CCR-I: %d", resultCode(a))
			}
			upd := c.call(t, ccrU(sid, requestUpdate, 1, 40_000, true))
			if resultCode(upd) != 2001 {
				t.Fatalf("CCR-U: %d", resultCode(upd))
			}
			sameAnswer(t, "CCR-U #1 resent before the restart", upd, c.call(t, retransmit(ccrU(sid, requestUpdate, 1, 40_000, true))))

			c.call(t, ccrMsg(tsid, requestInitial, 0, subAVP(0, msisdn2), octets(avp.RequestedServiceUnit, 100_000)))
			term := c.call(t, ccrU(tsid, requestTermination, 1, 7_000, false))
			ev := c.call(t, ccrMsg(esid, requestEvent, 0, subAVP(0, msisdn2), requestedAction(actionDirectDebiting),
				diam.NewAVP(avp.RequestedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
					diam.NewAVP(avp.CCServiceSpecificUnits, avp.Mbit, 0, datatype.Unsigned64(30))}})))
			ini := c.call(t, ccrMsg(isid, requestInitial, 0, subAVP(0, msisdn2), octets(avp.RequestedServiceUnit, 100_000)))
			if resultCode(term) != 2001 || resultCode(ev) != 2001 || resultCode(ini) != 2001 {
				t.Fatalf("CCR-T %d, EVENT %d, CCR-I %d", resultCode(term), resultCode(ev), resultCode(ini))
			}

			c.conn.Close()
			ch.signal(t, tc.sig)
			ch = startChild(t, dir, resendEnv+"=1")
			c = newClient(t, ch.addr)
			sameAnswer(t, "CCR-U #1 resent after the restart", upd, c.call(t, retransmit(ccrU(sid, requestUpdate, 1, 40_000, true))))
			sameAnswer(t, "CCR-T resent after the restart", term, c.call(t, retransmit(ccrU(tsid, requestTermination, 1, 7_000, false))))
			sameAnswer(t, "EVENT resent after the restart", ev, c.call(t, retransmit(ccrMsg(esid, requestEvent, 0, subAVP(0, msisdn2), requestedAction(actionDirectDebiting),
				diam.NewAVP(avp.RequestedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
					diam.NewAVP(avp.CCServiceSpecificUnits, avp.Mbit, 0, datatype.Unsigned64(30))}})))))
			sameAnswer(t, "CCR-I resent after the restart", ini, c.call(t, retransmit(ccrMsg(isid, requestInitial, 0, subAVP(0, msisdn2), octets(avp.RequestedServiceUnit, 100_000)))))
			c.conn.Close()
			ch.kill(t)

			acct, acct2 := accountsAfter(t, dir)
			used, used2 := acct.Used, acct2.Used
			if acct2.Reserved.Octets != 100_000 || acct2.Sessions != 1 {
				t.Errorf("second account: %d octets reserved in %d sessions, want the CCR-I's 100000 in 1", acct2.Reserved.Octets, acct2.Sessions)
			}
			if used.Octets != 40_000 {
				t.Errorf("used %d octets after CCR-U #1 and its retransmissions, want 40000", used.Octets)
			}
			if used2.Octets != 7_000 || used2.Units != 30 {
				t.Errorf("used %d octets and %d units after a CCR-T, an EVENT and their retransmissions, want 7000 and 30", used2.Octets, used2.Units)
			}
		})
	}
}

// TestLateResendOfEarlierUpdate: a CCR-U resent after a later one was
// answered is neither charged again nor moves the session back; the last
// request's retransmission still gets its answer. So too after a restart.
func TestLateResendOfEarlierUpdate(t *testing.T) {
	cfg := resendConfig(t.TempDir())
	st := startStack(t, cfg)
	c := newClient(t, st.addr)
	const sid = "pgw;late;1"
	c.call(t, ccrMsg(sid, requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 100_000)))
	c.call(t, ccrU(sid, requestUpdate, 1, 40_000, true))
	second := c.call(t, ccrU(sid, requestUpdate, 2, 10_000, true))
	if resultCode(second) != 2001 {
		t.Fatalf("CCR-U #2: %d", resultCode(second))
	}
	used := func(srv *Server) uint64 {
		info, _ := srv.Account(0, msisdn)
		return info.Used.Octets
	}
	if u := used(st.srv); u != 50_000 {
		t.Fatalf("used %d after two updates, want 50000", u)
	}
	late := c.call(t, retransmit(ccrU(sid, requestUpdate, 1, 40_000, true)))
	if code := resultCode(late); code != wire.ResultUnableToComply {
		t.Errorf("late CCR-U #1: Result-Code %d, want %d", code, wire.ResultUnableToComply)
	}
	if n, err := late.FindAVP(avp.CCRequestNumber, 0); err != nil || n.Data.(datatype.Unsigned32) != 1 {
		t.Errorf("late CCR-U #1: CC-Request-Number %v", n)
	}
	if u := used(st.srv); u != 50_000 {
		t.Errorf("used %d after a late resend of CCR-U #1, want 50000", u)
	}
	// The session did not go back to #1: #2 is still the last answered.
	sameAnswer(t, "CCR-U #2 resent", second, c.call(t, retransmit(ccrU(sid, requestUpdate, 2, 10_000, true))))
	if u := used(st.srv); u != 50_000 {
		t.Errorf("used %d after CCR-U #2 resent, want 50000", u)
	}

	c.conn.Close()
	st.stop()
	st = startStack(t, cfg)
	c = newClient(t, st.addr)
	if code := resultCode(c.call(t, retransmit(ccrU(sid, requestUpdate, 1, 40_000, true)))); code != wire.ResultUnableToComply {
		t.Errorf("late CCR-U #1 after a restart: %d", code)
	}
	if code := resultCode(c.call(t, retransmit(ccrMsg(sid, requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 100_000))))); code != wire.ResultUnableToComply {
		t.Errorf("late CCR-I #0 after a restart: %d", code)
	}
	sameAnswer(t, "CCR-U #2 resent after a restart", second, c.call(t, retransmit(ccrU(sid, requestUpdate, 2, 10_000, true))))
	if a := c.call(t, ccrU(sid, requestTermination, 3, 5_000, false)); resultCode(a) != 2001 {
		t.Fatalf("CCR-T #3: %d", resultCode(a))
	}
	if u := used(st.srv); u != 55_000 {
		t.Errorf("used %d at the end, want 55000", u)
	}
}

// waitCommits is how long a test waits for a commit that should not be
// held up.
const waitCommits = 10 * time.Second

// TestConcurrentRetransmissions: copies of one EVENT and of one CCR-U
// arriving together (a client's retransmissions racing the first) are
// charged once and all get the same answer. The agent's workers, keyed by
// Session-Id, serialise them today; the OCS does not rely on it.
func TestConcurrentRetransmissions(t *testing.T) {
	st := startStack(t, resendConfig(t.TempDir()))
	c := newClient(t, st.addr)
	c.call(t, ccrMsg("s;race;u", requestInitial, 0, subAVP(0, msisdn), octets(avp.RequestedServiceUnit, 100_000)))
	for _, tc := range []struct {
		name string
		req  func() *diam.Message
	}{
		{"EVENT", func() *diam.Message {
			return ccrMsg("s;race;ev", requestEvent, 0, subAVP(0, msisdn), requestedAction(actionDirectDebiting),
				diam.NewAVP(avp.RequestedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
					diam.NewAVP(avp.CCServiceSpecificUnits, avp.Mbit, 0, datatype.Unsigned64(30))}}))
		}},
		{"CCR-U", func() *diam.Message { return ccrU("s;race;u", requestUpdate, 1, 40_000, true) }},
	} {
		const copies = 8
		answers := make([]*diam.Message, copies)
		var wg sync.WaitGroup
		for i := range copies {
			wg.Go(func() {
				m := tc.req()
				if i > 0 {
					retransmit(m)
				}
				answers[i] = c.call(t, m)
			})
		}
		wg.Wait()
		for i := 1; i < copies; i++ {
			sameAnswer(t, tc.name, answers[0], answers[i])
		}
	}
	info, _ := st.srv.Account(0, msisdn)
	if info.Used.Units != 30 || info.Used.Octets != 40_000 {
		t.Errorf("used %d units and %d octets, want 30 and 40000", info.Used.Units, info.Used.Octets)
	}
}
