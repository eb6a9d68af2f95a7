package cdf

import (
	"encoding/hex"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/internal/avpdict"
)

// dictionary is what the CDF knows of AVPs: every AVP of go-diameter's
// dictionary, since an ACR (3GPP Rf included) may carry any of them and
// the CDF journals them all. A request holding another AVP with the M bit
// is answered 5001, an AVP of the wrong size 5014 (apps.CheckRequest).
var dictionary = avpdict.Default

// acrError is a request the CDF refuses: the Result-Code and, for 5004 and
// 5005, the AVP for Failed-AVP.
type acrError struct {
	code   uint32
	failed *diam.AVP
	msg    string
}

func (e *acrError) Error() string { return fmt.Sprintf("cdf: %d: %s", e.code, e.msg) }

func missing(code uint32, name string, data datatype.Type) *acrError {
	return &acrError{code: 5005, failed: diam.NewAVP(code, avp.Mbit, 0, data), msg: "missing " + name}
}

func invalid(a *diam.AVP, name string) *acrError {
	return &acrError{code: 5004, failed: a, msg: "invalid " + name}
}

// Fixed AVPs of a Record, not repeated under avp_<code>.
var fixedAVPs = map[uint32]bool{
	avp.SessionID: true, avp.OriginHost: true, avp.OriginRealm: true, avp.DestinationRealm: true,
	avp.AccountingRecordType: true, avp.AccountingRecordNumber: true, avp.UserName: true,
	avp.AcctApplicationID: true, avp.EventTimestamp: true,
}

// top returns the first top-level, non-vendor AVP code of m.
func top(m *diam.Message, code uint32) *diam.AVP {
	for _, a := range m.AVP {
		if a != nil && a.Code == code && a.VendorID == 0 {
			return a
		}
	}
	return nil
}

func avpString(a *diam.AVP) (string, bool) {
	switch v := a.Data.(type) {
	case datatype.UTF8String:
		return string(v), true
	case datatype.DiameterIdentity:
		return string(v), true
	case datatype.OctetString:
		return string(v), true
	}
	return "", false
}

func avpUint32(a *diam.AVP) (uint32, bool) {
	switch v := a.Data.(type) {
	case datatype.Unsigned32:
		return uint32(v), true
	case datatype.Enumerated:
		return uint32(v), v >= 0
	case datatype.Integer32:
		return uint32(v), v >= 0
	}
	return 0, false
}

// parseACR validates an Accounting-Request (RFC 6733 §9.7.1) received at
// now and returns its CDR.
func parseACR(m *diam.Message, now time.Time) (Record, *acrError) {
	r := Record{Time: now.UTC()}
	strs := []struct {
		code uint32
		name string
		dst  *string
		data datatype.Type
	}{
		{avp.SessionID, "Session-Id", &r.SessionID, datatype.UTF8String("")},
		{avp.OriginHost, "Origin-Host", &r.OriginHost, datatype.DiameterIdentity("")},
		{avp.OriginRealm, "Origin-Realm", &r.OriginRealm, datatype.DiameterIdentity("")},
		{avp.DestinationRealm, "Destination-Realm", &r.DestinationRealm, datatype.DiameterIdentity("")},
	}
	for _, f := range strs {
		a := top(m, f.code)
		if a == nil {
			return r, missing(f.code, f.name, f.data)
		}
		s, ok := avpString(a)
		if !ok || s == "" || !utf8.ValidString(s) {
			return r, invalid(a, f.name)
		}
		*f.dst = s
	}
	a := top(m, avp.AccountingRecordType)
	if a == nil {
		return r, missing(avp.AccountingRecordType, "Accounting-Record-Type", datatype.Enumerated(0))
	}
	v, ok := avpUint32(a)
	if !ok || v < EventRecord || v > StopRecord {
		return r, invalid(a, "Accounting-Record-Type")
	}
	r.RecordType = v
	a = top(m, avp.AccountingRecordNumber)
	if a == nil {
		return r, missing(avp.AccountingRecordNumber, "Accounting-Record-Number", datatype.Unsigned32(0))
	}
	if r.RecordNumber, ok = avpUint32(a); !ok {
		return r, invalid(a, "Accounting-Record-Number")
	}
	if a = top(m, avp.AcctApplicationID); a != nil {
		if r.AcctApplicationID, ok = avpUint32(a); !ok {
			return r, invalid(a, "Acct-Application-Id")
		}
	} else if a = top(m, avp.VendorSpecificApplicationID); a != nil {
		g, _ := a.Data.(*diam.GroupedAVP)
		var in *diam.AVP
		if g != nil {
			for _, x := range g.AVP {
				if x != nil && x.Code == avp.AcctApplicationID {
					in = x
				}
			}
		}
		if in == nil {
			return r, invalid(a, "Vendor-Specific-Application-Id without Acct-Application-Id")
		}
		if r.AcctApplicationID, ok = avpUint32(in); !ok {
			return r, invalid(a, "Vendor-Specific-Application-Id")
		}
	} else {
		return r, missing(avp.AcctApplicationID, "Acct-Application-Id", datatype.Unsigned32(AppID))
	}
	if a = top(m, avp.UserName); a != nil {
		if s, ok := avpString(a); ok && utf8.ValidString(s) {
			r.UserName = s
		} else {
			return r, invalid(a, "User-Name")
		}
	}
	if a = top(m, avp.EventTimestamp); a != nil {
		t, ok := a.Data.(datatype.Time)
		if !ok {
			return r, invalid(a, "Event-Timestamp")
		}
		ts := time.Time(t).UTC()
		r.EventTimestamp = &ts
	}
	for _, a := range m.AVP {
		if a == nil || (a.VendorID == 0 && fixedAVPs[a.Code]) {
			continue
		}
		if r.AVPs == nil {
			r.AVPs = map[string]any{}
		}
		k := AVPKey(a.Code, a.VendorID)
		v := avpValue(a)
		switch old := r.AVPs[k].(type) {
		case nil:
			r.AVPs[k] = v
		case []any:
			r.AVPs[k] = append(old, v)
		default:
			r.AVPs[k] = []any{old, v}
		}
	}
	return r, nil
}

// avpValue is the journal value of an AVP: decoded when simple, else
// {"hex": data}.
func avpValue(a *diam.AVP) any {
	switch v := a.Data.(type) {
	case datatype.Unsigned32:
		return uint32(v)
	case datatype.Unsigned64:
		return uint64(v)
	case datatype.Integer32:
		return int32(v)
	case datatype.Integer64:
		return int64(v)
	case datatype.Enumerated:
		return int32(v)
	case datatype.Float32:
		if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	case datatype.Float64:
		if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	case datatype.UTF8String:
		if utf8.ValidString(string(v)) {
			return string(v)
		}
	case datatype.DiameterIdentity:
		if utf8.ValidString(string(v)) {
			return string(v)
		}
	case datatype.DiameterURI:
		if utf8.ValidString(string(v)) {
			return string(v)
		}
	case datatype.Time:
		return time.Time(v).UTC().Format(time.RFC3339)
	}
	if a.Data == nil {
		return map[string]any{"hex": ""}
	}
	return map[string]any{"hex": hex.EncodeToString(a.Data.Serialize())}
}
