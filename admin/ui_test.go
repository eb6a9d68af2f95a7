package admin

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStatusPage: GET / serves the status page without a token (it holds
// no data) while the reads it makes still need one; every file the page
// references is served from the binary with its type and a policy that
// forbids anything from elsewhere, and answers carry the agent's clock.
func TestStatusPage(t *testing.T) {
	s := startServer(t, Config{Token: testToken}, newFake(t))
	tests := []struct {
		path, ctype string
		contains    string
	}{
		{"/", "text/html", `<tbody id="peers">`},
		{"/ui/app.js", "text/javascript", "sessionStorage"},
		{"/ui/style.css", "text/css", ".pill"},
	}
	for _, tt := range tests {
		a := call(t, s.Addr(), "GET", tt.path, "")
		if a.code != 200 {
			t.Errorf("GET %s without token: %d, want 200 (%s)", tt.path, a.code, a.body)
			continue
		}
		if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", tt.path, ct, tt.ctype)
		}
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tt.path, csp)
		}
		if !strings.Contains(a.body, tt.contains) {
			t.Errorf("GET %s: no %q in the body", tt.path, tt.contains)
		}
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`).FindString(a.body); m != "" {
			t.Errorf("GET %s references %s: the page must need nothing from elsewhere", tt.path, m)
		}
	}
	page := call(t, s.Addr(), "GET", "/", "")
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page.body, -1) {
		if a := call(t, s.Addr(), "GET", m[1], ""); a.code != 200 {
			t.Errorf("the page references %s, answered %d", m[1], a.code)
		}
	}
	if a := call(t, s.Addr(), "GET", "/v1/peers", ""); a.code != 401 {
		t.Errorf("GET /v1/peers without token: %d, want 401", a.code)
	}
	if a := call(t, s.Addr(), "GET", "/ui/missing.js", ""); a.code != 404 {
		t.Errorf("GET /ui/missing.js: %d, want 404", a.code)
	}
	a := call(t, s.Addr(), "GET", "/v1/peers", "Bearer "+testToken)
	ms, err := strconv.ParseInt(a.header.Get(timeHeader), 10, 64)
	if err != nil || time.Since(time.UnixMilli(ms)).Abs() > time.Minute {
		t.Errorf("%s: %q, want the agent's clock in Unix ms", timeHeader, a.header.Get(timeHeader))
	}
}
