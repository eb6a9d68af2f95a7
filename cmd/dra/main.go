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
	"time"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/telemetry"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "peers", "routes", "reload", "stats", "disconnect":
			return ctl(args[0], args[1:])
		case "check":
			return check(args[1:])
		case "health":
			return health(args[1:])
		case "policy":
			return policyCmd(args[1:])
		}
	}
	fs := flag.NewFlagSet("dra", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: dra [-config FILE]            run the agent (no file: the lab configuration)
       dra -print-default-config       print the lab configuration a run without a file uses
       dra -print-builtin-defaults     print the built-in defaults a file overrides
       dra check -config FILE          validate a configuration and show what a reload would change
       dra peers|routes|stats [-admin ADDR]
       dra health [-admin ADDR]        exit 0 when the agent's admin API answers /healthz
       dra policy test -config FILE (-message FILE | -hex HEX | -pcap FILE -frame N) [-ingress PEER] [-egress PEER]   dry run of the AVP rules
       dra reload [-admin ADDR] [-token TOKEN]
       dra disconnect [-admin ADDR] [-token TOKEN] IDENTITY   (env DRA_ADMIN_ADDRESS, DRA_ADMIN_TOKEN)

`)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", os.Getenv("DRA_CONFIG"), "YAML configuration `file` (default: the lab configuration -print-default-config prints; env DRA_CONFIG)")
	printDefault := fs.Bool("print-default-config", false, "print the configuration the agent runs with when no file is given (built-in defaults plus lab mode), as a file -config accepts, and exit")
	printBuiltin := fs.Bool("print-builtin-defaults", false, "print the built-in default of every key (what a file overrides; no lab mode) and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *printDefault && *printBuiltin:
		fmt.Fprintln(os.Stderr, "dra: -print-default-config and -print-builtin-defaults: give one")
		return 2
	case *printDefault:
		b, err := configs.RunYAML()
		if err != nil {
			fmt.Fprintf(os.Stderr, "dra: %v\n", err)
			return 1
		}
		os.Stdout.Write(b)
		return 0
	case *printBuiltin:
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
	a.SetConfigPath(*cfgPath)
	// Signals are caught before the listeners open, so that a stop during
	// start-up still disconnects cleanly.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := a.Start(); err != nil {
		log.Error("cannot start agent", "err", err)
		return 1
	}
	if *cfgPath != "" {
		// A change of the file reloads it, as SIGHUP does.
		if err := configs.Watch(*cfgPath, 500*time.Millisecond, func() {
			log.Info("configuration file changed")
			select {
			case sig <- syscall.SIGHUP:
			default:
			}
		}); err != nil {
			log.Warn("not watching the configuration file", "err", err)
		}
	}
	for s := range sig {
		if s != syscall.SIGHUP {
			log.Info("signal received", "signal", s.String())
			break
		}
		reload(a)
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
	// Records logged with a traced request's context carry its trace_id
	// and span_id.
	if c.Format == "json" {
		return slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, opts)))
	}
	return slog.New(telemetry.LogHandler(slog.NewTextHandler(os.Stderr, opts)))
}

// reload re-reads the configuration file on SIGHUP or a change of the
// file, by the same path as the admin API: the agent logs the outcome (a
// refused file in one line naming the field) and counts it.
func reload(a *agent.Agent) {
	a.ReloadFile()
}
