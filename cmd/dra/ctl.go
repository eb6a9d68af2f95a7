package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/dra-project/dra/admin"
	"github.com/dra-project/dra/configs"
)

// ctl runs one admin API command against a running agent.
func ctl(cmd string, args []string) int {
	fs := flag.NewFlagSet("dra "+cmd, flag.ContinueOnError)
	addr := fs.String("admin", envOr("DRA_ADMIN_ADDRESS", "127.0.0.1:9868"), "admin API `address` of the running agent")
	token := fs.String("token", os.Getenv("DRA_ADMIN_TOKEN"), "admin API `token` (reload, disconnect)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := admin.Client{Addr: *addr, Token: *token}
	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()
	var err error
	switch cmd {
	case "peers":
		var ps []admin.PeerView
		if ps, err = c.Peers(ctx); err == nil {
			admin.WriteTable(os.Stdout, ps)
		}
	case "routes":
		var rs []admin.RouteView
		if rs, err = c.Routes(ctx); err == nil {
			admin.WriteRoutes(os.Stdout, rs)
		}
	case "stats":
		var st *admin.StatsView
		if st, err = c.Stats(ctx); err == nil {
			fmt.Printf("%+v\n", *st)
		}
	case "reload":
		var restart []string
		if restart, err = c.Reload(ctx); err == nil {
			fmt.Println("reloaded")
			if len(restart) > 0 {
				fmt.Println("needs a restart to take effect:", restart)
			}
		}
	case "disconnect":
		if fs.NArg() != 1 {
			fmt.Fprintln(os.Stderr, "usage: dra disconnect IDENTITY")
			return 2
		}
		if err = c.Disconnect(ctx, fs.Arg(0)); err == nil {
			fmt.Println("draining", fs.Arg(0)+": DPR follows once its requests in flight are answered (within timers.disconnect)")
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dra %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// check validates a configuration file without starting anything, and
// shows what a reload would change against the configuration a running
// agent serves (when its admin API answers): peers and routes added,
// removed or changed (with the fields), other settings applied live, and
// the settings that would need a restart.
func check(args []string) int {
	fs := flag.NewFlagSet("dra check", flag.ContinueOnError)
	path := fs.String("config", os.Getenv("DRA_CONFIG"), "configuration `file` to check")
	addr := fs.String("admin", envOr("DRA_ADMIN_ADDRESS", "127.0.0.1:9868"), "admin API `address` of a running agent to compare with")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dra check: %v\n", err)
		return 1
	}
	fmt.Printf("%s: valid (%d listeners, %d peers, %d routes)\n", orDefault(*path), len(cfg.Listen), len(cfg.Peers), len(cfg.Routes))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var running configs.Running
	if err := (&admin.Client{Addr: *addr}).Config(ctx, &running); err != nil {
		fmt.Printf("no running agent at %s to compare with (%v)\n", *addr, err)
		return 0
	}
	fmt.Printf("a reload of the agent at %s would change:\n", *addr)
	d := configs.CompareRunning(running, cfg)
	d.Write(os.Stdout)
	return 0
}

// health asks a running agent's admin API whether it serves (the
// container health check).
func health(args []string) int {
	fs := flag.NewFlagSet("dra health", flag.ContinueOnError)
	addr := fs.String("admin", envOr("DRA_ADMIN_ADDRESS", "127.0.0.1:9868"), "admin API `address`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + *addr + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dra health:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "dra health:", resp.Status)
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func orDefault(p string) string {
	if p == "" {
		return "embedded configuration"
	}
	return p
}
