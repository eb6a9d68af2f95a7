package configs

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestViewShowsWhatRuns: the admin API's view of a configuration uses the
// file's keys and units, shows the applications that run (the lab ones
// included), and redacts what is secret.
func TestViewShowsWhatRuns(t *testing.T) {
	lab, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	lab.Admin.Token, lab.Admin.ReadToken = "s3cret", "r3ad"
	b, err := json.Marshal(Snapshot(lab))
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		`"origin_host":"dra.localdomain"`, `"watchdog":"30s"`, `"disconnect":"5s"`, `"timeout":"5s"`,
		`"write_queue":4096`, `"accept_unknown_peers":true`,
		`"ocs":{`, `"lab_mode":true`, `"validity_time":"30m0s"`, `"accounts":0`,
		`"cdf":{`, `"data_dir":"data/cdf"`, `"token":"REDACTED"`, `"read_token":"REDACTED"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("view lacks %s", want)
		}
	}
	for _, bad := range []string{"s3cret", "r3ad", `"Enabled"`, `"OriginHost"`, `"Watchdog":3`} {
		if strings.Contains(got, bad) {
			t.Errorf("view holds %s", bad)
		}
	}
	var view struct {
		Config struct {
			Apps map[string]struct {
				Enabled bool `json:"enabled"`
			} `json:"apps"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b, &view); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"cdf", "ocs", "aaa"} {
		if !view.Config.Apps[app].Enabled {
			t.Errorf("%s shown as disabled while it runs:\n%s", app, got)
		}
	}
}

// TestRunningRoundTripExample: the documented example file, sent as the
// running configuration and read back, compares as itself (every section,
// policy included, survives the view).
func TestRunningRoundTripExample(t *testing.T) {
	c, err := Load("dra.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Admin.Token = "s3cret"
	b, err := json.Marshal(Snapshot(c))
	if err != nil {
		t.Fatal(err)
	}
	var r Running
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if d := CompareRunning(r, c); !d.Empty() {
		t.Errorf("round trip differs: %+v", d)
	}
	c2 := *c
	c2.Admin.Token = ""
	if d := CompareRunning(r, &c2); len(d.NeedRestart) != 1 || d.NeedRestart[0] != "admin.token" {
		t.Errorf("token removed: %+v", d)
	}
}
