// Command draload generates Diameter load against a node (an agent such as
// dra, a server, or anything that speaks RFC 6733), and can play the
// server that stands behind an agent in benchmarks.
//
//	draload server -listen 127.0.0.1:3869
//	draload client -addr 127.0.0.1:3869 -conns 4 -inflight 100 -duration 10s
//
// Run "draload client -h" or "draload server -h" for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/dra-project/dra/wire"
)

// Exit codes.
const (
	exitOK         = 0
	exitError      = 1 // cannot connect, listen, or read a file
	exitUsage      = 2
	exitUnanswered = 3 // some requests went unanswered (client)
)

const usage = `draload generates Diameter (RFC 6733) load and measures the answers.

Usage:
  draload client [flags]   open peers to a node and send requests
  draload server [flags]   answer every request (a node to load through an agent)
  draload help [client|server]

Examples:
  draload server -listen 127.0.0.1:3869 -result 2001
  draload client -addr 127.0.0.1:3868 -conns 4 -inflight 100 -duration 10s
  draload client -addr 127.0.0.1:3868 -rate 5000 -count 100000 -mix ccr -json

Exit status: 0 success, 1 error, 2 usage error, 3 (client) some requests
went unanswered (unless -allow-unanswered).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// A second signal ends the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "client":
		return runClient(ctx, args[1:], stdout, stderr)
	case "server":
		return runServer(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && (args[1] == "client" || args[1] == "server") {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "draload: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// parseFlags parses args into fs, printing the help to stdout for -h.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK, false
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n(-h for help)\n", fs.Name(), err)
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n(-h for help)\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return 0, true
}

// setUsage gives fs a help text: head, then the flags.
func setUsage(fs *flag.FlagSet, head string) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), head)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
}

// parseApps reads an -advertise value: a comma-separated list of
// application ids and the words "relay" (0xffffffff) and, for the client,
// "mix" (the application of the request mix, given as mixApp).
func parseApps(s string, mixApp *uint32) ([]uint32, error) {
	var out []uint32
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case strings.EqualFold(f, "relay"):
			out = append(out, wire.RelayAppID)
		case strings.EqualFold(f, "mix") && mixApp != nil:
			out = append(out, *mixApp)
		default:
			v, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("-advertise: %q is not an application id or a known word", f)
			}
			out = append(out, uint32(v))
		}
	}
	return out, nil
}
