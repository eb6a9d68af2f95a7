package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatalf("default config: %v", err)
	}
	if got := c.Listen[0].Address; got != "127.0.0.1:3868" {
		t.Errorf("default listen = %q, want 127.0.0.1:3868", got)
	}
	if c.Timers.Watchdog != 30*time.Second {
		t.Errorf("default Tw = %s", c.Timers.Watchdog)
	}
	if !c.AcceptUnknownPeers {
		t.Error("the default lab config must admit unknown peers")
	}
}

func TestExampleFileLoads(t *testing.T) {
	c, err := Load("dra.yaml")
	if err != nil {
		t.Fatalf("dra.yaml: %v", err)
	}
	if c.Identity.OriginHost != "dra1.example.net" || len(c.Peers) != 2 {
		t.Fatalf("unexpected example content: %+v", c)
	}
	if c.Peers[1].WatchdogInterval != c.Timers.Watchdog || c.Peers[1].Transport != "tcp" {
		t.Errorf("peer defaults not applied: %+v", c.Peers[1])
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	env := map[string]string{
		"DRA_IDENTITY_ORIGIN_HOST": "env.example.org",
		"DRA_TIMERS_WATCHDOG":      "12s",
		"DRA_LIMITS_WRITE_QUEUE":   "64",
	}
	c, err := parse(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity.OriginHost != "env.example.org" || c.Timers.Watchdog != 12*time.Second || c.Limits.WriteQueue != 64 {
		t.Errorf("overrides not applied: %+v %+v", c.Identity, c.Timers)
	}
}

func TestInvalidConfigsNameTheField(t *testing.T) {
	tests := []struct {
		name, yaml, field string
	}{
		{"unknown key", "identity:\n  origin_hots: x.example\n", "origin_hots"},
		{"empty origin host", "identity:\n  origin_host: \"\"\n", "identity.origin_host"},
		{"bad fqdn", "identity:\n  origin_host: \"a..b\"\n", "identity.origin_host"},
		{"watchdog below 6s", "timers:\n  watchdog: 5s\n", "timers.watchdog"},
		{"peer watchdog below 6s", "peers:\n  - host: p.example\n    watchdog_interval: 2s\n", "peers[0].watchdog_interval"},
		{"bad listen", "listen:\n  - address: nowhere\n", "listen[0].address"},
		{"listen by name", "listen:\n  - address: localhost:3868\n", "listen[0].address"},
		{"duplicate peer", "peers:\n  - host: p.example\n  - host: P.example\n", "peers[1].host"},
		{"connect without address", "peers:\n  - host: p.example\n    connect: true\n", "peers[0].address"},
		{"peer is self", "peers:\n  - host: dra.localdomain\n", "peers[0].host"},
		{"sctp", "listen:\n  - address: 127.0.0.1:3868\n    transport: sctp\n", "listen[0].transport"},
		{"tls listener without cert", "listen:\n  - address: 127.0.0.1:5658\n    transport: tls\n", "listen[0].tls"},
		{"tls peer without ca", "peers:\n  - host: p.example\n    address: 127.0.0.1:5658\n    transport: tls\n", "peers[0].tls.ca_file"},
		{"tls on tcp", "peers:\n  - host: p.example\n    tls:\n      ca_file: x\n", "peers[0].tls"},
		{"missing ca file", "peers:\n  - host: p.example\n    address: 127.0.0.1:5658\n    transport: tls\n    tls:\n      ca_file: /nonexistent/ca.pem\n", "peers[0].tls"},
		{"message size", "limits:\n  max_message_size: 100\n", "limits.max_message_size"},
		{"log level", "log:\n  level: loud\n", "log.level"},
		{"reconnect max below reconnect", "timers:\n  reconnect: 1m\n  reconnect_max: 10s\n", "timers.reconnect_max"},
		{"negative workers", "apps:\n  aaa:\n    workers: -1\n", "apps.aaa.workers"},
		{"too many workers", "apps:\n  cdf:\n    workers: 5000\n", "apps.cdf.workers"},
		{"negative queue", "apps:\n  ocs:\n    queue: -5\n", "apps.ocs.queue"},
		{"not yaml", "identity: [\n", "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %q", err, tt.field)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte("timers:\n  watchdog: 1s\nlog:\n  format: xml\n"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, f := range []string{"timers.watchdog", "log.format"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("missing %s in %v", f, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

// TestLoadRefusesEmptyFile: a file that sets nothing is refused rather
// than taken for the defaults (which route nothing).
func TestLoadRefusesEmptyFile(t *testing.T) {
	for _, tt := range []struct{ name, content string }{
		{"empty", ""},
		{"blank", "\n  \n"},
		{"comments", "# dra.yaml\n# being edited\n"},
		{"empty document", "---\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dra.yaml")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); !errors.Is(err, ErrEmptyFile) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want ErrEmptyFile naming the file", err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	if b, err := os.ReadFile("dra.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("peers:\n  - host: p.example\n    connect: true\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err == nil && c.Validate() != nil {
			t.Fatal("Parse returned a config that does not validate")
		}
	})
}

func TestLabConfigWhenNoFile(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Apps.CDF.Enabled || !c.Apps.OCS.Enabled || !c.Apps.AAA.Enabled || !c.Apps.OCS.LabMode || !c.Apps.AAA.Lab {
		t.Errorf("lab applications not enabled: %+v", c.Apps)
	}
	if len(c.Routes) != 1 || c.Routes[0].Action != "local" || c.Routes[0].Realm != c.Identity.OriginRealm {
		t.Errorf("lab route: %+v", c.Routes)
	}
	p, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Apps.CDF.Enabled || p.Apps.OCS.Enabled || p.Apps.AAA.Enabled {
		t.Error("applications enabled without the lab configuration")
	}
	if p.Apps.OCS.DefaultGrant.Octets == 0 {
		t.Error("application defaults not applied")
	}
}

func TestEnabledApplicationIsValidated(t *testing.T) {
	_, err := Parse([]byte("apps:\n  ocs:\n    enabled: true\n    data_dir: \"\"\n"))
	if err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Fatalf("err = %v", err)
	}
}

// TestApplicationsAreClosedByDefault: enabling the OCS or the AAA in a
// file gives no lab behaviour (free credit, the demo user) unless the file
// asks for it.
func TestApplicationsAreClosedByDefault(t *testing.T) {
	c, err := Parse([]byte("apps:\n  ocs: {enabled: true, data_dir: /tmp/x}\n  aaa: {enabled: true, data_dir: /tmp/y, users_file: /tmp/u}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Apps.OCS.LabMode || c.Apps.AAA.Lab {
		t.Errorf("lab behaviour on without being asked for: ocs lab_mode %v, aaa lab %v", c.Apps.OCS.LabMode, c.Apps.AAA.Lab)
	}
	_, err = Parse([]byte("apps:\n  aaa: {enabled: true, data_dir: /tmp/y}\n"))
	if err == nil || !strings.Contains(err.Error(), "aaa.users_file") {
		t.Errorf("AAA without users file or lab: err = %v, want one naming aaa.users_file", err)
	}
	c, err = Parse([]byte("apps:\n  ocs: {enabled: true, data_dir: /tmp/x, lab_mode: true}\n"))
	if err != nil || !c.Apps.OCS.LabMode {
		t.Errorf("lab_mode written explicitly: %v, %v", err, err == nil && c.Apps.OCS.LabMode)
	}
}

func TestContainerConfigLoads(t *testing.T) {
	c, err := Load("container.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Addr == "" || c.Listen[0].Address != "0.0.0.0:3868" {
		t.Errorf("container config: %+v %+v", c.Admin, c.Listen)
	}
	// Reachable from outside, so closed: no unknown peer, no application.
	if c.AcceptUnknownPeers || c.Apps.CDF.Enabled || c.Apps.OCS.Enabled || c.Apps.AAA.Enabled || len(c.Routes) != 0 {
		t.Errorf("container default is open: accept_unknown_peers %v, apps %+v, routes %d",
			c.AcceptUnknownPeers, c.Apps, len(c.Routes))
	}
	lab, err := Load("container-lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !lab.AcceptUnknownPeers || !lab.Apps.OCS.LabMode || !lab.Apps.AAA.Lab || len(lab.Routes) != 1 {
		t.Errorf("container lab config: %+v", lab.Apps)
	}
}

func TestWatchCallsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dra.yaml")
	if err := os.WriteFile(path, []byte("log:\n  level: info\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	calls := make(chan struct{}, 10)
	if err := Watch(path, 50*time.Millisecond, func() { calls <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for range 3 { // a burst of writes is one change
		os.WriteFile(path, []byte("log:\n  level: debug\n"), 0o644)
	}
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported")
	}
	select {
	case <-calls:
		t.Error("a burst of writes reported twice")
	case <-time.After(300 * time.Millisecond):
	}
}

// TestVerifyIdentityDefaults: identity verification is on by default
// wherever a certificate must be presented, and can be turned off.
func TestVerifyIdentityDefaults(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name         string
		written      *bool
		certRequired bool
		want         bool
	}{
		{"tls peer, unset", nil, true, true},
		{"mutual tls listener, unset", nil, true, true},
		{"listener without client certificates, unset", nil, false, false},
		{"tls peer, off", &no, true, false},
		{"tcp peer, on", &yes, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (TLS{VerifyIdentity: tt.written}).VerifiesIdentity(tt.certRequired); got != tt.want {
				t.Errorf("VerifiesIdentity = %v, want %v", got, tt.want)
			}
		})
	}
}
