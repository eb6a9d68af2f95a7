package aaa

import (
	"testing"
	"time"
)

func TestSessionExpiry(t *testing.T) {
	t.Run("session timeout, by the expiry loop", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.SessionTimeout = time.Second
		a := startAgent(t, cfg, "127.0.0.1:0")
		n := dialNAS(t, a.addr(), "nas.client.test")
		ans := n.call(t, n.aar("s;exp", LabUser, 3, pap(LabPassword)))
		if resultOf(ans) != 2001 {
			t.Fatalf("AAR: %s", describe(ans))
		}
		if st, _ := u32(find(ans.AVP, 27)); st != 1 {
			t.Errorf("Session-Timeout %d, want 1", st)
		}
		waitFor(t, "expiry", func() bool { _, ok := a.srv.Session("s;exp"); return !ok })
		if ans := n.call(t, n.str("s;exp")); resultOf(ans) != 5002 {
			t.Errorf("STR after expiry: %s", describe(ans))
		}
	})

	t.Run("authorization lifetime plus grace, re-authorization extends", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.ExpiryInterval = time.Hour // driven by hand
		cfg.SessionTimeout = 0
		cfg.AuthorizationLifetime = time.Minute
		cfg.AuthGracePeriod = 10 * time.Second
		srv, err := New(cfg, Identity{OriginHost: draHost, OriginRealm: draRealm}, nil, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		start := time.Now()
		clock := start
		srv.now = func() time.Time { return clock }
		if _, err := srv.authorize("s;life", LabUser, "nas", nasRealm); err != nil {
			t.Fatal(err)
		}
		if n := srv.expire(start.Add(69 * time.Second)); n != 0 {
			t.Fatalf("expired %d within the grace period", n)
		}
		clock = start.Add(50 * time.Second)
		if _, err := srv.authorize("s;life", LabUser, "nas", nasRealm); err != nil {
			t.Fatal(err)
		}
		if n := srv.expire(start.Add(100 * time.Second)); n != 0 {
			t.Fatalf("expired %d after re-authorization", n)
		}
		if n := srv.expire(start.Add(121 * time.Second)); n != 1 {
			t.Fatalf("expired %d, want 1", n)
		}
		if len(srv.Sessions()) != 0 {
			t.Error("session kept")
		}
	})
}
