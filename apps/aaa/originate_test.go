package aaa

import (
	"errors"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
)

func TestAbortAndReAuth(t *testing.T) {
	a := startAgent(t, testConfig(t), "127.0.0.1:0")
	n := dialNAS(t, a.addr(), "nas.client.test")

	open := func(sid string) {
		t.Helper()
		if ans := n.call(t, n.aar(sid, LabUser, 3, pap(LabPassword))); resultOf(ans) != 2001 {
			t.Fatalf("AAR: %s", describe(ans))
		}
	}
	received := func(code uint32, sid string) *diam.Message {
		t.Helper()
		select {
		case m := <-n.reqs:
			if m.Header.CommandCode != code || str(find(m.AVP, avp.SessionID)) != sid {
				t.Fatalf("NAS received command %d for %q, want %d for %q", m.Header.CommandCode, str(find(m.AVP, avp.SessionID)), code, sid)
			}
			if h := str(find(m.AVP, avp.DestinationHost)); h != n.host {
				t.Errorf("Destination-Host %q", h)
			}
			if h := str(find(m.AVP, avp.OriginHost)); h != draHost {
				t.Errorf("Origin-Host %q", h)
			}
			if app, _ := u32(find(m.AVP, avp.AuthApplicationID)); app != AppID || m.Header.ApplicationID != AppID {
				t.Errorf("application %d/%d", app, m.Header.ApplicationID)
			}
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("NAS received nothing")
			return nil
		}
	}

	t.Run("RAR answered 2001 keeps the session", func(t *testing.T) {
		open("s;rar")
		if err := a.srv.ReAuth("s;rar"); err != nil {
			t.Fatal(err)
		}
		m := received(cmdReAuth, "s;rar")
		if v, ok := u32(find(m.AVP, avp.ReAuthRequestType)); !ok || v != reAuthAuthorizeOnly {
			t.Errorf("Re-Auth-Request-Type %d %v", v, ok)
		}
		if _, ok := a.srv.Session("s;rar"); !ok {
			t.Error("session released after RAA 2001")
		}
	})
	t.Run("ASR answered 2001 releases the session", func(t *testing.T) {
		open("s;asr")
		if err := a.srv.Abort("s;asr"); err != nil {
			t.Fatal(err)
		}
		received(cmdAbortSession, "s;asr")
		if _, ok := a.srv.Session("s;asr"); ok {
			t.Error("session kept after ASA 2001")
		}
		// The NAS then sends its STR (RFC 6733 §8.5.1).
		if sta := n.call(t, n.str("s;asr")); resultOf(sta) != 2001 || str(find(sta.AVP, avp.UserName)) != LabUser {
			t.Errorf("STR after ASA 2001: %s, want 2001 with User-Name", describe(sta))
		}
	})
	t.Run("ASR refused keeps the session", func(t *testing.T) {
		open("s;asr;busy")
		n.code.Store(5012)
		defer n.code.Store(2001)
		if err := a.srv.Abort("s;asr;busy"); err == nil {
			t.Error("no error for ASA 5012")
		}
		received(cmdAbortSession, "s;asr;busy")
		if _, ok := a.srv.Session("s;asr;busy"); !ok {
			t.Error("session released after ASA 5012")
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		if err := a.srv.Abort("s;none"); !errors.Is(err, ErrUnknownSession) {
			t.Errorf("Abort: %v", err)
		}
		if err := a.srv.ReAuth("s;none"); !errors.Is(err, ErrUnknownSession) {
			t.Errorf("ReAuth: %v", err)
		}
	})
	t.Run("NAS gone", func(t *testing.T) {
		open("s;gone")
		n.close()
		waitFor(t, "NAS disconnected", func() bool {
			p := a.m.Peer(n.host)
			return p == nil || p.Active() == nil
		})
		if err := a.srv.Abort("s;gone"); err == nil {
			t.Error("no error for an unreachable NAS")
		}
		if _, ok := a.srv.Session("s;gone"); !ok {
			t.Error("session released although the NAS never answered")
		}
	})
}
