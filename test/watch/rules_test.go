package watch

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// deployDir is the repository's deploy directory.
func deployDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tool finds a command installed by test/deps.sh.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (make deps, or bash test/deps.sh, installs it): %v", name, err)
	}
	return p
}

// TestAlertRules: the alert rules are valid, every alert has unit tests in
// alerts_test.yml, and they pass (promtool test rules).
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	dir := filepath.Join(deployDir(t), "prometheus")
	rules, err := os.ReadFile(filepath.Join(dir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(dir, "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s*- alert:\s*(\S+)`).FindAllSubmatch(rules, -1)
	if len(alerts) == 0 {
		t.Fatal("no alert in alerts.yml")
	}
	for _, a := range alerts {
		name := string(a[1])
		fires := regexp.MustCompile(`(?m)^\s*alertname:\s*` + regexp.QuoteMeta(name) + `\s*\n\s*exp_alerts:\s*\n\s*- exp_labels`)
		if !fires.Match(tests) {
			t.Errorf("alert %s: no test case in alerts_test.yml where it fires", name)
		}
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
