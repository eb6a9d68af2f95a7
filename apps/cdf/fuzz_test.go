package cdf

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzReadRecords feeds arbitrary bytes to the journal reader: it must not
// panic, and every record it returns must survive a write/read round trip.
func FuzzReadRecords(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-23T10:00:00Z","session_id":"a;1","record_type":2,"record_number":0,"origin_host":"h","origin_realm":"r","destination_realm":"d","acct_application_id":3,"avp_85":60,"avp_25":[{"hex":"00"},{"hex":"01"}]}` + "\n"))
	f.Add([]byte(`{"time":"2026-11-23T10:00:00.5+02:00","event_timestamp":"2026-11-23T10:00:00Z","user_name":"u","avp_1_v10415":"x"}` + "\n{\"time\":"))
	f.Add([]byte("\n\n  \n"))
	f.Add([]byte(`{"time":1}` + "\n"))
	f.Add([]byte(`{"time":"2026-11-23T10:00:00Z","record_type":-1}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []Record
		_ = readRecords(bytes.NewReader(data), func(r Record) error {
			got = append(got, r)
			return nil
		})
		for _, r := range got {
			line, err := r.MarshalJSON()
			if err != nil {
				t.Fatalf("a record read cannot be written: %v", err)
			}
			if bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("encoded record spans lines: %q", line)
			}
			var back []Record
			if err := readRecords(bytes.NewReader(append(line, '\n')), func(r Record) error {
				back = append(back, r)
				return nil
			}); err != nil {
				t.Fatalf("re-read %q: %v", line, err)
			}
			if len(back) != 1 {
				t.Fatalf("re-read %d records", len(back))
			}
			b := back[0]
			if !b.Time.Equal(r.Time) || b.SessionID != r.SessionID || b.RecordType != r.RecordType ||
				b.RecordNumber != r.RecordNumber || b.UserName != r.UserName || b.AcctApplicationID != r.AcctApplicationID ||
				(b.EventTimestamp == nil) != (r.EventTimestamp == nil) || len(b.AVPs) != len(r.AVPs) {
				t.Fatalf("round trip changed the record:\n%+v\n%+v", r, b)
			}
			for k, v := range r.AVPs {
				if !reflect.DeepEqual(b.AVPs[k], v) {
					t.Fatalf("round trip changed %s: %#v -> %#v", k, v, b.AVPs[k])
				}
			}
		}
	})
}
