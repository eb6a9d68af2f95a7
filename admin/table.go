package admin

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
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

// WriteStats prints the router's counters and the reloads as aligned
// name/value lines in sections (dra stats).
func WriteStats(w io.Writer, st *StatsView) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	section := func(title string, rows [][2]string) {
		fmt.Fprintln(tw, title)
		for _, r := range rows {
			writeRow(tw, []string{"  " + r[0], r[1]})
		}
	}
	n := func(v uint64) string { return strconv.FormatUint(v, 10) }
	section("REQUESTS", [][2]string{
		{"received", n(st.Requests)},
		{"forwarded", n(st.Forwarded)},
		{"answered by servers", n(st.Answered)},
		{"answered by the agent", n(st.LocalAnswers)},
		{"originated by the agent", n(st.Originated)},
	})
	section("FAILURES", [][2]string{
		{"failovers", n(st.Failovers)},
		{"retransmits (T flag)", n(st.Retransmits)},
		{"timeouts", n(st.Timeouts)},
		{"busy (3004)", n(st.Busy)},
		{"redirects", n(st.Redirects)},
		{"loops (3005)", n(st.Loops)},
		{"malformed", n(st.Malformed)},
		{"unknown answers", n(st.UnknownAnswers)},
		{"answers dropped", n(st.AnswersDropped)},
		{"panics", n(st.Panics)},
	})
	codes := make([]string, 0, len(st.LocalResults))
	for c := range st.LocalResults {
		codes = append(codes, c)
	}
	// Numeric order, "other" last.
	slices.SortFunc(codes, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
	})
	var results [][2]string
	for _, c := range codes {
		if v := st.LocalResults[c]; v > 0 {
			results = append(results, [2]string{c, n(v)})
		}
	}
	if len(results) == 0 {
		results = [][2]string{{"none", ""}}
	}
	section("AGENT'S OWN ANSWERS BY RESULT-CODE", results)
	if rf := st.Refusals; rf != nil {
		counts := func(m map[string]uint64) [][2]string {
			keys := slices.Sorted(maps.Keys(m))
			rows := make([][2]string, 0, len(keys))
			for _, k := range keys {
				rows = append(rows, [2]string{k, n(m[k])})
			}
			return rows
		}
		section("SHED WITH 3004 (OVERLOAD)", counts(rf.Shed))
		section("CONNECTIONS CLOSED BEFORE OPEN", counts(rf.Unopened))
	}
	if rl := st.Reloads; rl != nil {
		last, outcome := "never", ""
		if !rl.Last.IsZero() {
			last = rl.Last.UTC().Format(time.RFC3339)
			outcome = "refused"
			if rl.LastOK {
				outcome = "applied"
			}
		}
		section("RELOADS", [][2]string{
			{"applied", n(rl.OK)},
			{"refused", n(rl.Failed)},
			{"last", strings.TrimSpace(last + " " + outcome)},
			{"last refusal", rl.LastError},
		})
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
