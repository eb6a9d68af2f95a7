package agent_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/admin"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/internal/redistest"
	"github.com/dra-project/dra/state"
)

// metricValue scrapes the agent's /metrics and returns the value of the
// first series of name whose labels contain label.
func metricValue(t *testing.T, adminAddr, name, label string) string {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{([^}]*)\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		if strings.Contains(m[1], label) {
			return m[2]
		}
	}
	t.Fatalf("no series %s{%s} in /metrics", name, label)
	return ""
}

// waitReady waits until /readyz says want, for up to 10 s, and returns the
// reason it gave.
func waitReady(t *testing.T, c *admin.Client, want bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, reason, err := c.Ready(context.Background())
		if err == nil && ok == want {
			return reason
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: ready %v (%q, %v), want %v", ok, reason, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadyzFollowsRedis: with state.backend redis the agent is not ready
// while Redis is down, says why, counts the operations that failed, and
// is ready again by itself once Redis is back.
func TestReadyzFollowsRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	a := dratest.StartAgent(t, fmt.Sprintf(`identity: {origin_host: dra.lab.test, origin_realm: lab.test}
listen: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
state:
  backend: redis
  redis: {addrs: [%q], timeout: 200ms}
`, srv.Addr))
	if a.State() == nil || a.State().Backend() != state.BackendRedis {
		t.Fatalf("State() = %v, want the redis store", a.State())
	}
	c := &admin.Client{Addr: a.AdminAddr()}
	waitReady(t, c, true)
	if v := metricValue(t, a.AdminAddr(), "dra_state_backend_up", `backend="redis"`); v != "1" {
		t.Errorf("dra_state_backend_up = %s while Redis is up", v)
	}

	srv.Kill()
	reason := waitReady(t, c, false)
	if !strings.Contains(reason, "state backend redis unavailable") {
		t.Errorf("/readyz reason %q does not name the state backend", reason)
	}
	if v := metricValue(t, a.AdminAddr(), "dra_state_backend_up", `backend="redis"`); v != "0" {
		t.Errorf("dra_state_backend_up = %s while Redis is down", v)
	}
	// An operation on shared state fails as unavailable and is counted.
	if _, _, err := a.State().Buckets().Take(context.Background(), "k", 1, 1, 1); err == nil {
		t.Fatal("take succeeded with Redis down")
	}
	if v := metricValue(t, a.AdminAddr(), "dra_state_unavailable_total", `backend="redis"`); v != "1" {
		t.Errorf("dra_state_unavailable_total = %s, want 1", v)
	}

	srv.Restart()
	waitReady(t, c, true)
	if v := metricValue(t, a.AdminAddr(), "dra_state_backend_up", `backend="redis"`); v != "1" {
		t.Errorf("dra_state_backend_up = %s after Redis came back", v)
	}
}
