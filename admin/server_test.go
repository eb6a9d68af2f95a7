package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/routing"
)

const testToken = "s3cret-t0ken"

var since = time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)

// fakeBackend is a Backend with fixed content that records the actions.
type fakeBackend struct {
	peers  []*peers.PeerInfo
	routes []*realm.Route
	stats  routing.Stats

	mu           sync.Mutex
	ready        bool
	reason       string
	reloadErr    error
	needRestart  []string
	reloads      int
	disconnected []string
}

func (f *fakeBackend) Peers() []*peers.PeerInfo { return f.peers }
func (f *fakeBackend) Routes() []*realm.Route   { return f.routes }
func (f *fakeBackend) Stats() *routing.Stats    { return &f.stats }

func (f *fakeBackend) Ready() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready, f.reason
}

func (f *fakeBackend) Reload() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.needRestart, f.reloadErr
}

func (f *fakeBackend) Reloads() ReloadsView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ReloadsView{OK: uint64(f.reloads), Last: since, LastOK: true}
}

func (f *fakeBackend) Refusals() RefusalsView {
	return RefusalsView{Shed: map[string]uint64{"egress_queue": 3}, Unopened: map[string]uint64{"cer_timeout": 2}}
}

func (f *fakeBackend) RunningConfig() any {
	return map[string]any{"peers": []string{"hss1.example.net"}}
}

func (f *fakeBackend) Disconnect(identity string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.peers {
		if strings.EqualFold(p.Identity, identity) {
			if !p.State.Open() {
				return fmt.Errorf("peers: %s is not open", identity)
			}
			f.disconnected = append(f.disconnected, p.Identity)
			return nil
		}
	}
	return fmt.Errorf("%w: %s", peers.ErrUnknownPeer, identity)
}

func newFake(t *testing.T) *fakeBackend {
	t.Helper()
	table, err := realm.Build([]realm.Route{
		{Name: "hss", Realm: "example.net", AppID: 16777251, Commands: []uint32{318, 316}, Action: realm.Relay,
			Peers:   []realm.PeerRef{{Host: "hss2.example.net", Priority: 2}, {Host: "hss1.example.net", Priority: 1, Weight: 10}},
			Timeout: 1500 * time.Millisecond, Retries: 2, Sticky: true},
		{Name: "moved", Realm: "old.example.net", AnyApp: true, Action: realm.Redirect, Retries: -1,
			RedirectHosts: []string{"aaa://new.example.net:3868"}, RedirectUsage: realm.UsageAllRealm},
		{Realm: "*", AnyApp: true, OriginHost: "pcrf.example.org", Action: realm.Local, Retries: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBackend{
		peers: []*peers.PeerInfo{
			{Key: "hss1.example.net", Identity: "hss1.example.net", Realm: "example.net", Addr: "10.0.0.1:3868",
				Role: "initiator", Configured: true, TLS: true, State: peers.StateIOpen, Watchdog: peers.WatchdogOkay,
				Apps: []uint32{16777251, 0xffffffff}, ProductName: "hss", OriginStateID: 7, Since: since},
			{Key: "mme.example.org", Identity: "MME.example.org", Realm: "example.org", Addr: "",
				State: peers.StateClosed, Watchdog: peers.WatchdogDown, LastError: "dial: connection refused"},
		},
		routes:      table.Routes(),
		ready:       true,
		reason:      "ready",
		needRestart: []string{"listen"},
	}
	f.stats.Requests.Add(10)
	f.stats.Forwarded.Add(9)
	f.stats.Timeouts.Add(1)
	return f
}

// startServer runs a server for b on 127.0.0.1:0 until the test ends.
func startServer(t *testing.T, cfg Config, b Backend) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s := New(cfg, b, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func call(t *testing.T, addr, method, path, auth string) answer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(body)}
}

func TestEndpoints(t *testing.T) {
	f := newFake(t)
	s := startServer(t, Config{Token: testToken}, f)
	bearer := "Bearer " + testToken
	tests := []struct {
		name         string
		method, path string
		auth         string
		code         int
		contains     []string
	}{
		{"healthz", "GET", "/healthz", "", 200, []string{`{"status":"ok"}`}},
		{"readyz", "GET", "/readyz", "", 200, []string{`"ready":true`, `"reason":"ready"`}},
		{"peers", "GET", "/v1/peers", bearer, 200, []string{`"identity":"hss1.example.net"`, `"state":"I-Open"`,
			`"watchdog":"OKAY"`, `"applications":[16777251,4294967295]`, `"origin_state_id":7`,
			`"since":"2025-03-01T12:30:00Z"`, `"address":"10.0.0.1:3868"`, `"product":"hss"`, `"tls":true`,
			`"last_error":"dial: connection refused"`, `"applications":[]`}},
		{"peer", "GET", "/v1/peers/hss1.example.net", bearer, 200, []string{`"identity":"hss1.example.net"`}},
		{"peer case-insensitive", "GET", "/v1/peers/mme.EXAMPLE.org", bearer, 200, []string{`"identity":"MME.example.org"`, `"state":"Closed"`}},
		{"peer unknown", "GET", "/v1/peers/nobody.example.net", bearer, 404, []string{`"error":"unknown peer \"nobody.example.net\""`}},
		{"routes", "GET", "/v1/routes", bearer, 200, []string{`"name":"hss"`, `"application":"16777251"`,
			`"commands":[316,318]`, `"action":"relay"`, `"timeout":"1.5s"`, `"retries":2`, `"sticky":true`,
			`"peers":[{"host":"hss1.example.net","priority":1,"weight":10},{"host":"hss2.example.net","priority":2,"weight":1}]`,
			`"application":"*"`, `"redirect":{"hosts":["aaa://new.example.net:3868"],"usage":2,"max_cache_time":3600}`,
			`"retries":null`, `"origin_host":"pcrf.example.org"`, `"name":"route2"`}},
		{"stats", "GET", "/v1/stats", bearer, 200, []string{`"requests":10`, `"forwarded":9`, `"timeouts":1`, `"local_results":{`, `"3002":0`, `"other":0`,
			`"reloads":{"ok":0,"failed":0,"last":"2025-03-01T12:30:00Z","last_ok":true}`,
			`"refusals":{"shed":{"egress_queue":3},"connections_unopened":{"cer_timeout":2}}`}},
		{"config", "GET", "/v1/config", bearer, 200, []string{`{"peers":["hss1.example.net"]}`}},
		{"reload", "POST", "/v1/reload", bearer, 200, []string{`{"reloaded":true,"needs_restart":["listen"]}`}},
		{"disconnect", "POST", "/v1/peers/hss1.example.net/disconnect", bearer, 202, []string{`"identity":"hss1.example.net"`, `"status":"disconnecting"`}},
		{"disconnect unknown", "POST", "/v1/peers/nobody.example.net/disconnect", bearer, 404, []string{`"error":`}},
		{"disconnect closed", "POST", "/v1/peers/mme.example.org/disconnect", bearer, 409, []string{`is not open`}},
		{"unknown path", "GET", "/v2/nothing", "", 404, []string{`{"error":"not found"}`}},
		{"wrong method", "DELETE", "/v1/peers", "", 405, []string{`{"error":"method not allowed"}`}},
		{"GET on a mutation", "GET", "/v1/reload", "", 405, []string{`"error"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, s.Addr(), tt.method, tt.path, tt.auth)
			if a.code != tt.code {
				t.Errorf("status = %d, want %d; body %s", a.code, tt.code, a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !json.Valid([]byte(a.body)) {
				t.Errorf("body is not JSON: %s", a.body)
			}
			for _, want := range tt.contains {
				if !strings.Contains(a.body, want) {
					t.Errorf("body lacks %s:\n%s", want, a.body)
				}
			}
		})
	}
	if f.reloads != 1 {
		t.Errorf("reloads = %d, want 1", f.reloads)
	}
	if fmt.Sprint(f.disconnected) != "[hss1.example.net]" {
		t.Errorf("disconnected = %v", f.disconnected)
	}
	if a := call(t, s.Addr(), "DELETE", "/v1/peers", ""); a.header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
}

func TestNotReady(t *testing.T) {
	f := newFake(t)
	f.ready, f.reason = false, "mandatory peers not open: hss1.example.net"
	s := startServer(t, Config{}, f)
	a := call(t, s.Addr(), "GET", "/readyz", "")
	if a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "mandatory peers not open: hss1.example.net") {
		t.Errorf("readyz = %d %s", a.code, a.body)
	}
	ok, reason, err := (&Client{Addr: s.Addr()}).Ready(context.Background())
	if err != nil || ok || reason != f.reason {
		t.Errorf("Client.Ready = %v, %q, %v", ok, reason, err)
	}
}

func TestReloadError(t *testing.T) {
	f := newFake(t)
	f.reloadErr = errors.New("configs: routes[0].realm: bad pattern")
	s := startServer(t, Config{Token: testToken}, f)
	a := call(t, s.Addr(), "POST", "/v1/reload", "Bearer "+testToken)
	if a.code != 400 || !strings.Contains(a.body, `{"error":"configs: routes[0].realm: bad pattern"}`) {
		t.Errorf("reload = %d %s", a.code, a.body)
	}
	_, err := (&Client{Addr: s.Addr(), Token: testToken}).Reload(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Message != f.reloadErr.Error() {
		t.Errorf("Client.Reload error = %v", err)
	}
}

func TestAuth(t *testing.T) {
	endpoints := []string{"/v1/reload", "/v1/peers/hss1.example.net/disconnect"}
	tests := []struct {
		name  string
		token string // configured
		auth  string // sent
		code  int
	}{
		{"none configured", "", "", 403},
		{"none configured, one sent", "", "Bearer " + testToken, 403},
		{"none configured, empty bearer", "", "Bearer ", 403},
		{"missing", testToken, "", 401},
		{"empty bearer", testToken, "Bearer ", 401},
		{"wrong", testToken, "Bearer wrong", 401},
		{"prefix", testToken, "Bearer " + testToken[:4], 401},
		{"longer", testToken, "Bearer " + testToken + "x", 401},
		{"other scheme", testToken, "Basic " + testToken, 401},
		{"bare token", testToken, testToken, 401},
		{"right", testToken, "Bearer " + testToken, 0},
		{"right, scheme case", testToken, "bearer " + testToken, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			s := startServer(t, Config{Token: tt.token}, f)
			for _, path := range endpoints {
				a := call(t, s.Addr(), "POST", path, tt.auth)
				want := tt.code
				if want == 0 {
					want = 200
					if strings.HasSuffix(path, "/disconnect") {
						want = 202
					}
				}
				if a.code != want {
					t.Errorf("POST %s: status = %d, want %d; %s", path, a.code, want, a.body)
				}
				if a.code == 401 && a.header.Get("WWW-Authenticate") == "" {
					t.Errorf("POST %s: 401 without WWW-Authenticate", path)
				}
				if a.code >= 400 && !strings.Contains(a.body, `"error":`) {
					t.Errorf("POST %s: body %s", path, a.body)
				}
			}
			if tt.code != 0 && (f.reloads != 0 || len(f.disconnected) != 0) {
				t.Errorf("refused request acted: reloads %d, disconnected %v", f.reloads, f.disconnected)
			}
			// Reads need the token once one is configured (loopback
			// without any token: open).
			wantRead := 200
			if tt.token != "" && tt.code != 0 {
				wantRead = 401
			}
			if a := call(t, s.Addr(), "GET", "/v1/peers", tt.auth); a.code != wantRead {
				t.Errorf("GET /v1/peers with %q = %d, want %d", tt.auth, a.code, wantRead)
			}
		})
	}
}

func TestHandleMount(t *testing.T) {
	s := startServer(t, Config{}, newFake(t))
	s.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "dra_requests_total 10\n")
	}))
	a := call(t, s.Addr(), "GET", "/metrics", "")
	if a.code != 200 || a.body != "dra_requests_total 10\n" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Errorf("metrics = %d %q %q", a.code, a.header.Get("Content-Type"), a.body)
	}
}

func TestPanicIsJSON(t *testing.T) {
	s := startServer(t, Config{}, panicky{newFake(t)})
	a := call(t, s.Addr(), "GET", "/v1/peers", "")
	if a.code != 500 || a.body != "{\"error\":\"internal error\"}\n" {
		t.Errorf("panic = %d %q", a.code, a.body)
	}
	if a := call(t, s.Addr(), "GET", "/healthz", ""); a.code != 200 {
		t.Errorf("healthz after a panic = %d", a.code)
	}
}

type panicky struct{ *fakeBackend }

func (panicky) Peers() []*peers.PeerInfo { panic("boom") }

func TestLifecycle(t *testing.T) {
	s := New(Config{}, newFake(t), nil)
	if err := s.Start(); err != nil || s.Addr() != "" {
		t.Fatalf("disabled: Start = %v, Addr = %q", err, s.Addr())
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown of a disabled server: %v", err)
	}
	s = New(Config{Addr: "127.0.0.1:0"}, newFake(t), nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	addr := s.Addr()
	if a := call(t, addr, "GET", "/healthz", ""); a.code != 200 {
		t.Errorf("healthz = %d", a.code)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("still serving after Shutdown")
	}
	other := startServer(t, Config{}, newFake(t))
	busy := New(Config{Addr: other.Addr()}, newFake(t), nil)
	if err := busy.Start(); err == nil || !strings.Contains(err.Error(), "admin: listen") {
		t.Errorf("Start on a used address = %v", err)
	}
}

func TestStatsLocalResults(t *testing.T) {
	var st routing.Stats
	v := newStatsView(&st)
	if len(v.LocalResults) != len(localResultCodes)+1 {
		t.Errorf("local_results has %d keys", len(v.LocalResults))
	}
	if v := newStatsView(nil); v.LocalResults == nil {
		t.Error("nil stats: local_results is null")
	}
}
