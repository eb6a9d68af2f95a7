package policy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/wire"
)

// DOIC AVP codes (RFC 7683 §7, IANA Diameter AVP codes 621-627). The M bit
// is never set on them (§7.7), so that nodes without DOIC ignore them.
const (
	AVPOCSupportedFeatures   = 621 // Grouped
	AVPOCFeatureVector       = 622 // Unsigned64
	AVPOCOLR                 = 623 // Grouped
	AVPOCSequenceNumber      = 624 // Unsigned64
	AVPOCValidityDuration    = 625 // Unsigned32, seconds
	AVPOCReportType          = 626 // Enumerated
	AVPOCReductionPercentage = 627 // Unsigned32, 0-100
)

// OC-Feature-Vector and OC-Report-Type values (RFC 7683 §7.3, §7.6).
const (
	OLRDefaultAlgo  = 1 // OLR_DEFAULT_ALGO: the loss algorithm
	HostReport      = 0
	RealmReport     = 1
	defaultValidity = 30 * time.Second    // §7.4
	maxValidity     = 86400 * time.Second // §7.4
)

// PolicyFlags bits the DOIC hooks use on a routing.Request.
const flagOCInserted = 1 << 0 // the agent added OC-Supported-Features

// ocSupportedFeatures is the OC-Supported-Features AVP the agent adds as
// a reacting node: OC-Feature-Vector = OLR_DEFAULT_ALGO.
var ocSupportedFeatures = func() []byte {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], OLRDefaultAlgo)
	return wire.AppendAVP(nil, AVPOCFeatureVector, 0, 0, v[:])
}()

// OLR is a decoded OC-OLR AVP (RFC 7683 §7.3).
type OLR struct {
	Sequence   uint64
	ReportType uint32
	// Reduction is OC-Reduction-Percentage (0 when absent).
	Reduction uint32
	// Validity is OC-Validity-Duration (30 s when absent); 0 ends the
	// overload condition.
	Validity time.Duration
}

// Errors of ParseOLR.
var (
	ErrOLRMalformed = errors.New("policy: malformed OC-OLR")
	ErrOLRMissing   = errors.New("policy: OC-OLR without OC-Sequence-Number or OC-Report-Type")
)

// ParseOLR decodes the data of an OC-OLR AVP. It checks lengths and the
// value ranges RFC 7683 gives (OC-Reduction-Percentage 0-100,
// OC-Validity-Duration at most 86400 s, report type host or realm).
func ParseOLR(data []byte) (OLR, error) {
	o := OLR{Validity: defaultValidity}
	var seq, typ bool
	it := wire.NewIter(data)
	for it.Next() {
		a := it.AVP()
		if a.VendorID != 0 {
			continue
		}
		switch a.Code {
		case AVPOCSequenceNumber:
			if len(a.Data) != 8 {
				return o, fmt.Errorf("%w: OC-Sequence-Number of %d octets", ErrOLRMalformed, len(a.Data))
			}
			o.Sequence, seq = binary.BigEndian.Uint64(a.Data), true
		case AVPOCReportType:
			v, ok := a.Uint32()
			if !ok || v > RealmReport {
				return o, fmt.Errorf("%w: OC-Report-Type", ErrOLRMalformed)
			}
			o.ReportType, typ = v, true
		case AVPOCReductionPercentage:
			v, ok := a.Uint32()
			if !ok || v > 100 {
				return o, fmt.Errorf("%w: OC-Reduction-Percentage", ErrOLRMalformed)
			}
			o.Reduction = v
		case AVPOCValidityDuration:
			v, ok := a.Uint32()
			if !ok || time.Duration(v)*time.Second > maxValidity {
				return o, fmt.Errorf("%w: OC-Validity-Duration", ErrOLRMalformed)
			}
			o.Validity = time.Duration(v) * time.Second
		}
	}
	if err := it.Err(); err != nil {
		return o, fmt.Errorf("%w: %w", ErrOLRMalformed, err)
	}
	if !seq || !typ {
		return o, ErrOLRMissing
	}
	return o, nil
}

// Overload holds the overload reports received, per reporting node (the
// host for a host report, the realm for a realm report) and application,
// with their expiry. Readers on the request path load an immutable map
// through an atomic pointer; a new report copies it (reports change
// rarely: on a new sequence number).
type Overload struct {
	m  atomic.Pointer[map[uint64]overloadReport]
	mu sync.Mutex
	// Received counts OC-OLR AVPs recorded; Throttled requests answered
	// 3004 and Diverted candidate peers skipped for abatement.
	Received  atomic.Uint64
	Throttled atomic.Uint64
	Diverted  atomic.Uint64
}

type overloadReport struct {
	name      string // lower case host or realm
	typ, app  uint32
	seq       uint64
	reduction uint32
	expires   int64 // unix nanos
}

// NewOverload returns an empty report store.
func NewOverload() *Overload {
	o := &Overload{}
	empty := map[uint64]overloadReport{}
	o.m.Store(&empty)
	return o
}

func reportKey[T string | []byte](typ, app uint32, name T) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint64(c)) * 1099511628211
	}
	h = (h ^ uint64(typ)) * 1099511628211
	h = (h ^ uint64(app)) * 1099511628211
	return h
}

// Record stores a report from the node that sent an answer of application
// app (its Origin-Host and Origin-Realm). A report whose sequence number
// is not above the one in force is ignored (RFC 7683 §5.5.2); a validity
// of 0 ends the overload condition.
func (o *Overload) Record(app uint32, host, realm []byte, r OLR, now time.Time) {
	name := host
	if r.ReportType == RealmReport {
		name = realm
	}
	if len(name) == 0 {
		return
	}
	k := reportKey(r.ReportType, app, name)
	n := now.UnixNano()
	o.mu.Lock()
	defer o.mu.Unlock()
	old := *o.m.Load()
	if cur, ok := old[k]; ok && cur.expires > n && r.Sequence <= cur.seq {
		return
	}
	next := make(map[uint64]overloadReport, len(old)+1)
	for kk, v := range old {
		if v.expires > n {
			next[kk] = v
		}
	}
	if r.Validity == 0 {
		delete(next, k)
	} else {
		next[k] = overloadReport{
			name: string(lowerASCII(name)), typ: r.ReportType, app: app, seq: r.Sequence,
			reduction: r.Reduction, expires: now.Add(r.Validity).UnixNano(),
		}
	}
	o.Received.Add(1)
	o.m.Store(&next)
}

// Reduction returns the reduction percentage in force for requests of
// application app toward name (a host for HostReport, a realm for
// RealmReport) at now (unix nanos), 0 when none.
func (o *Overload) Reduction(typ, app uint32, name []byte, now int64) uint32 {
	return reduction(o, typ, app, name, now)
}

func reduction[T string | []byte](o *Overload, typ, app uint32, name T, now int64) uint32 {
	m := *o.m.Load()
	if len(m) == 0 {
		return 0
	}
	r, ok := m[reportKey(typ, app, name)]
	if !ok || r.expires <= now || r.typ != typ || r.app != app || !equalFold(name, r.name) {
		return 0
	}
	return r.reduction
}

// active reports whether any report is stored (expired ones included).
func (o *Overload) active() bool { return len(*o.m.Load()) > 0 }

// Reports returns the reports in force, for the dry run and the admin API.
func (o *Overload) Reports(now time.Time) []string {
	var out []string
	for _, r := range *o.m.Load() {
		if r.expires > now.UnixNano() {
			kind := "host"
			if r.typ == RealmReport {
				kind = "realm"
			}
			out = append(out, fmt.Sprintf("%s %s app %d: seq %d, %d%% for %s", kind, r.name, r.app, r.seq, r.reduction,
				time.Unix(0, r.expires).Sub(now).Round(time.Second)))
		}
	}
	return out
}

func lowerASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
