package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/dra-project/dra/loadgen"
)

const serverHelp = `Usage: draload server [flags]

Listens on -listen and answers, on every connection and from any peer:
CER with CEA 2001 (advertising -advertise, Relay by default), DWR with DWA,
DPR with DPA, and every other request with an answer that carries the
request's Session-Id, the server's Origin-Host/Realm, Result-Code -result
(or, with -result-vendor, an Experimental-Result), and the AVPs answers
echo (Auth-/Acct-Application-Id, CC-Request-Type/Number,
Accounting-Record-Type/Number, Auth-Request-Type, Proxy-Info). -delay holds
each answer back for a fixed time.

A line per second on stderr gives the peers and the request rate (unless
-quiet). SIGINT or SIGTERM sends DPR to every peer, waits for the DPAs (at
most 2s) and exits.

Examples:
  draload server -listen 127.0.0.1:3869
  draload server -listen 127.0.0.1:3869 -result 3004 -delay 2ms
  draload server -listen 127.0.0.1:3869 -result 5030 -result-vendor 10415
`

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("draload server", flag.ContinueOnError)
	setUsage(fs, serverHelp)
	var cfg loadgen.ServerConfig
	listen := fs.String("listen", "127.0.0.1:3869", "`host:port` to listen on (port 0: any free port)")
	fs.StringVar(&cfg.OriginHost, "origin-host", "srv.load.test", "Origin-Host")
	fs.StringVar(&cfg.OriginRealm, "origin-realm", "load.test", "Origin-Realm")
	result := fs.Uint("result", 2001, "Result-Code of every application answer")
	vendor := fs.Uint("result-vendor", 0, "send -result as Experimental-Result-Code with this Vendor-Id")
	fs.DurationVar(&cfg.Delay, "delay", 0, "hold every application answer back this long")
	adv := fs.String("advertise", "relay", "applications announced in CEA: comma-separated ids or relay")
	tlsCert := fs.String("tls-cert", "", "listen with TLS, with this certificate `file` (PEM)")
	tlsKey := fs.String("tls-key", "", "TLS key `file` (PEM)")
	tlsClientCA := fs.String("tls-client-ca", "", "require client certificates signed by the CAs in this PEM `file`")
	quiet := fs.Bool("quiet", false, "no statistics lines")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	usageErr := func(err error) int {
		fmt.Fprintf(stderr, "draload server: %v\n", err)
		return exitUsage
	}
	if *result == 0 || *result > 0xffffffff || *vendor > 0xffffffff {
		return usageErr(fmt.Errorf("-result or -result-vendor out of range"))
	}
	cfg.ResultCode, cfg.ExperimentalVendor = uint32(*result), uint32(*vendor)
	var err error
	if cfg.Advertise, err = parseApps(*adv, nil); err != nil {
		return usageErr(err)
	}
	if *tlsCert != "" || *tlsKey != "" || *tlsClientCA != "" {
		if cfg.TLS, err = loadgen.ServerTLS(*tlsCert, *tlsKey, *tlsClientCA); err != nil {
			return usageErr(err)
		}
	}
	srv, err := loadgen.NewServer(cfg)
	if err != nil {
		return usageErr(err)
	}
	addr, err := srv.Start(*listen)
	if err != nil {
		fmt.Fprintf(stderr, "draload server: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stderr, "draload server: listening on %s as %s (%s), result %d\n", addr, cfg.OriginHost, cfg.OriginRealm, cfg.ResultCode)

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	last, lastAt := uint64(0), start
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case now := <-tick.C:
			if *quiet {
				continue
			}
			st := srv.Stats()
			rate := float64(st.Requests-last) / now.Sub(lastAt).Seconds()
			last, lastAt = st.Requests, now
			fmt.Fprintf(stderr, "%7.1fs  peers %d  requests %d  %.0f/s\n", now.Sub(start).Seconds(), st.Peers, st.Requests, rate)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	st := srv.Stats()
	fmt.Fprintf(stderr, "draload server: stopped after %d requests from %d connections\n", st.Requests, st.Accepted)
	return exitOK
}
