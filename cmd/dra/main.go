// Command dra is the Diameter Routing Agent.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/configs"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("dra", flag.ContinueOnError)
	cfgPath := fs.String("config", os.Getenv("DRA_CONFIG"), "YAML configuration `file` (default: the embedded configuration; env DRA_CONFIG)")
	printDefault := fs.Bool("print-default-config", false, "print the embedded default configuration and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *printDefault {
		os.Stdout.Write(configs.DefaultYAML())
		return 0
	}
	cfg, err := configs.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dra: %v\n", err)
		return 1
	}
	log := newLogger(cfg.Log)
	a, err := agent.New(cfg, log)
	if err != nil {
		log.Error("cannot build agent", "err", err)
		return 1
	}
	// Signals are caught before the listeners open, so that a stop during
	// start-up still disconnects cleanly.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := a.Start(); err != nil {
		log.Error("cannot start agent", "err", err)
		return 1
	}
	for s := range sig {
		if s != syscall.SIGHUP {
			log.Info("signal received", "signal", s.String())
			break
		}
		reload(a, *cfgPath, log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timers.Disconnect+2e9)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	log.Info("stopped")
	return 0
}

func newLogger(c configs.Log) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// reload re-reads the configuration file on SIGHUP; a bad file is refused
// and the running configuration keeps serving.
func reload(a *agent.Agent, path string, log *slog.Logger) {
	cfg, err := configs.Load(path)
	if err != nil {
		log.Error("reload refused: the running configuration is kept", "err", err)
		return
	}
	restart, err := a.Reload(cfg)
	if err != nil {
		log.Error("reload refused: the running configuration is kept", "err", err)
		return
	}
	if len(restart) > 0 {
		log.Warn("reloaded; these settings take effect only after a restart", "settings", restart)
	}
}
