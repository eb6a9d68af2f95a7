package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dra-project/dra/loadgen"
)

const clientHelp = `Usage: draload client [flags]

Opens -conns connections to the node at -addr, each a Diameter peer of its
own (CER/CEA; DWR answered; DPR/DPA at the end), and sends requests of the
chosen mix until -duration or -count:

  closed loop (-inflight N): N requests are kept in flight across all
      connections; each answer lets the next request go. Measures the
      capacity of the node.
  open loop (-rate R): R requests per second are sent on a fixed schedule
      that does not wait for answers; latency counts from the scheduled
      send time, so a stalled node shows in the latency.

Mixes:
  generic  one request per session with -app/-cmd, padded to -size bytes
           with a vendor-specific AVP without the M bit (relay tests)
  ccr      Gy/Ro credit control (app 4, cmd 272): CCR-INITIAL, -updates x
           CCR-UPDATE, CCR-TERMINATION per session, each sent after the
           previous answer; Subscription-Id E.164 from the subscriber range,
           Multiple-Services-Credit-Control with requested/used octets
  acr      accounting (app 3, cmd 271): START, -updates x INTERIM, STOP
  aar      NASREQ AA-Request (app 1, cmd 265) with User-Name and PAP
           User-Password

Every second a progress line goes to stderr (unless -quiet); at the end the
summary goes to stdout, as text or, with -json, as JSON (fields sent,
answered, unanswered, timeouts, lost, result_codes, duration_s,
throughput_rps, latency_us {p50,p90,p99,p999,max,mean}, connections,
in_flight, rate, mix, client_cpu_s, ...).

Exit status: 0 when every request was answered (whatever the result code),
3 when some were not (timeout or connection lost) unless -allow-unanswered,
1 when a connection cannot be opened, 2 for a usage error.

Examples:
  draload client -addr 127.0.0.1:3868 -conns 4 -inflight 100 -duration 10s
  draload client -addr 127.0.0.1:3868 -rate 5000 -duration 30s -mix ccr -dest-realm ocs.example.net
  draload client -addr 127.0.0.1:3868 -count 100000 -mix generic -size 1024 -json
  draload client -addr 127.0.0.1:5868 -tls-ca ca.pem -tls-cert me.pem -tls-key me-key.pem
`

type clientFlags struct {
	cfg     loadgen.ClientConfig
	mix     loadgen.MixConfig
	updates int
	adv     string
	tlsCA   string
	tlsCert string
	tlsKey  string
	tlsName string
	json    bool
	quiet   bool
	allowUn bool
	app     uint
	cmd     uint
	rg      uint
}

func clientFlagSet(f *clientFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("draload client", flag.ContinueOnError)
	setUsage(fs, clientHelp)
	c, m := &f.cfg, &f.mix
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:3868", "`host:port` of the Diameter node")
	fs.IntVar(&c.Conns, "conns", 4, "connections, each a peer with its own Origin-Host")
	fs.IntVar(&c.InFlight, "inflight", 0, "closed loop: requests in flight across all connections (default 100 without -rate)")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: requests per second across all connections")
	fs.DurationVar(&c.Duration, "duration", 0, "stop sending after this long (default 10s without -count)")
	fs.Int64Var(&c.Count, "count", 0, "stop after this many requests (whole sessions only)")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Second, "a request unanswered after this long counts as unanswered")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 5*time.Second, "bound on connecting, TLS and CER/CEA")
	fs.StringVar(&c.OriginHost, "origin-host", "load-%d.load.test", "Origin-Host of each connection; %d is the connection number from 1")
	fs.StringVar(&c.OriginRealm, "origin-realm", "load.test", "Origin-Realm")
	fs.StringVar(&f.adv, "advertise", "relay", "applications announced in CER: comma-separated ids, relay, mix (the mix's application)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "connect with TLS, verifying the node against the CA certificates in this PEM `file`")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "client certificate `file` (PEM) for TLS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "client key `file` (PEM) for TLS")
	fs.StringVar(&f.tlsName, "tls-server-name", "", "name the node's certificate must carry (default: the host of -addr)")

	fs.StringVar(&m.Name, "mix", loadgen.MixGeneric, "request mix: "+strings.Join(loadgen.MixNames, ", "))
	fs.StringVar(&m.DestRealm, "dest-realm", "load.test", "Destination-Realm")
	fs.StringVar(&m.DestHost, "dest-host", "", "Destination-Host (none by default)")
	fs.UintVar(&f.app, "app", 4, "generic: Application-Id")
	fs.UintVar(&f.cmd, "cmd", 272, "generic: Command-Code")
	fs.IntVar(&m.Size, "size", 200, "generic: request size in bytes")
	fs.IntVar(&f.updates, "updates", 2, "ccr, acr: CCR-UPDATEs or INTERIM records per session")
	fs.Uint64Var(&m.Subscribers, "subscribers", 100000, "size of the subscriber range (session n uses subscriber n % subscribers)")
	fs.Uint64Var(&m.MSISDNFirst, "msisdn-first", 33600000000, "ccr: E.164 number of subscriber 0 (Subscription-Id)")
	fs.StringVar(&m.UserName, "user-name", "user%d@load.test", "acr, aar: User-Name; %d is the subscriber number")
	fs.StringVar(&m.ServiceContextID, "service-context", "32251@3gpp.org", "ccr: Service-Context-Id")
	fs.UintVar(&f.rg, "rating-group", 1, "ccr: Rating-Group")
	fs.Uint64Var(&m.Octets, "octets", 1000000, "ccr: CC-Total-Octets requested and reported used per request")
	fs.StringVar(&m.Password, "password", "load-password", "aar: User-Password (PAP)")

	fs.BoolVar(&f.json, "json", false, "write the summary as JSON")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&f.allowUn, "allow-unanswered", false, "exit 0 even when requests went unanswered")
	return fs
}

// config finishes the configuration once the flags are parsed.
func (f *clientFlags) config() (loadgen.ClientConfig, error) {
	c := f.cfg
	m := f.mix
	if f.app > 0xffffffff || f.cmd > 0xffffff || f.rg > 0xffffffff {
		return c, fmt.Errorf("-app, -cmd or -rating-group out of range")
	}
	m.App, m.Cmd, m.RatingGroup = uint32(f.app), uint32(f.cmd), uint32(f.rg)
	if f.updates < 0 {
		return c, fmt.Errorf("-updates %d: negative", f.updates)
	}
	m.Updates, m.NoUpdates = f.updates, f.updates == 0
	if m.Subscribers == 0 {
		return c, fmt.Errorf("-subscribers 0: the range needs at least one subscriber")
	}
	if c.Rate == 0 && c.InFlight == 0 {
		c.InFlight = 100
	}
	if c.Duration == 0 && c.Count == 0 {
		c.Duration = 10 * time.Second
	}
	mix, err := loadgen.NewMix(m)
	if err != nil {
		return c, err
	}
	c.Mix = mix
	app := mix.AppID()
	if c.Advertise, err = parseApps(f.adv, &app); err != nil {
		return c, err
	}
	if f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != "" || f.tlsName != "" {
		if c.TLS, err = loadgen.ClientTLS(f.tlsCA, f.tlsCert, f.tlsKey, f.tlsName); err != nil {
			return c, err
		}
	}
	return c, nil
}

func runClient(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f clientFlags
	fs := clientFlagSet(&f)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg, err := f.config()
	if err != nil {
		fmt.Fprintf(stderr, "draload client: %v\n", err)
		return exitUsage
	}
	if !f.quiet {
		cfg.Progress = stderr
	}
	cl, err := loadgen.NewClient(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "draload client: %v\n", err)
		return exitUsage
	}
	if !f.quiet {
		mode := fmt.Sprintf("closed loop, %d in flight", cfg.InFlight)
		if cfg.Rate > 0 {
			mode = fmt.Sprintf("open loop, %g requests/s", cfg.Rate)
		}
		until := ""
		if cfg.Duration > 0 {
			until = " for " + cfg.Duration.String()
		}
		if cfg.Count > 0 {
			if until != "" {
				until += " or"
			}
			until += fmt.Sprintf(" %d requests", cfg.Count)
		}
		fmt.Fprintf(stderr, "draload client: %s mix to %s over %d connections, %s,%s\n",
			cfg.Mix.Name(), cfg.Addr, cfg.Conns, mode, until)
	}
	r, err := cl.Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "draload client: %v\n", err)
		return exitError
	}
	if f.json {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		r.WriteText(stdout)
	}
	if r.Unanswered > 0 && !f.allowUn {
		fmt.Fprintf(stderr, "draload client: %d of %d requests unanswered\n", r.Unanswered, r.Sent)
		return exitUnanswered
	}
	return exitOK
}
