package admin

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestClientDecodes(t *testing.T) {
	f := newFake(t)
	s := startServer(t, Config{Token: testToken}, f)
	ctx := context.Background()
	c := &Client{Addr: s.Addr(), Token: testToken}

	ps, err := c.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantPeers := []PeerView{
		{Identity: "hss1.example.net", Realm: "example.net", Address: "10.0.0.1:3868", Role: "initiator",
			Configured: true, TLS: true, State: "I-Open", Watchdog: "OKAY", Applications: []uint32{16777251, 0xffffffff},
			Product: "hss", OriginStateID: 7, Since: since},
		{Identity: "MME.example.org", Realm: "example.org", State: "Closed", Watchdog: "DOWN",
			Applications: []uint32{}, LastError: "dial: connection refused"},
	}
	if !reflect.DeepEqual(ps, wantPeers) {
		t.Errorf("Peers =\n%+v\nwant\n%+v", ps, wantPeers)
	}

	p, err := c.Peer(ctx, "HSS1.example.net")
	if err != nil || !reflect.DeepEqual(p, wantPeers[0]) {
		t.Errorf("Peer = %+v, %v", p, err)
	}
	if _, err := c.Peer(ctx, "nobody.example.net"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Peer(unknown) = %v, want ErrNotFound", err)
	}

	rs, err := c.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	two := 2
	wantRoutes := []RouteView{
		{Name: "hss", Realm: "example.net", Application: "16777251", Commands: []uint32{316, 318}, Action: "relay",
			Peers:   []RoutePeerView{{"hss1.example.net", 1, 10}, {"hss2.example.net", 2, 1}},
			Timeout: "1.5s", Retries: &two, Sticky: true},
		{Name: "moved", Realm: "old.example.net", Application: "*", Commands: []uint32{}, Action: "redirect",
			Peers: []RoutePeerView{}, Redirect: &RedirectView{Hosts: []string{"aaa://new.example.net:3868"}, Usage: 2, MaxCacheTime: 3600}},
		{Name: "route2", Realm: "*", Application: "*", Commands: []uint32{}, OriginHost: "pcrf.example.org",
			Action: "local", Peers: []RoutePeerView{}},
	}
	if !reflect.DeepEqual(rs, wantRoutes) {
		t.Errorf("Routes =\n%+v\nwant\n%+v", rs, wantRoutes)
	}

	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 10 || st.Forwarded != 9 || st.Timeouts != 1 || st.LocalResults["3002"] != 0 || len(st.LocalResults) != 13 {
		t.Errorf("Stats = %+v", st)
	}

	ok, reason, err := c.Ready(ctx)
	if err != nil || !ok || reason != "ready" {
		t.Errorf("Ready = %v %q %v", ok, reason, err)
	}

	nr, err := c.Reload(ctx)
	if err != nil || !reflect.DeepEqual(nr, []string{"listen"}) {
		t.Errorf("Reload = %v, %v", nr, err)
	}
	f.needRestart = nil
	nr, err = c.Reload(ctx)
	if err != nil || nr == nil || len(nr) != 0 {
		t.Errorf("Reload with nothing to restart = %#v, %v (want an empty list)", nr, err)
	}

	if err := c.Disconnect(ctx, "hss1.example.net"); err != nil {
		t.Errorf("Disconnect = %v", err)
	}
	if err := c.Disconnect(ctx, "nobody.example.net"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Disconnect(unknown) = %v, want ErrNotFound", err)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	open := startServer(t, Config{}, newFake(t))
	if _, err := (&Client{Addr: open.Addr(), Token: testToken}).Reload(ctx); !errors.Is(err, ErrForbidden) {
		t.Errorf("Reload without a configured token = %v, want ErrForbidden", err)
	}
	guarded := startServer(t, Config{Token: testToken}, newFake(t))
	for _, tok := range []string{"", "wrong"} {
		err := (&Client{Addr: "http://" + guarded.Addr() + "/", Token: tok}).Disconnect(ctx, "hss1.example.net")
		var e *Error
		if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &e) || e.Message == "" {
			t.Errorf("token %q: Disconnect = %v, want ErrUnauthorized", tok, err)
		}
	}
	// A server that is not the admin API: the error carries the status.
	s := startServer(t, Config{}, newFake(t))
	s.Handle("GET /v1/elsewhere/", http.NotFoundHandler())
	c := &Client{Addr: s.Addr(), HTTP: &http.Client{Timeout: time.Second}}
	if err := c.do(ctx, http.MethodGet, "/v1/elsewhere/x", nil, http.StatusOK); !errors.Is(err, ErrNotFound) {
		t.Errorf("plain-text 404 = %v", err)
	}
	// Nothing listening.
	addr := s.Addr()
	s.Shutdown(ctx)
	if _, err := (&Client{Addr: addr}).Peers(ctx); err == nil {
		t.Error("Peers with nothing listening succeeded")
	}
}
