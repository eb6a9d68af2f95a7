package configs

import (
	"strings"
	"testing"
	"time"
)

// TestProblemsAtTheKeyWritten checks that a problem with a value that list
// items or other keys inherit is reported once, at the key the user wrote
// (naming the environment variable when one set it), and never at keys
// the user left unset.
func TestProblemsAtTheKeyWritten(t *testing.T) {
	const peers = `peers:
  - {host: hss1.example.net, address: "127.0.0.1:3869", connect: true}
  - {host: hss2.example.net, address: "127.0.0.1:3870", connect: true, watchdog_interval: 10s}
`
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string // each problem, in order
	}{
		{
			name: "timers.watchdog inherited by peers",
			yaml: "timers: {watchdog: 2s}\n" + peers,
			want: []string{"timers.watchdog: 2s is below the RFC 3539 minimum of 6s"},
		},
		{
			name: "timers.watchdog from the environment",
			yaml: peers, env: map[string]string{"DRA_TIMERS_WATCHDOG": "2s"},
			want: []string{"timers.watchdog (DRA_TIMERS_WATCHDOG): 2s is below the RFC 3539 minimum of 6s"},
		},
		{
			name: "a peer's own watchdog_interval",
			yaml: peers + `  - {host: hss3.example.net, address: "127.0.0.1:3871", connect: true, watchdog_interval: 3s}` + "\n",
			want: []string{"peers[2].watchdog_interval: 3s is below the RFC 3539 minimum of 6s"},
		},
		{
			name: "both written",
			yaml: "timers: {watchdog: 2s}\n" + peers + `  - {host: hss3.example.net, address: "127.0.0.1:3871", connect: true, watchdog_interval: 3s}` + "\n",
			want: []string{"peers[2].watchdog_interval: 3s", "timers.watchdog: 2s"},
		},
		{
			name: "timers.reconnect above the default reconnect_max",
			yaml: "timers: {reconnect: 10m}\n",
			want: []string{"timers.reconnect: 10m0s is above timers.reconnect_max (5m0s, its default)"},
		},
		{
			name: "timers.reconnect_max below the default reconnect",
			yaml: "timers: {reconnect_max: 10s}\n",
			want: []string{"timers.reconnect_max: 10s is below timers.reconnect (30s)"},
		},
		{
			name: "both reconnect timers written",
			yaml: "timers: {reconnect: 1m, reconnect_max: 10s}\n",
			want: []string{"timers.reconnect_max: 10s is below timers.reconnect (1m0s)"},
		},
		{
			name: "tls without transport",
			yaml: `peers: [{host: hss1.example.net, address: "127.0.0.1:3869", connect: true, tls: {ca_file: ca.pem}}]` + "\n",
			want: []string{"peers[0].tls: set, but transport is unset and defaults to tcp: add transport: tls"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse([]byte(tc.yaml), func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d: %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestPeersInheritAfterValidation checks that what list items inherit is
// still filled in for the agent.
func TestPeersInheritAfterValidation(t *testing.T) {
	c, err := Parse([]byte("timers: {watchdog: 20s}\nlisten: [{address: \"127.0.0.1:0\"}]\npeers: [{host: hss1.example.net}, {host: hss2.example.net, watchdog_interval: 9s}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Peers[0].WatchdogInterval != 20*time.Second || c.Peers[1].WatchdogInterval != 9*time.Second {
		t.Errorf("watchdog intervals %s %s, want 20s 9s", c.Peers[0].WatchdogInterval, c.Peers[1].WatchdogInterval)
	}
	if c.Peers[0].Transport != "tcp" || c.Listen[0].Transport != "tcp" {
		t.Errorf("transports %q %q, want tcp", c.Peers[0].Transport, c.Listen[0].Transport)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the loaded configuration does not validate again: %v", err)
	}
}
