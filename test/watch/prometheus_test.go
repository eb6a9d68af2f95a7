package watch

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/configs"
)

// query is one PromQL query of the dashboard and where it is.
type query struct {
	where string // panel title, annotation or variable name
	expr  string
}

// dashboardQueries extracts every query of the dashboard: the panels'
// targets, the annotations, and the variables (label_values(metric,
// label) becomes a query of the metric that requires the label).
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir(t), "grafana", "dra.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dra.json: %v", err)
	}
	var out []query
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if s, ok := v["title"].(string); ok {
				where = s
			} else if s, ok := v["name"].(string); ok {
				where = s
			}
			if e, ok := v["expr"].(string); ok {
				out = append(out, query{where, e})
			}
			for k, c := range v {
				if k != "expr" {
					walk(c, where)
				}
			}
		case []any:
			for _, c := range v {
				walk(c, where)
			}
		}
	}
	walk(d["panels"], "")
	walk(d["annotations"], "")
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	tmpl, _ := d["templating"].(map[string]any)
	vars, _ := tmpl["list"].([]any)
	for _, v := range vars {
		v, _ := v.(map[string]any)
		if v["type"] != "query" {
			continue
		}
		def, _ := v["definition"].(string)
		m := labelValues.FindStringSubmatch(def)
		if m == nil {
			t.Errorf("variable %v: query %q is not label_values(metric, label)", v["name"], def)
			continue
		}
		out = append(out, query{fmt.Sprintf("variable %v", v["name"]), fmt.Sprintf(`%s, %s != ""`, m[1], m[2])})
	}
	for i := range out {
		if strings.HasPrefix(out[i].where, "variable ") {
			e := out[i].expr // metric, label != "": a selector with the label
			sel, label, _ := strings.Cut(e, ", ")
			if strings.HasSuffix(sel, "}") {
				out[i].expr = strings.TrimSuffix(sel, "}") + ", " + label + "}"
			} else {
				out[i].expr = sel + "{" + label + "}"
			}
		}
	}
	return out
}

// expand gives the dashboard's variables the values Grafana would: every
// instance and peer, a rate window of a few scrapes.
func expand(expr string) string {
	return strings.NewReplacer(
		"$__rate_interval", "10s",
		"$instance", ".*",
		"$peer", ".*",
	).Replace(expr)
}

// prometheus is a prometheus server run by the test.
type prometheus struct {
	base string // http://127.0.0.1:port
	log  string
}

// startPrometheus runs prometheus on a free loopback port, scraping the
// agent's /metrics every second and evaluating the alert rules, with its
// storage in the test's directory; it is stopped when the test ends.
func startPrometheus(t *testing.T, target string) *prometheus {
	t.Helper()
	bin := tool(t, "prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: dra
    static_configs: [{targets: [%q]}]
`, filepath.Join(deployDir(t), "prometheus", "alerts.yml"), target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := &prometheus{base: "http://" + addr, log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	p.wait(t, "ready", 20*time.Second, func() bool {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// wait polls cond every 100 ms until it holds; after timeout the test
// fails with prometheus's log.
func (p *prometheus) wait(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("prometheus: not %s after %v; its log:\n%s", what, timeout, tail(string(b), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// apiAnswer is the envelope of prometheus's HTTP API.
type apiAnswer struct {
	Status string          `json:"status"`
	Error  string          `json:"error"`
	Data   json.RawMessage `json:"data"`
}

func (p *prometheus) get(path string, params url.Values) (json.RawMessage, error) {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var a apiAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if a.Status != "success" {
		return nil, fmt.Errorf("%s", a.Error)
	}
	return a.Data, nil
}

// sample is one element of an instant vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// instant runs an instant query and returns its vector.
func (p *prometheus) instant(expr string) ([]sample, error) {
	data, err := p.get("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	var v struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	if v.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", v.ResultType)
	}
	var out []sample
	return out, json.Unmarshal(v.Result, &out)
}

// scalar is the value of a one-element vector, or -1.
func (p *prometheus) scalar(expr string) float64 {
	s, err := p.instant(expr)
	if err != nil || len(s) != 1 {
		return -1
	}
	var f float64
	fmt.Sscan(fmt.Sprint(s[0].Value[1]), &f)
	return f
}

// TestDashboardQueries: a real prometheus scrapes an agent under load
// (answers 2001, 3002, 3003, 5012, local answers, failovers, timeouts, a
// peer down, a reload applied and one refused), and every query of the
// Grafana dashboard returns data; the alert rules load and evaluate
// without error against the same data.
func TestDashboardQueries(t *testing.T) {
	queries := dashboardQueries(t)
	if len(queries) < 20 {
		t.Fatalf("%d queries in the dashboard, expected its panels' ~40", len(queries))
	}
	r := startRig(t, "") // reads open (loopback, no token)
	r.load(t, 200)
	p := startPrometheus(t, r.a.AdminAddr())
	scrapes := func(n int) func() bool {
		return func() bool {
			return p.scalar(fmt.Sprintf(`count_over_time(up{job="dra"}[1m])`)) >= float64(n) &&
				p.scalar(`up{job="dra"}`) == 1
		}
	}
	p.wait(t, "scraping the agent", 20*time.Second, scrapes(2))
	// A reload applied and one refused, between scrapes, for the reload
	// panel and annotations.
	cfg, err := configs.Parse([]byte(r.yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.a.Reload(cfg); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, err := r.a.Reload(nil); err == nil {
		t.Fatal("reload of no configuration: accepted")
	}
	p.wait(t, "scraping the agent", 20*time.Second, scrapes(6))
	for _, q := range queries {
		expr := expand(q.expr)
		s, err := p.instant(expr)
		switch {
		case err != nil:
			t.Errorf("%s: %s: %v", q.where, expr, err)
		case len(s) == 0:
			t.Errorf("%s: no data for %s", q.where, expr)
		}
	}
	t.Logf("%d dashboard queries, %d requests sent", len(queries), r.sent.Load())

	// The alert rules: loaded, evaluated, healthy.
	data, err := p.get("/api/v1/rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, rl := range g.Rules {
			n++
			if rl.Health != "ok" {
				t.Errorf("alert %s: health %q %s", rl.Name, rl.Health, rl.LastError)
			}
		}
	}
	if n == 0 {
		t.Error("prometheus loaded no alert rule")
	}
}
