package dratest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/configs"
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
