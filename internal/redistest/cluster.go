package redistest

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, each node a
// Server of the test.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts n (at least 3) cluster nodes, shares the 16384 slots
// between them with redis-cli, and waits until every node reports the
// cluster ok. It fails t when redis-server or redis-cli is missing.
func StartCluster(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redistest: redis-cli is not installed (%v): run test/deps.sh", err)
	}
	if opts.TLS != nil || opts.Password != "" || len(opts.Users) > 0 {
		t.Fatal("redistest: StartCluster supports neither TLS nor passwords")
	}
	opts.Cluster = true
	c := &Cluster{}
	for range n {
		c.Nodes = append(c.Nodes, Start(t, opts))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(StartTimeout)
	for _, s := range c.Nodes {
		for {
			out, err := exec.Command(cli, "-u", "redis://"+s.Addr, "cluster", "info").Output()
			if err == nil && strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: node %s not ok within %s: %v\n%s", s.Addr, StartTimeout, err, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr
	}
	return out
}
