package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/dra-project/dra/agent"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/telemetry"
	"github.com/dra-project/dra/wire"
)

const draHost, draRealm = "dra.tel.test", "tel.test"

var head = fmt.Sprintf("identity: {origin_host: %s, origin_realm: %s}\nlisten: [{address: \"127.0.0.1:0\"}]\n", draHost, draRealm)

// startAgent runs an agent from yaml (appended to its identity and a
// loopback listener) with extra agent options, stopped when the test ends.
func startAgent(t *testing.T, yaml string, opts ...agent.Option) *agent.Agent {
	t.Helper()
	cfg, err := configs.Parse([]byte(head + yaml))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, dratest.Logger(t, slog.LevelWarn), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return a
}

// topology starts two servers (busy answers 3004, ok answers 2001) and a
// client, with a route trying busy first and failing over to ok on 3004.
func topology(t *testing.T, extra string, opts ...agent.Option) (*agent.Agent, *dratest.Node) {
	a, c, _ := topologyYAML(t, extra, opts...)
	return a, c
}

// topologyYAML is topology that also returns the agent's configuration
// without its identity and listener (to reload a variant of it).
func topologyYAML(t *testing.T, extra string, opts ...agent.Option) (*agent.Agent, *dratest.Node, string) {
	t.Helper()
	busy := dratest.Start(t, dratest.Options{Host: "busy.srv.test", Realm: "srv.test", Listen: true,
		Serve: func(n *dratest.Node, req wire.Msg) wire.Msg { return n.Answer(req, wire.ResultTooBusy) }})
	ok := dratest.Start(t, dratest.Options{Host: "ok.srv.test", Realm: "srv.test", Listen: true})
	yaml := fmt.Sprintf(`peers:
  - {host: busy.srv.test, address: "%s", connect: true}
  - {host: ok.srv.test, address: "%s", connect: true}
accept_unknown_peers: true
routing: {failover_on_busy: true, retries: 2}
routes:
  - name: to-srv
    realm: srv.test
    action: relay
    peers: [{host: busy.srv.test, priority: 1}, {host: ok.srv.test, priority: 2}]
  - {name: here, realm: tel.test, action: local}
timers: {watchdog: 6s, reconnect: 1s, reconnect_max: 2s}
`, busy.Addr(), ok.Addr()) + extra
	a := startAgent(t, yaml, opts...)
	dratest.WaitPeers(t, a, "busy.srv.test", "ok.srv.test")
	return a, dratest.Client(t, a, draHost, "nas.cli.test", "cli.test"), yaml
}

func ccr(session string) wire.Msg {
	return dratest.Request(4, 272, session, "nas.cli.test", "cli.test", "srv.test", "")
}

func TestSpansOfAFailedOverRequest(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	_, c := topology(t, "telemetry: {traces: {sampling_ratio: 1}}\n",
		agent.WithTelemetry(telemetry.WithSpanExporter(exp)))
	if ans := c.Call(t, draHost, ccr("cli;1;1")); dratest.ResultCode(ans) != wire.ResultSuccess {
		t.Fatalf("answer %d", dratest.ResultCode(ans))
	}
	spans := waitSpans(t, exp, 4)
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	root := one(t, byName, "diameter CCR")
	if root.Parent.IsValid() {
		t.Error("the request span has a parent")
	}
	attrs := attrMap(root)
	for k, want := range map[string]string{
		"diameter.command.code": "272", "diameter.application_id": "4", "diameter.session_id": "cli;1;1",
		"diameter.origin_host": "nas.cli.test", "diameter.origin_realm": "cli.test",
		"diameter.destination_realm": "srv.test", "diameter.ingress_peer": "nas.cli.test",
		"diameter.egress_peer": "ok.srv.test", "diameter.result_code": "2001", "diameter.t_flag": "true",
		"diameter.route": "to-srv", "rpc.system": "diameter",
	} {
		if attrs[k] != want {
			t.Errorf("request span %s = %q, want %q", k, attrs[k], want)
		}
	}
	route := one(t, byName, "route")
	if route.Parent.SpanID() != root.SpanContext.SpanID() || attrMap(route)["diameter.route.action"] != "relay" {
		t.Errorf("route span: parent %v, attrs %v", route.Parent.SpanID(), attrMap(route))
	}
	busy := one(t, byName, "forward busy.srv.test")
	ok := one(t, byName, "forward ok.srv.test")
	for _, s := range []tracetest.SpanStub{busy, ok} {
		if s.Parent.SpanID() != root.SpanContext.SpanID() || s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("%s is not a child of the request span", s.Name)
		}
	}
	if a := attrMap(busy); a["diameter.outcome"] != "busy" || a["diameter.result_code"] != "3004" || a["diameter.t_flag"] != "false" || a["diameter.attempt"] != "1" {
		t.Errorf("first attempt: %v", a)
	}
	if a := attrMap(ok); a["diameter.outcome"] != "answered" || a["diameter.result_code"] != "2001" || a["diameter.t_flag"] != "true" || a["diameter.attempt"] != "2" {
		t.Errorf("second attempt: %v", a)
	}
	if !busy.EndTime.After(busy.StartTime) || ok.StartTime.Before(busy.EndTime) {
		t.Error("attempts overlap or have no duration")
	}
	if root.StartTime.After(route.StartTime) || root.EndTime.Before(ok.EndTime) {
		t.Error("the request span does not enclose its children")
	}
}

func TestSpanOfALocalAnswerAndSampling(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	dir := t.TempDir()
	a, c := topology(t, fmt.Sprintf("apps: {cdf: {enabled: true, data_dir: %s}}\ntelemetry: {traces: {sampling_ratio: 1}}\n", dir),
		agent.WithTelemetry(telemetry.WithSpanExporter(exp)))
	acr := dratest.Request(3, 271, "cli;2;1", "nas.cli.test", "cli.test", draRealm, "")
	acr = acr.AppendUint32AVP(480, wire.AVPFlagMandatory, 0, 1) // EVENT_RECORD
	acr = acr.AppendUint32AVP(485, wire.AVPFlagMandatory, 0, 0)
	acr = acr.AppendUint32AVP(wire.AVPAcctApplicationID, wire.AVPFlagMandatory, 0, 3)
	if ans := c.Call(t, draHost, acr); dratest.ResultCode(ans) != wire.ResultSuccess {
		t.Fatalf("ACR: %d %s", dratest.ResultCode(ans), dratest.String(ans, wire.AVPErrorMessage))
	}
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range waitSpans(t, exp, 3) {
		byName[s.Name] = append(byName[s.Name], s)
	}
	root := one(t, byName, "diameter ACR")
	local := one(t, byName, "local application")
	if local.Parent.SpanID() != root.SpanContext.SpanID() {
		t.Error("local application span is not a child of the request span")
	}
	if a := attrMap(root); a["diameter.relayed"] != "false" || a["diameter.result_code"] != "2001" {
		t.Errorf("request span: %v", a)
	}

	// Sampling off: no span at all; 1 in 2: about half.
	tr := a.Telemetry().Tracing()
	for _, tc := range []struct {
		ratio    float64
		min, max int
	}{{0, 0, 0}, {0.5, 60, 140}} {
		tr.Ratio = tc.ratio
		a.Router().SetTracing(tr)
		exp.Reset()
		const n = 200
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			ch := c.Send(t, draHost, dratest.Request(99, 1000, fmt.Sprintf("cli;3;%d", i), "nas.cli.test", "cli.test", "nowhere.test", ""))
			go func() { defer wg.Done(); <-ch }()
		}
		wg.Wait()
		got := 0
		for _, s := range exp.GetSpans() {
			if !s.Parent.IsValid() {
				got++
			}
		}
		if got < tc.min || got > tc.max {
			t.Errorf("ratio %v: %d of %d requests traced, want %d..%d", tc.ratio, got, n, tc.min, tc.max)
		}
	}
}

// The sampling ratio changes on reload; the exporter stays.
func TestSamplingRatioReloads(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	a, c, yaml := topologyYAML(t, "", agent.WithTelemetry(telemetry.WithSpanExporter(exp)))
	for i, ratio := range []string{"0", "1", "0"} {
		cfg, err := configs.Parse([]byte(head + yaml + "telemetry: {traces: {sampling_ratio: " + ratio + "}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		exp.Reset()
		c.Call(t, draHost, ccr(fmt.Sprintf("cli;6;%d", i)))
		if got, want := len(exp.GetSpans()) > 0, ratio == "1"; got != want {
			t.Errorf("sampling_ratio %s: traced %v", ratio, got)
		}
	}
}

func TestSpansReachAnOTLPHTTPReceiver(t *testing.T) {
	var mu sync.Mutex
	var names []string
	var service string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.Resource.GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Write(b)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	a, c := topology(t, fmt.Sprintf(`telemetry:
  service_name: dra-under-test
  traces: {exporter: otlp, protocol: http/protobuf, endpoint: "http://%s", sampling_ratio: 1}
`, ln.Addr()))
	for i := range 5 {
		c.Call(t, draHost, ccr(fmt.Sprintf("cli;4;%d", i)))
	}
	// Shutdown flushes the batch processor.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if service != "dra-under-test" {
		t.Errorf("service.name %q", service)
	}
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	if count["diameter CCR"] != 5 || count["route"] != 5 || count["forward ok.srv.test"] != 5 || count["forward busy.srv.test"] != 5 {
		t.Errorf("spans received: %v", count)
	}
}

func TestPrometheusEndpoint(t *testing.T) {
	a, c := topology(t, "admin: {address: \"127.0.0.1:0\"}\n")
	const n = 20
	for i := range n {
		c.Call(t, draHost, ccr(fmt.Sprintf("cli;5;%d", i)))
	}
	c.Call(t, draHost, dratest.Request(4, 272, "cli;5;x", "nas.cli.test", "cli.test", "nowhere.test", ""))
	fams := scrape(t, a.AdminAddr())
	check := func(name string, labels map[string]string, want float64) {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Errorf("no metric %s", name)
			return
		}
	next:
		for _, m := range f.Metric {
			for k, v := range labels {
				found := false
				for _, lp := range m.Label {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			var got float64
			switch {
			case m.Counter != nil:
				got = m.Counter.GetValue()
			case m.Gauge != nil:
				got = m.Gauge.GetValue()
			case m.Histogram != nil:
				got = float64(m.Histogram.GetSampleCount())
			}
			if got != want {
				t.Errorf("%s%v = %v, want %v", name, labels, got, want)
			}
			return
		}
		t.Errorf("%s: no series with %v", name, labels)
	}
	check("dra_requests_total", map[string]string{"application_id": "4", "command": "CC", "peer": "nas.cli.test"}, n+1)
	check("dra_answers_total", map[string]string{"command": "CC", "result_code": "2001", "peer": "ok.srv.test", "source": "relayed"}, n)
	check("dra_answers_total", map[string]string{"command": "CC", "result_code": "3003", "peer": "", "source": "agent"}, 1)
	check("dra_router_events_total", map[string]string{"event": "busy"}, n)
	check("dra_router_events_total", map[string]string{"event": "retransmit"}, n)
	check("dra_request_duration_seconds", map[string]string{"command": "CC", "source": "relayed"}, n)
	check("dra_request_agent_duration_seconds", map[string]string{"command": "CC", "source": "agent"}, 1)
	check("dra_peer_up", map[string]string{"peer": "ok.srv.test"}, 1)
	check("dra_peer_state", map[string]string{"peer": "ok.srv.test", "state": "I-Open"}, 1)
	check("dra_peer_watchdog", map[string]string{"peer": "busy.srv.test", "state": "OKAY"}, 1)
	check("dra_peer_pending", map[string]string{"peer": "ok.srv.test"}, 0)
	check("dra_reloads_total", map[string]string{"outcome": "failure"}, 0)
	check("dra_policy_events_total", map[string]string{"event": "refused_peer"}, 0)
	check("dra_peer_frame_errors_total", nil, 0)
	for _, reason := range []string{"connection_limit", "tls_handshake", "cer_timeout", "not_cer", "cer_refused"} {
		check("dra_peer_connections_unopened_total", map[string]string{"reason": reason}, 0)
	}
	check("dra_policy_doic_reports", nil, 0)
	check("dra_state_backend_up", map[string]string{"backend": "embedded"}, 1)
	check("dra_state_unavailable_total", map[string]string{"backend": "embedded"}, 0)
	if h := fams["dra_request_duration_seconds"]; h != nil {
		for _, m := range h.Metric {
			if b := m.Histogram.GetBucket(); len(b) < 10 {
				t.Errorf("histogram with %d buckets", len(b))
			}
		}
	}
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func waitSpans(t *testing.T, exp *tracetest.InMemoryExporter, n int) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := exp.GetSpans()
		if len(s) >= n || time.Now().After(deadline) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func one(t *testing.T, by map[string][]tracetest.SpanStub, name string) tracetest.SpanStub {
	t.Helper()
	if len(by[name]) != 1 {
		names := []string{}
		for k, v := range by {
			names = append(names, fmt.Sprintf("%s x%d", k, len(v)))
		}
		t.Fatalf("want one span %q, have %s", name, strings.Join(names, ", "))
	}
	return by[name][0]
}

func attrMap(s tracetest.SpanStub) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

var _ sdktrace.SpanExporter = (*tracetest.InMemoryExporter)(nil)

// Many traced requests at once, failed over and answered on other
// goroutines while the chain's goroutine finishes its routing span: every
// one gets its complete trace (run with -race, this also checks that the
// span bookkeeping never touches a request after it is handed over).
func TestConcurrentTracedRequests(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	_, c := topology(t, "telemetry: {traces: {sampling_ratio: 1}}\n",
		agent.WithTelemetry(telemetry.WithSpanExporter(exp)))
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		ch := c.Send(t, draHost, ccr(fmt.Sprintf("cli;7;%d", i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m := <-ch; dratest.ResultCode(m) != wire.ResultSuccess {
				t.Errorf("answer %d", dratest.ResultCode(m))
			}
		}()
	}
	wg.Wait()
	count := map[string]int{}
	routed := 0
	for _, s := range waitSpans(t, exp, 4*n) {
		count[s.Name]++
		if s.Name == "route" && attrMap(s)["diameter.route"] == "to-srv" && attrMap(s)["diameter.outcome"] == "forwarded" {
			routed++
		}
	}
	if count["diameter CCR"] != n || count["forward busy.srv.test"] != n || count["forward ok.srv.test"] != n || routed != n {
		t.Errorf("spans %v, %d route spans with route and outcome, want %d of each", count, routed, n)
	}
}
