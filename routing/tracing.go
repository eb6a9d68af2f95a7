package routing

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/wire"
)

// Tracing configures OpenTelemetry tracing of requests.
//
// A traced request is a server span from its arrival to its answer's
// departure, with a child span for the routing decision, one per forward
// attempt (a failover shows as several) and one for local application
// handling. Diameter carries no trace context, so every request starts a
// trace and the sampling decision is made here, before any span exists:
// a request that is not sampled costs one random number and nothing else.
type Tracing struct {
	// Tracer makes the spans; nil turns tracing off.
	Tracer trace.Tracer
	// Ratio is the fraction of requests traced, from 0 to 1.
	Ratio float64
}

// sampler is a generation's compiled sampling decision.
type sampler struct {
	tracer trace.Tracer
	all    bool
	below  uint64 // sample when a uniform uint64 falls below
}

func newSampler(t Tracing) sampler {
	if t.Tracer == nil || !(t.Ratio > 0) {
		return sampler{}
	}
	if t.Ratio >= 1 {
		return sampler{tracer: t.Tracer, all: true}
	}
	return sampler{tracer: t.Tracer, below: uint64(t.Ratio * math.MaxUint64)}
}

func (s *sampler) sample() bool {
	return s.tracer != nil && (s.all || rand.Uint64() < s.below)
}

// requestTrace is the tracing state of a sampled request.
type requestTrace struct {
	tracer  trace.Tracer
	ctx     context.Context // carries the server span
	span    trace.Span
	attempt trace.Span // the forward attempt in flight, if any

	// Set by the chain's goroutine before the request is handed to the
	// answer path or a worker, read by serveChain once the chain returns
	// (the Request itself may be released by then).
	route *realm.Route
	local bool
}

// Span attribute keys. There is no OpenTelemetry semantic convention for
// Diameter; these follow the rpc.* conventions' shape.
const (
	attrCommand     = attribute.Key("diameter.command.code")
	attrCommandName = attribute.Key("diameter.command.name")
	attrApp         = attribute.Key("diameter.application_id")
	attrSession     = attribute.Key("diameter.session_id")
	attrOriginHost  = attribute.Key("diameter.origin_host")
	attrOriginRealm = attribute.Key("diameter.origin_realm")
	attrDestHost    = attribute.Key("diameter.destination_host")
	attrDestRealm   = attribute.Key("diameter.destination_realm")
	attrIngress     = attribute.Key("diameter.ingress_peer")
	attrEgress      = attribute.Key("diameter.egress_peer")
	attrResult      = attribute.Key("diameter.result_code")
	attrTFlag       = attribute.Key("diameter.t_flag")
	attrE2E         = attribute.Key("diameter.end_to_end_id")
	attrRoute       = attribute.Key("diameter.route")
	attrAction      = attribute.Key("diameter.route.action")
	attrAttempt     = attribute.Key("diameter.attempt")
	attrOutcome     = attribute.Key("diameter.outcome")
)

// startTrace opens r's server span (it is called before the chain runs).
func (rt *Router) startTrace(r *Request, s *sampler) {
	kind := trace.SpanKindServer
	ingress := "agent"
	if r.Ingress != nil {
		ingress = r.Ingress.Identity()
	} else {
		kind = trace.SpanKindInternal
	}
	m := r.Msg
	ctx, span := s.tracer.Start(context.Background(), "diameter "+commandName(m.Code(), true),
		trace.WithSpanKind(kind), trace.WithTimestamp(r.Received),
		trace.WithAttributes(
			attribute.String("rpc.system", "diameter"),
			attrCommand.Int64(int64(m.Code())),
			attrCommandName.String(commandName(m.Code(), true)),
			attrApp.Int64(int64(m.AppID())),
			attrIngress.String(ingress),
			attrE2E.Int64(int64(m.EndToEnd())),
		))
	r.tr = &requestTrace{tracer: s.tracer, ctx: ctx, span: span}
}

// serveChain runs the chain inside a routing-decision span.
//
// Once the chain returns with a forwarded request, r belongs to the answer
// path and may already be answered and released: only t, which the chain
// filled before handing r over, is read here.
func (rt *Router) serveChain(r *Request) (Answer, error) {
	t := r.tr
	ctx, span := t.tracer.Start(t.ctx, "route")
	ans, err := r.gen.chain.ServeDiameter(ctx, r)
	if t.route != nil {
		span.SetAttributes(attrRoute.String(t.route.Name), attrAction.String(t.route.Action.String()))
	}
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(attrOutcome.String("error"))
	case ans != nil:
		span.SetAttributes(attrOutcome.String("answered by the agent"))
	case t.local:
		span.SetAttributes(attrOutcome.String("local application"))
	default:
		span.SetAttributes(attrOutcome.String("forwarded"))
	}
	span.End()
	return ans, err
}

// beginAttempt opens the span of one forward attempt; it runs before the
// request is queued, since the answer may arrive on another goroutine.
func (r *Request) beginAttempt(p *peers.Peer) {
	if r.tr == nil {
		return
	}
	_, span := r.tr.tracer.Start(r.tr.ctx, "forward "+p.Identity(),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attrEgress.String(p.Identity()),
			attrAttempt.Int(r.ntried),
			attrTFlag.Bool(r.Msg.IsRetransmit()),
		))
	r.tr.attempt = span
}

// endAttempt closes the attempt in flight: outcome says how it ended,
// code is the Result-Code of its answer (0: none).
func (r *Request) endAttempt(outcome string, code uint32, failed bool, opts ...trace.SpanEndOption) {
	if r.tr == nil || r.tr.attempt == nil {
		return
	}
	s := r.tr.attempt
	r.tr.attempt = nil
	s.SetAttributes(attrOutcome.String(outcome))
	if code != 0 {
		s.SetAttributes(attrResult.Int64(int64(code)))
	}
	if failed {
		s.SetStatus(codes.Error, outcome)
	}
	s.End(opts...)
}

// localSpan opens the span of a local application's handling.
func (r *Request) localSpan() (context.Context, trace.Span) {
	return r.tr.tracer.Start(r.tr.ctx, "local application",
		trace.WithAttributes(attrApp.Int64(int64(r.Msg.AppID()))))
}

// endTrace closes r's server span with what is known once it is answered.
func (r *Request) endTrace(code uint32, relayed bool, now time.Time) {
	t := r.tr
	r.endAttempt("answered", code, false, trace.WithTimestamp(now))
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs,
		attrResult.Int64(int64(code)),
		attrTFlag.Bool(r.Msg.IsRetransmit()),
		attribute.Bool("diameter.relayed", relayed),
	)
	for _, a := range [...]struct {
		k attribute.Key
		v []byte
	}{
		{attrSession, r.SessionID()}, {attrOriginHost, r.OriginHost()}, {attrOriginRealm, r.OriginRealm()},
		{attrDestHost, r.DestHost()}, {attrDestRealm, r.DestRealm()},
	} {
		if len(a.v) > 0 {
			attrs = append(attrs, a.k.String(string(a.v)))
		}
	}
	if relayed && r.ntried > 0 {
		attrs = append(attrs, attrEgress.String(r.tried[r.ntried-1].Identity()))
	}
	if r.route != nil {
		attrs = append(attrs, attrRoute.String(r.route.Name))
	}
	t.span.SetAttributes(attrs...)
	if code >= 3000 && code < 6000 || code == 0 {
		t.span.SetStatus(codes.Error, "Result-Code "+strconv.FormatUint(uint64(code), 10))
	}
	t.span.End(trace.WithTimestamp(now))
	r.tr = nil
}

// commandName is the usual abbreviation of a command ("CCR"), or its
// decimal code.
func commandName(code uint32, request bool) string {
	n, ok := commandNames[code]
	if !ok {
		return strconv.FormatUint(uint64(code), 10)
	}
	if request {
		return n + "R"
	}
	return n + "A"
}

var commandNames = map[uint32]string{
	wire.CmdCapabilitiesExchange: "CE", wire.CmdDeviceWatchdog: "DW", wire.CmdDisconnectPeer: "DP",
	258: "RA", 271: "AC", 272: "CC", 274: "AS", 275: "ST", 265: "AA", 268: "DE",
	300: "UA", 301: "SA", 302: "LI", 303: "MA", 304: "RT", 305: "PP", 306: "UD", 307: "PU", 308: "SN", 309: "PN",
	316: "UL", 317: "CL", 318: "AI", 319: "ID", 320: "DS", 321: "PU", 322: "RS", 323: "NO",
}
