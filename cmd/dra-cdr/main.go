// Command dra-cdr prints the CDR journal of the dra CDF (apps/cdf) as JSON
// lines or CSV.
//
//	dra-cdr -dir DIR [-format json|csv]
//
// JSON lines are the journal records re-encoded (see package cdf). CSV has
// a header row and the columns time, session_id, record_type,
// record_number, origin_host, origin_realm, destination_realm, user_name,
// acct_application_id, event_timestamp, avps, where avps is a JSON object
// of the other AVPs.
package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/dra-project/dra/apps/cdf"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dra-cdr", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", cdf.DefaultConfig().DataDir, "journal directory (the CDF's data_dir)")
	format := fs.String("format", "json", "output format: json (one record per line) or csv")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	w := bufio.NewWriter(stdout)
	var emit func(cdf.Record) error
	switch *format {
	case "json":
		emit = func(r cdf.Record) error {
			b, err := r.MarshalJSON()
			if err != nil {
				return err
			}
			w.Write(b)
			return w.WriteByte('\n')
		}
	case "csv":
		cw := csv.NewWriter(w)
		defer cw.Flush()
		cw.Write([]string{"time", "session_id", "record_type", "record_number", "origin_host", "origin_realm",
			"destination_realm", "user_name", "acct_application_id", "event_timestamp", "avps"})
		emit = func(r cdf.Record) error {
			ts := ""
			if r.EventTimestamp != nil {
				ts = r.EventTimestamp.UTC().Format(time.RFC3339Nano)
			}
			avps := ""
			if len(r.AVPs) > 0 {
				b, err := json.Marshal(r.AVPs)
				if err != nil {
					return err
				}
				avps = string(b)
			}
			return cw.Write([]string{
				r.Time.UTC().Format(time.RFC3339Nano), r.SessionID, u(r.RecordType), u(r.RecordNumber),
				r.OriginHost, r.OriginRealm, r.DestinationRealm, r.UserName, u(r.AcctApplicationID), ts, avps,
			})
		}
	default:
		fmt.Fprintf(stderr, "dra-cdr: -format: %q is neither json nor csv\n", *format)
		return 2
	}
	err := cdf.ReadJournal(*dir, emit)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintln(stderr, "dra-cdr:", err)
		return 1
	}
	return 0
}

func u(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
