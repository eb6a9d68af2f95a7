package cdf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Accounting-Record-Type values (RFC 6733 §9.8.1).
const (
	EventRecord   uint32 = 1
	StartRecord   uint32 = 2
	InterimRecord uint32 = 3
	StopRecord    uint32 = 4
)

// Record is one CDR: one accepted Accounting-Request, as written to the
// journal (one JSON object per line, see the package documentation).
type Record struct {
	// Time is when the CDF received the request (UTC).
	Time              time.Time
	SessionID         string
	RecordType        uint32
	RecordNumber      uint32
	OriginHost        string
	OriginRealm       string
	DestinationRealm  string
	UserName          string     // empty when absent
	AcctApplicationID uint32     // Acct-Application-Id, top-level or in Vendor-Specific-Application-Id
	EventTimestamp    *time.Time // nil when absent
	// AVPs holds every other top-level AVP under "avp_<code>" or
	// "avp_<code>_v<vendor>": a JSON number, a string, an object
	// {"hex": "..."}, or an array of those when the AVP is repeated. Values
	// read back from a journal are json.Number, string, map[string]any or
	// []any.
	AVPs map[string]any
}

// Field names of the fixed part of a journal line.
var fixedFields = []string{
	"time", "session_id", "record_type", "record_number", "origin_host", "origin_realm",
	"destination_realm", "user_name", "acct_application_id", "event_timestamp",
}

// AVPKey is the journal key of a top-level AVP: "avp_<code>" or
// "avp_<code>_v<vendor>".
func AVPKey(code, vendor uint32) string {
	if vendor == 0 {
		return "avp_" + strconv.FormatUint(uint64(code), 10)
	}
	return "avp_" + strconv.FormatUint(uint64(code), 10) + "_v" + strconv.FormatUint(uint64(vendor), 10)
}

// MarshalJSON encodes r as one journal line (without the newline): the
// fixed fields first, then the AVP keys in sorted order.
func (r Record) MarshalJSON() ([]byte, error) {
	if !validYear(r.Time) || (r.EventTimestamp != nil && !validYear(*r.EventTimestamp)) {
		return nil, fmt.Errorf("cdf: encode: time outside years 0000..9999")
	}
	var b bytes.Buffer
	b.WriteByte('{')
	field := func(k string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("cdf: encode %s: %w", k, err)
		}
		b.Write(vb)
		return nil
	}
	fixed := []any{
		r.Time.UTC().Format(time.RFC3339Nano), r.SessionID, r.RecordType, r.RecordNumber,
		r.OriginHost, r.OriginRealm, r.DestinationRealm,
	}
	for i, v := range fixed {
		if err := field(fixedFields[i], v); err != nil {
			return nil, err
		}
	}
	if r.UserName != "" {
		field("user_name", r.UserName)
	}
	field("acct_application_id", r.AcctApplicationID)
	if r.EventTimestamp != nil {
		field("event_timestamp", r.EventTimestamp.UTC().Format(time.RFC3339Nano))
	}
	for _, k := range slices.Sorted(maps.Keys(r.AVPs)) {
		if !strings.HasPrefix(k, "avp_") {
			return nil, fmt.Errorf("cdf: encode: AVP key %q lacks the avp_ prefix", k)
		}
		if err := field(k, r.AVPs[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON decodes one journal line. Keys other than the fixed fields
// and "avp_*" are ignored, so that later versions may add fields.
func (r *Record) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("cdf: decode record: %w", err)
	}
	*r = Record{}
	str := func(k string, dst *string) error {
		if v, ok := raw[k]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("cdf: decode %s: %w", k, err)
			}
		}
		return nil
	}
	u32 := func(k string, dst *uint32) error {
		if v, ok := raw[k]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("cdf: decode %s: %w", k, err)
			}
		}
		return nil
	}
	tm := func(k string) (*time.Time, error) {
		v, ok := raw[k]
		if !ok {
			return nil, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("cdf: decode %s: %w", k, err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("cdf: decode %s: %w", k, err)
		}
		if !validYear(t) {
			return nil, fmt.Errorf("cdf: decode %s: year outside 0000..9999 in UTC", k)
		}
		return &t, nil
	}
	t, err := tm("time")
	if err != nil {
		return err
	}
	if t == nil {
		return fmt.Errorf("cdf: decode record: no time")
	}
	r.Time = *t
	if r.EventTimestamp, err = tm("event_timestamp"); err != nil {
		return err
	}
	for _, e := range []error{
		str("session_id", &r.SessionID), u32("record_type", &r.RecordType), u32("record_number", &r.RecordNumber),
		str("origin_host", &r.OriginHost), str("origin_realm", &r.OriginRealm),
		str("destination_realm", &r.DestinationRealm), str("user_name", &r.UserName),
		u32("acct_application_id", &r.AcctApplicationID),
	} {
		if e != nil {
			return e
		}
	}
	for k, v := range raw {
		if !strings.HasPrefix(k, "avp_") {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		var x any
		if err := d.Decode(&x); err != nil {
			return fmt.Errorf("cdf: decode %s: %w", k, err)
		}
		if r.AVPs == nil {
			r.AVPs = map[string]any{}
		}
		r.AVPs[k] = x
	}
	return nil
}

// validYear reports whether t in UTC has a four-digit year (RFC 3339).
func validYear(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}
