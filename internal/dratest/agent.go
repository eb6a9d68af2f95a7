package dratest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/peers"
)

// StartAgent runs an agent in-process from a YAML configuration, logging
// warnings to the test log, and shuts it down when the test ends.
func StartAgent(t testing.TB, yaml string) *agent.Agent {
	t.Helper()
	cfg, err := configs.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	return StartAgentConfig(t, cfg)
}

// StartAgentConfig is StartAgent for a parsed configuration.
func StartAgentConfig(t testing.TB, cfg *configs.Config) *agent.Agent {
	t.Helper()
	a, err := agent.New(cfg, Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return a
}

// Logger logs to the test log at level and above.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

// WaitPeers waits until the agent can route to each identity (open, watchdog
// OKAY), for up to 10 s in all.
func WaitPeers(t testing.TB, a *agent.Agent, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			if p := a.Peers().Peer(id); p != nil && p.Active() != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent: peer %s not usable", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Client starts a node host/realm that dials the agent, whose identity is
// agentHost, and waits until their connection is open.
func Client(t testing.TB, a *agent.Agent, agentHost, host, realm string) *Node {
	t.Helper()
	c := Start(t, Options{Host: host, Realm: realm,
		Dial: []peers.PeerConfig{{Identity: agentHost, Addr: a.Addrs()[0].String(), Connect: true}}})
	c.WaitOpen(t, agentHost)
	return c
}

// DialYAML is the configuration's peers list for an agent that dials each
// node.
func DialYAML(ns ...*Node) string {
	var b strings.Builder
	b.WriteString("peers:\n")
	for _, n := range ns {
		fmt.Fprintf(&b, "  - host: %s\n    address: %s\n    connect: true\n", n.Opts.Host, n.Addr())
	}
	return b.String()
}
