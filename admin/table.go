package admin

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// relayApp is the relay Application-Id (RFC 6733 §2.4).
const relayApp = 0xffffffff

// WriteTable prints peers as an aligned text table (dra peers).
func WriteTable(w io.Writer, peers []PeerView) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tREALM\tADDRESS\tSTATE\tWATCHDOG\tROLE\tTLS\tAPPS\tSINCE\tLAST ERROR")
	for _, p := range peers {
		apps := make([]string, len(p.Applications))
		for i, a := range p.Applications {
			if a == relayApp {
				apps[i] = "relay"
			} else {
				apps[i] = strconv.FormatUint(uint64(a), 10)
			}
		}
		since := ""
		if !p.Since.IsZero() {
			since = p.Since.UTC().Format(time.RFC3339)
		}
		tls := "no"
		if p.TLS {
			tls = "yes"
		}
		state := p.State
		if p.Removed {
			state += " (removed, draining)"
		}
		row := []string{p.Identity, p.Realm, p.Address, state, p.Watchdog, p.Role, tls,
			strings.Join(apps, ","), since, p.LastError}
		writeRow(tw, row)
	}
	tw.Flush()
}

// WriteRoutes prints routes as an aligned text table (dra routes).
func WriteRoutes(w io.Writer, routes []RouteView) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREALM\tAPP\tCOMMANDS\tORIGIN\tACTION\tNEXT HOPS\tTIMEOUT\tRETRIES\tSTICKY")
	for _, r := range routes {
		cmds := make([]string, len(r.Commands))
		for i, c := range r.Commands {
			cmds[i] = strconv.FormatUint(uint64(c), 10)
		}
		var origin []string
		if r.OriginHost != "" {
			origin = append(origin, "host="+r.OriginHost)
		}
		if r.OriginRealm != "" {
			origin = append(origin, "realm="+r.OriginRealm)
		}
		var hops []string
		for _, p := range r.Peers {
			hops = append(hops, fmt.Sprintf("%s(p%d,w%d)", p.Host, p.Priority, p.Weight))
		}
		if r.Redirect != nil {
			hops = append(hops, r.Redirect.Hosts...)
			hops = append(hops, fmt.Sprintf("usage=%d", r.Redirect.Usage), fmt.Sprintf("cache=%ds", r.Redirect.MaxCacheTime))
		}
		timeout := r.Timeout
		if timeout == "" {
			timeout = "default"
		}
		retries := "default"
		if r.Retries != nil {
			retries = strconv.Itoa(*r.Retries)
		}
		sticky := "no"
		if r.Sticky {
			sticky = "yes"
		}
		app := r.Application
		if app == strconv.FormatUint(relayApp, 10) {
			app = "relay"
		}
		row := []string{r.Name, r.Realm, app, strings.Join(cmds, ","), strings.Join(origin, " "), r.Action,
			strings.Join(hops, " "), timeout, retries, sticky}
		writeRow(tw, row)
	}
	tw.Flush()
}

// writeRow writes one table row: empty cells as "-", control characters
// (which would break the alignment) as spaces.
func writeRow(w io.Writer, cells []string) {
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		c = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, c)
		if i > 0 {
			io.WriteString(w, "\t")
		}
		io.WriteString(w, c)
	}
	io.WriteString(w, "\n")
}
