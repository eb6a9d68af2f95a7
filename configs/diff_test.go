package configs

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

const diffBase = `identity: {origin_host: dra.example.net, origin_realm: example.net}
listen: [{address: "127.0.0.1:3868"}]
peers:
  - {host: hss1.example.net, address: "127.0.0.1:3869", connect: true}
  - {host: hss2.example.net, address: "127.0.0.1:3870", connect: true}
routes:
  - {name: hss, realm: example.net, action: relay, peers: [{host: hss1.example.net}]}
  - {realm: "*", action: relay, peers: [{host: hss2.example.net}]}
`

func TestCompare(t *testing.T) {
	base, err := Parse([]byte(diffBase))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want Diff
	}{
		{"nothing", func(c *Config) {}, Diff{}},
		{"peer added, removed, changed", func(c *Config) {
			c.Peers[0].Address = "127.0.0.1:3999"
			c.Peers[0].TLS.ServerName = "hss"
			c.Peers[1] = Peer{Host: "hss3.example.net", Transport: "tcp", WatchdogInterval: 30 * time.Second}
		}, Diff{
			PeersAdded: []string{"hss3.example.net"}, PeersRemoved: []string{"hss2.example.net"},
			PeersChanged: []Change{{Name: "hss1.example.net", Fields: []string{"address", "tls.server_name"}}},
		}},
		{"peer identity case", func(c *Config) { c.Peers[0].Host = "HSS1.example.net" }, Diff{
			PeersChanged: []Change{{Name: "HSS1.example.net", Fields: []string{"host"}}},
		}},
		{"routes", func(c *Config) {
			c.Routes[0].Peers[0].Weight = 5
			c.Routes[1].Name = "default"
		}, Diff{
			RoutesAdded: []string{"default"}, RoutesRemoved: []string{"route1"},
			RoutesChanged: []Change{{Name: "hss", Fields: []string{"peers"}}},
		}},
		{"live and restart", func(c *Config) {
			c.Timers.Watchdog = 40 * time.Second
			c.AcceptUnknownPeers = !c.AcceptUnknownPeers
			c.Identity.OriginRealm = "example.org"
			c.Listen[0].Address = "127.0.0.1:3871"
			c.Apps.OCS.Enabled = true
			c.Admin.Token = "t"
		}, Diff{
			Live:        []string{"accept_unknown_peers", "timers.watchdog"},
			NeedRestart: []string{"admin.token", "apps.ocs", "identity.origin_realm", "listen"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var next Config
			b, _ := json.Marshal(base)
			json.Unmarshal(b, &next)
			tc.edit(&next)
			got := Compare(base, &next)
			slices.Sort(got.Live)
			slices.Sort(got.NeedRestart)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if string(gj) != string(wj) {
				t.Errorf("diff\n got %s\nwant %s", gj, wj)
			}
			var sb strings.Builder
			got.Write(&sb)
			if got.Empty() != (sb.String() == "no change\n") {
				t.Errorf("Write: %q", sb.String())
			}
		})
	}
}

// TestSnapshotRoundTrip: a running configuration sent as JSON compares as
// the configuration itself, and carries no admin token.
func TestSnapshotRoundTrip(t *testing.T) {
	c, err := Parse([]byte(diffBase + "admin: {address: \"127.0.0.1:9868\", token: s3cret, read_token: r3ad}\napps: {cdf: {enabled: true}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Snapshot(c))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), "r3ad") {
		t.Fatal("snapshot holds an admin token")
	}
	var r Running
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if d := CompareRunning(r, c); !d.Empty() {
		t.Errorf("round trip differs: %+v", d)
	}
	c2 := *c
	c2.Apps.CDF.RotateBytes++
	if d := CompareRunning(r, &c2); !slices.Equal(d.NeedRestart, []string{"apps.cdf"}) {
		t.Errorf("app change: %+v", d)
	}
	c3 := *c
	c3.Apps.CDF.Workers = 3
	if d := CompareRunning(r, &c3); !slices.Equal(d.NeedRestart, []string{"apps.cdf"}) {
		t.Errorf("workers change: %+v", d)
	}
}
