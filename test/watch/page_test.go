package watch

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pageWidth and pageHeight are the browser window: a wall screen's
// proportions.
const pageWidth, pageHeight = 1600, 1000

// chromium loads url headless and returns the DOM once the page's scripts
// ran for budget of virtual time (the page's timers run on it; the fetches
// it makes to the agent are real, and the page times its samples with the
// agent's clock), saving a screenshot to png when it is not "".
func chromium(t *testing.T, url string, budget time.Duration, png string) string {
	t.Helper()
	bin := tool(t, "chromium")
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-domain-reliability", "--no-pings", "--metrics-recording-only",
		"--user-data-dir=" + t.TempDir(),
		fmt.Sprintf("--window-size=%d,%d", pageWidth, pageHeight),
		fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds()),
		"--dump-dom"}
	if png != "" {
		args = append(args, "--screenshot="+png)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String(), 20))
	}
	return stdout.String()
}

// peerRow is one row of the page's peer table.
type peerRow struct {
	state, watchdog string
	in, answers     float64
	codes           string
}

var (
	rowRe  = regexp.MustCompile(`(?s)<tr data-peer="([^"]+)"[^>]*>(.*?)</tr>`)
	cellRe = func(k string) *regexp.Regexp {
		return regexp.MustCompile(`(?s)data-k="` + k + `"[^>]*>(.*?)</td>`)
	}
	tagRe = regexp.MustCompile(`<[^>]+>`)
)

// peerRows reads the peer table of a dumped DOM.
func peerRows(t *testing.T, dom string) map[string]peerRow {
	t.Helper()
	rows := map[string]peerRow{}
	cell := func(row, k string) string {
		m := cellRe(k).FindStringSubmatch(row)
		if m == nil {
			return ""
		}
		return strings.TrimSpace(tagRe.ReplaceAllString(m[1], " "))
	}
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "k"), 64)
		if err != nil {
			return -1
		}
		if strings.HasSuffix(s, "k") {
			f *= 1000
		}
		return f
	}
	for _, m := range rowRe.FindAllStringSubmatch(dom, -1) {
		rows[m[1]] = peerRow{state: cell(m[2], "state"), watchdog: cell(m[2], "watchdog"),
			in: num(cell(m[2], "in")), answers: num(cell(m[2], "answers")), codes: cell(m[2], "codes")}
	}
	return rows
}

// TestStatusPageInBrowser: the admin API's status page in headless
// chromium against an agent under load whose reads need a read token.
// Without the token the page says so and shows no peer; with it (given as
// /#token=..., as a wall screen is started) it shows every peer with its
// state and watchdog, the routes, the Result-Codes and the latency, and
// its rates follow the load between two loads of the page (100 then 400
// requests/s); the last saves a screenshot (WATCH_SCREENSHOT=path keeps a
// copy, as docs/status-page.png was made).
func TestStatusPageInBrowser(t *testing.T) {
	const readToken = "wall-screen-token"
	r := startRig(t, readToken)
	r.load(t, 100)
	url := "http://" + r.a.AdminAddr() + "/"

	refused := chromium(t, url, 3*time.Second, "")
	if !strings.Contains(refused, "needs a token for reads") || len(peerRows(t, refused)) != 0 {
		t.Errorf("without the token: want the token banner and no peer row, got %d rows\n%s",
			len(peerRows(t, refused)), tail(refused, 40))
	}

	url += "#token=" + readToken
	time.Sleep(time.Second) // load for the first rate window: pacing, not an assertion
	first := chromium(t, url, 20*time.Second, "")
	r.rate.Store(400)
	time.Sleep(2 * time.Second) // the same for the new rate
	shot := filepath.Join(t.TempDir(), "status.png")
	// A longer run of the page's clock for the second: more points on
	// the latency chart of the screenshot.
	second := chromium(t, url, 40*time.Second, shot)

	for i, dom := range []string{first, second} {
		if m := regexp.MustCompile(`data-polls="(\d+)"`).FindStringSubmatch(dom); m == nil || m[1] == "0" || m[1] == "1" {
			t.Fatalf("load %d: the page did not poll the agent twice (data-polls %v)\n%s", i+1, m, tail(dom, 40))
		}
		if strings.Contains(dom, `<div id="banner">`) {
			t.Errorf("load %d: a banner is shown: %s", i+1, regexp.MustCompile(`<div id="banner">[^<]*`).FindString(dom))
		}
		if !strings.Contains(dom, draHost+" · "+draRealm) {
			t.Errorf("load %d: the agent's identity is not shown", i+1)
		}
		rows := peerRows(t, dom)
		for _, p := range []string{"ok.srv.test", "busy.srv.test", "fail.srv.test", "mute.srv.test", "gone.srv.test", "nas.cli.test"} {
			if _, ok := rows[p]; !ok {
				t.Errorf("load %d: no row for peer %s", i+1, p)
			}
		}
		for _, p := range []string{"ok.srv.test", "nas.cli.test"} {
			if !strings.Contains(rows[p].state, "Open") || rows[p].watchdog != "OKAY" {
				t.Errorf("load %d: %s shown %q/%q, want open and OKAY", i+1, p, rows[p].state, rows[p].watchdog)
			}
		}
		if g := rows["gone.srv.test"]; strings.Contains(g.state, "Open") {
			t.Errorf("load %d: the unreachable peer is shown %q", i+1, g.state)
		}
		if m := rowRe.FindStringSubmatch(dom); m == nil || m[1] != "gone.srv.test" {
			t.Errorf("load %d: the first row is not gone.srv.test, the peer that is down (%.60q)", i+1, m)
		}
		if ok := rows["ok.srv.test"]; ok.answers <= 0 || !strings.Contains(ok.codes, "2001") {
			t.Errorf("load %d: ok.srv.test answers %v/s, codes %q: want 2001 answers", i+1, ok.answers, ok.codes)
		}
		if f := rows["fail.srv.test"]; !strings.Contains(f.codes, "5012") {
			t.Errorf("load %d: fail.srv.test codes %q, want 5012", i+1, f.codes)
		}
		if c := rows["nas.cli.test"]; c.in <= 0 {
			t.Errorf("load %d: nas.cli.test sends %v requests/s, want > 0", i+1, c.in)
		}
		if n := strings.Count(dom, "<tr data-code="); n < 3 {
			t.Errorf("load %d: %d Result-Codes listed, want 2001, 3002, 5012 and more", i+1, n)
		}
		if m := regexp.MustCompile(`data-k="p99">([^<]*)<`).FindStringSubmatch(dom); m == nil || m[1] == "–" {
			t.Errorf("load %d: no p99 latency shown (%v)", i+1, m)
		}
		if !strings.Contains(dom, "<td>srv.test</td>") {
			t.Errorf("load %d: the route to srv.test is not listed", i+1)
		}
	}
	a, b := peerRows(t, first)["nas.cli.test"], peerRows(t, second)["nas.cli.test"]
	t.Logf("nas.cli.test: %v then %v requests/s shown (sent at 100 then 400/s); ok.srv.test answers %v then %v/s",
		a.in, b.in, peerRows(t, first)["ok.srv.test"].answers, peerRows(t, second)["ok.srv.test"].answers)
	if !(b.in > 1.5*a.in) {
		t.Errorf("the client's rate did not follow the load: %v then %v requests/s", a.in, b.in)
	}

	img, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width != pageWidth || cfg.Height != pageHeight {
		t.Errorf("screenshot: %dx%d, %v; want a %dx%d PNG", cfg.Width, cfg.Height, err, pageWidth, pageHeight)
	}
	if keep := os.Getenv("WATCH_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot saved to %s", keep)
	}
}
