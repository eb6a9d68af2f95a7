package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dra-project/dra/wire"
)

// connStats are one connection's counters. The histogram and the result
// codes are written by the connection's reader goroutine only.
type connStats struct {
	hist     Histogram
	sent     atomic.Uint64
	answered atomic.Uint64
	timeouts atomic.Uint64
	lost     atomic.Uint64
	late     atomic.Uint64
	codes    codeCounts
}

// codeKey packs a result code and whether it came in Experimental-Result.
type codeKey uint64

const expBit = 1 << 32

func makeCodeKey(code uint32, exp bool) codeKey {
	if exp {
		return codeKey(code) | expBit
	}
	return codeKey(code)
}

// codeCounts counts answers per result code: a short array searched
// linearly (an answer stream has a handful of distinct codes), with a map
// for the unusual overflow.
type codeCounts struct {
	small [16]struct {
		key codeKey
		n   uint64
	}
	ns   int
	more map[codeKey]uint64
}

func (c *codeCounts) add(k codeKey) {
	for i := range c.small[:c.ns] {
		if c.small[i].key == k {
			c.small[i].n++
			return
		}
	}
	if c.ns < len(c.small) {
		c.small[c.ns].key, c.small[c.ns].n = k, 1
		c.ns++
		return
	}
	if c.more == nil {
		c.more = map[codeKey]uint64{}
	}
	c.more[k]++
}

// addTo adds the counts to the maps of a Result.
func (c *codeCounts) addTo(all, exp map[uint32]uint64) {
	add := func(k codeKey, n uint64) {
		all[uint32(k)] += n
		if k&expBit != 0 {
			exp[uint32(k)] += n
		}
	}
	for _, e := range c.small[:c.ns] {
		add(e.key, e.n)
	}
	for k, n := range c.more {
		add(k, n)
	}
}

// resultCode returns the Result-Code of an answer, or the
// Experimental-Result-Code of its Experimental-Result (exp true); 0 if
// it has neither.
func resultCode(m wire.Msg) (code uint32, exp bool) {
	it := m.AVPs()
	for it.Next() {
		a := it.AVP()
		if a.VendorID != 0 {
			continue
		}
		switch a.Code {
		case wire.AVPResultCode:
			v, _ := a.Uint32()
			return v, false
		case wire.AVPExperimentalResult:
			g := a.Group()
			for g.Next() {
				if x := g.AVP(); x.Code == avpExperimentalResultVal && x.VendorID == 0 {
					v, _ := x.Uint32()
					return v, true
				}
			}
		}
	}
	return 0, false
}

// Latency summarises the latency histogram of a run.
type Latency struct {
	P50, P90, P99, P999, Max, Mean time.Duration
}

func latencyOf(h *Histogram) Latency {
	return Latency{
		P50: h.Quantile(0.50), P90: h.Quantile(0.90), P99: h.Quantile(0.99),
		P999: h.Quantile(0.999), Max: h.Max(), Mean: h.Mean(),
	}
}

// Result is the outcome of a client run.
type Result struct {
	Mix         string
	Connections int
	InFlight    int     // closed loop: requests kept in flight; 0 in open loop
	Rate        float64 // open loop: requests per second scheduled; 0 in closed loop

	// Sent requests; each was Answered or is Unanswered, either because
	// it timed out (Timeouts) or because its connection closed first
	// (Lost). Late counts answers that came after their request timed out
	// (those requests stay counted as timeouts).
	Sent, Answered, Unanswered, Timeouts, Lost, Late uint64

	// ResultCodes counts answers by Result-Code or, for answers carrying
	// Experimental-Result instead, Experimental-Result-Code; 0 counts
	// answers with neither. ExperimentalCodes is the part of ResultCodes
	// that came in Experimental-Result.
	ResultCodes       map[uint32]uint64
	ExperimentalCodes map[uint32]uint64

	// Duration runs from the first request to the last answer or timeout;
	// Throughput is Answered/Duration.
	Duration   time.Duration
	Throughput float64
	Latency    Latency
	// Histogram holds every latency recorded, for other percentiles.
	Histogram *Histogram

	// ClientCPU is the CPU time (user and system) the process used during
	// the run, from getrusage: the generator's own cost when it runs alone
	// in its process.
	ClientCPU time.Duration

	// Peer is the Origin-Host the node announced in its CEA, and
	// PeerProduct its Product-Name.
	Peer, PeerProduct string
	// Errors lists connection failures during the run.
	Errors []string
}

// CPUPerRequest is the client CPU time per request sent.
func (r *Result) CPUPerRequest() time.Duration {
	if r.Sent == 0 {
		return 0
	}
	return r.ClientCPU / time.Duration(r.Sent)
}

type jsonLatency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type jsonResult struct {
	Sent              uint64            `json:"sent"`
	Answered          uint64            `json:"answered"`
	Unanswered        uint64            `json:"unanswered"`
	Timeouts          uint64            `json:"timeouts"`
	Lost              uint64            `json:"lost"`
	Late              uint64            `json:"late"`
	ResultCodes       map[string]uint64 `json:"result_codes"`
	ExperimentalCodes map[string]uint64 `json:"experimental_result_codes"`
	DurationS         float64           `json:"duration_s"`
	ThroughputRPS     float64           `json:"throughput_rps"`
	LatencyUS         jsonLatency       `json:"latency_us"`
	Connections       int               `json:"connections"`
	InFlight          int               `json:"in_flight"`
	Rate              float64           `json:"rate"`
	Mix               string            `json:"mix"`
	ClientCPUS        float64           `json:"client_cpu_s"`
	CPUPerRequestUS   float64           `json:"client_cpu_us_per_request"`
	Peer              string            `json:"peer"`
	PeerProduct       string            `json:"peer_product"`
	Errors            []string          `json:"errors"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func codeMap(m map[uint32]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[strconv.FormatUint(uint64(k), 10)] = v
	}
	return out
}

// MarshalJSON encodes the result with stable snake_case field names:
// counts, result_codes {"2001": n}, duration_s, throughput_rps,
// latency_us {p50, p90, p99, p999, max, mean}, the run's parameters and
// client_cpu_s.
func (r *Result) MarshalJSON() ([]byte, error) {
	errs := r.Errors
	if errs == nil {
		errs = []string{}
	}
	return json.Marshal(jsonResult{
		Sent: r.Sent, Answered: r.Answered, Unanswered: r.Unanswered,
		Timeouts: r.Timeouts, Lost: r.Lost, Late: r.Late,
		ResultCodes:       codeMap(r.ResultCodes),
		ExperimentalCodes: codeMap(r.ExperimentalCodes),
		DurationS:         r.Duration.Seconds(),
		ThroughputRPS:     r.Throughput,
		LatencyUS: jsonLatency{P50: us(r.Latency.P50), P90: us(r.Latency.P90), P99: us(r.Latency.P99),
			P999: us(r.Latency.P999), Max: us(r.Latency.Max), Mean: us(r.Latency.Mean)},
		Connections: r.Connections, InFlight: r.InFlight, Rate: r.Rate, Mix: r.Mix,
		ClientCPUS:      r.ClientCPU.Seconds(),
		CPUPerRequestUS: us(r.CPUPerRequest()),
		Peer:            r.Peer, PeerProduct: r.PeerProduct,
		Errors: errs,
	})
}

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", us(d))
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// WriteText writes the human-readable summary.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	mode := fmt.Sprintf("closed loop, %d in flight", r.InFlight)
	if r.Rate > 0 {
		mode = fmt.Sprintf("open loop, %g requests/s", r.Rate)
	}
	peer := r.Peer
	if r.PeerProduct != "" {
		peer += " (" + r.PeerProduct + ")"
	}
	fmt.Fprintf(&b, "mix %s, %d connections to %s, %s\n", r.Mix, r.Connections, peer, mode)
	fmt.Fprintf(&b, "requests     sent %d, answered %d, unanswered %d (timeouts %d, connection lost %d)",
		r.Sent, r.Answered, r.Unanswered, r.Timeouts, r.Lost)
	if r.Late > 0 {
		fmt.Fprintf(&b, ", late answers %d", r.Late)
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "duration     %.3fs\n", r.Duration.Seconds())
	fmt.Fprintf(&b, "throughput   %.0f answers/s\n", r.Throughput)
	l := r.Latency
	fmt.Fprintf(&b, "latency      p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
		fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.Max), fmtDur(l.Mean))
	codes := []string{}
	for _, c := range slices.Sorted(maps.Keys(r.ResultCodes)) {
		s := fmt.Sprintf("%d: %d", c, r.ResultCodes[c])
		if n := r.ExperimentalCodes[c]; n > 0 {
			s += fmt.Sprintf(" (%d in Experimental-Result)", n)
		}
		codes = append(codes, s)
	}
	if len(codes) == 0 {
		codes = append(codes, "none")
	}
	fmt.Fprintf(&b, "result codes %s\n", strings.Join(codes, ", "))
	fmt.Fprintf(&b, "client CPU   %.2fs, %.1fµs per request\n", r.ClientCPU.Seconds(), us(r.CPUPerRequest()))
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error        %s\n", e)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
