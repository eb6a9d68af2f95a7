package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/dra-project/dra/admin"
	"github.com/dra-project/dra/configs"
)

// adminFlags registers the flags that reach a running agent's admin API
// and returns the client they describe once parsed.
func adminFlags(fs *flag.FlagSet) func() *admin.Client {
	addr := fs.String("admin", envOr("DRA_ADMIN_ADDRESS", "127.0.0.1:9868"), "admin API `address` of the running agent: host:port or https://host:port (env DRA_ADMIN_ADDRESS)")
	token := fs.String("token", os.Getenv("DRA_ADMIN_TOKEN"), "admin API `token`: admin.token, or admin.read_token for the reads (env DRA_ADMIN_TOKEN)")
	ca := fs.String("ca", os.Getenv("DRA_ADMIN_CA_FILE"), "CA `file` (PEM) that signed an HTTPS admin API's certificate (env DRA_ADMIN_CA_FILE)")
	cert := fs.String("cert", os.Getenv("DRA_ADMIN_CERT_FILE"), "client certificate `file` (PEM) for an admin API that asks for one (env DRA_ADMIN_CERT_FILE)")
	key := fs.String("key", os.Getenv("DRA_ADMIN_KEY_FILE"), "client key `file` (PEM) (env DRA_ADMIN_KEY_FILE)")
	return func() *admin.Client {
		return &admin.Client{Addr: *addr, Token: *token, CAFile: *ca, CertFile: *cert, KeyFile: *key}
	}
}

// ctl runs one admin API command against a running agent.
func ctl(cmd string, args []string) int {
	fs := flag.NewFlagSet("dra "+cmd, flag.ContinueOnError)
	client := adminFlags(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON instead of a table (peers, routes, stats)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := client()
	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()
	var err error
	switch cmd {
	case "peers":
		var ps []admin.PeerView
		if ps, err = c.Peers(ctx); err == nil {
			err = show(*asJSON, ps, func() { admin.WriteTable(os.Stdout, ps) })
		}
	case "routes":
		var rs []admin.RouteView
		if rs, err = c.Routes(ctx); err == nil {
			err = show(*asJSON, rs, func() { admin.WriteRoutes(os.Stdout, rs) })
		}
	case "stats":
		var st *admin.StatsView
		if st, err = c.Stats(ctx); err == nil {
			err = show(*asJSON, st, func() { admin.WriteStats(os.Stdout, st) })
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
		if errors.Is(err, admin.ErrUnauthorized) && c.Token == "" {
			fmt.Fprintf(os.Stderr, "dra %s: the agent wants a token: -token or DRA_ADMIN_TOKEN (admin.token, or admin.read_token for reads)\n", cmd)
		}
		return 1
	}
	return 0
}

// show prints v as indented JSON when asJSON, else calls table.
func show(asJSON bool, v any, table func()) error {
	if !asJSON {
		table()
		return nil
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// check validates a configuration file without starting anything, and
// shows what a reload would change against the configuration a running
// agent serves (when its admin API answers): peers and routes added,
// removed or changed (with the fields), other settings applied live, and
// the settings that would need a restart.
func check(args []string) int {
	fs := flag.NewFlagSet("dra check", flag.ContinueOnError)
	path := fs.String("config", os.Getenv("DRA_CONFIG"), "configuration `file` to check")
	client := adminFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := client()
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dra check: %v\n", err)
		return 1
	}
	fmt.Printf("%s: valid (%d listeners, %d peers, %d routes)\n", orDefault(*path), len(cfg.Listen), len(cfg.Peers), len(cfg.Routes))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var running configs.Running
	if err := c.Config(ctx, &running); err != nil {
		fmt.Printf("no running agent at %s to compare with (%v)\n", c.Addr, err)
		return 0
	}
	fmt.Printf("a reload of the agent at %s would change:\n", c.Addr)
	d := configs.CompareRunning(running, cfg)
	d.Write(os.Stdout)
	return 0
}

// health asks a running agent's admin API whether it serves (the
// container health check).
func health(args []string) int {
	fs := flag.NewFlagSet("dra health", flag.ContinueOnError)
	client := adminFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client().Health(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dra health:", err)
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
