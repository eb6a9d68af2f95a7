package configs

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/state"
	"github.com/dra-project/dra/test/fdtest"
)

// TestStateDefaults: without a state section the store is embedded, and
// every redis key has its default (so that each can be overridden from
// the environment).
func TestStateDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := state.Config{Backend: "embedded", Redis: state.RedisConfig{Addrs: []string{}, KeyPrefix: "dra:", Timeout: 200 * time.Millisecond}}
	if !equalState(c.State, want) {
		t.Fatalf("state = %+v, want %+v", c.State, want)
	}
}

func equalState(a, b state.Config) bool {
	return reflect.DeepEqual(a, b)
}

// TestStateEnvironment: DRA_STATE_* override the state keys; the Redis
// addresses come as one comma-separated string.
func TestStateEnvironment(t *testing.T) {
	env := map[string]string{
		"DRA_STATE_BACKEND":          "redis",
		"DRA_STATE_REDIS_ADDRS":      "127.0.0.1:7000, 127.0.0.1:7001,127.0.0.1:7002",
		"DRA_STATE_REDIS_PASSWORD":   "pw",
		"DRA_STATE_REDIS_TIMEOUT":    "50ms",
		"DRA_STATE_REDIS_KEY_PREFIX": "site1:",
	}
	c, err := parse(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := state.Config{Backend: "redis", Redis: state.RedisConfig{
		Addrs:     []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"},
		Password:  "pw",
		KeyPrefix: "site1:",
		Timeout:   50 * time.Millisecond,
	}}
	if !equalState(c.State, want) {
		t.Fatalf("state = %+v, want %+v", c.State, want)
	}
	if !c.State.Redis.Cluster() {
		t.Error("three addresses without master_name are not taken as Cluster")
	}
	// A bad value from the environment is reported with its variable.
	env = map[string]string{"DRA_STATE_BACKEND": "redis", "DRA_STATE_REDIS_ADDRS": "127.0.0.1:7000,redis2", "DRA_STATE_REDIS_TIMEOUT": "0s"}
	_, err = parse(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	for _, want := range []string{
		`state.redis.addrs[1] (DRA_STATE_REDIS_ADDRS): "redis2" is not host:port`,
		"state.redis.timeout (DRA_STATE_REDIS_TIMEOUT): must be positive",
	} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// One address from the environment.
	env = map[string]string{"DRA_STATE_BACKEND": "redis", "DRA_STATE_REDIS_ADDRS": "10.0.0.5:6379"}
	if c, err = parse(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.State.Redis.Addrs, []string{"10.0.0.5:6379"}) {
		t.Fatalf("addrs = %q", c.State.Redis.Addrs)
	}
}

// TestStateValidation: each invalid state setting is refused with an
// error naming its key; valid ones load.
func TestStateValidation(t *testing.T) {
	dir := t.TempDir()
	ca, err := fdtest.GenerateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := fdtest.GenerateLeaf(dir, ca, "dra.test")
	if err != nil {
		t.Fatal(err)
	}
	redis := func(body string) string { return "state:\n  backend: redis\n  redis:\n" + body }
	for _, tc := range []struct {
		name, yaml, field string // field "": valid
	}{
		{"embedded ignores redis", "state:\n  backend: embedded\n  redis:\n    timeout: 0s\n", ""},
		{"standalone", redis("    addrs: [127.0.0.1:6379]\n    db: 3\n"), ""},
		{"sentinel with db", redis("    addrs: [10.0.0.1:26379, 10.0.0.2:26379]\n    master_name: mymaster\n    db: 1\n"), ""},
		{"cluster", redis("    addrs: [10.0.0.1:7000, 10.0.0.2:7000]\n"), ""},
		{"name host", redis("    addrs: [redis.example.net:6379]\n"), ""},
		{"tls", redis("    addrs: [127.0.0.1:6380]\n    tls: {ca_file: " + ca.CertFile + ", cert_file: " + cert + ", key_file: " + key + "}\n"), ""},
		{"acl user", redis("    addrs: [127.0.0.1:6379]\n    username: dra\n    password: pw\n"), ""},

		{"unknown backend", "state:\n  backend: mongo\n", "state.backend"},
		{"empty backend", "state:\n  backend: \"\"\n", "state.backend"},
		{"no addrs", redis("    addrs: []\n"), "state.redis.addrs"},
		{"not host:port", redis("    addrs: [localhost]\n"), "state.redis.addrs[0]"},
		{"port 0", redis("    addrs: [127.0.0.1:6379, \"127.0.0.1:0\"]\n"), "state.redis.addrs[1]"},
		{"no host", redis("    addrs: [\":6379\"]\n"), "state.redis.addrs[0]"},
		{"duplicate", redis("    addrs: [127.0.0.1:7000, 127.0.0.1:7000]\n"), "state.redis.addrs[1]"},
		{"zero timeout", redis("    addrs: [127.0.0.1:6379]\n    timeout: 0s\n"), "state.redis.timeout"},
		{"negative timeout", redis("    addrs: [127.0.0.1:6379]\n    timeout: -1s\n"), "state.redis.timeout"},
		{"db in cluster", redis("    addrs: [10.0.0.1:7000, 10.0.0.2:7000]\n    db: 2\n"), "state.redis.db"},
		{"negative db", redis("    addrs: [127.0.0.1:6379]\n    db: -1\n"), "state.redis.db"},
		{"username without password", redis("    addrs: [127.0.0.1:6379]\n    username: dra\n"), "state.redis.password"},
		{"hash tag in prefix", redis("    addrs: [127.0.0.1:6379]\n    key_prefix: \"{dra}:\"\n"), "state.redis.key_prefix"},
		{"ca file missing", redis("    addrs: [127.0.0.1:6379]\n    tls: {ca_file: " + dir + "/none.pem}\n"), "state.redis.tls"},
		{"ca file not PEM", redis("    addrs: [127.0.0.1:6379]\n    tls: {ca_file: " + key + "x}\n"), "state.redis.tls"},
		{"cert without key", redis("    addrs: [127.0.0.1:6379]\n    tls: {cert_file: " + cert + "}\n"), "state.redis.tls"},
		{"key does not match", redis("    addrs: [127.0.0.1:6379]\n    tls: {cert_file: " + cert + ", key_file: " + ca.KeyFile + "}\n"), "state.redis.tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(baseYAML + tc.yaml))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error naming %s", tc.field)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field+": ") {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

// baseYAML is a minimal valid configuration the state tests add to.
const baseYAML = "identity:\n  origin_host: dra.example.net\n  origin_realm: example.net\n"

// TestStatePasswordRedacted: the Redis password never leaves the agent in
// the admin view, and changing it is reported as needing a restart.
func TestStatePasswordRedacted(t *testing.T) {
	c, err := Parse([]byte(baseYAML + "state:\n  backend: redis\n  redis:\n    addrs: [127.0.0.1:6379]\n    password: hunter2\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Snapshot(c))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), `"password":"REDACTED"`) {
		t.Fatalf("view holds the password or does not say it is set:\n%s", b)
	}
	if v, _ := json.Marshal(View(c)); strings.Contains(string(v), "hunter2") {
		t.Fatalf("View holds the password:\n%s", v)
	}
	if c.State.Redis.Password != "hunter2" {
		t.Fatal("Snapshot changed the configuration it was given")
	}
	var r Running
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if d := CompareRunning(r, c); !d.Empty() {
		t.Errorf("round trip differs: %+v", d)
	}
	c2 := *c
	c2.State.Redis.Password = "other"
	if d := Compare(c, &c2); !slices.Contains(d.NeedRestart, "state.redis.password") {
		t.Errorf("password change not reported: %+v", d)
	}
	c2 = *c
	c2.State.Backend = "embedded"
	if d := Compare(c, &c2); !slices.Contains(d.NeedRestart, "state.backend") {
		t.Errorf("backend change not reported as needing a restart: %+v", d)
	}
}
