package routing_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/wire"
)

// sizedRequest is a ULR of exactly n bytes (n a multiple of 4, large
// enough), padded with an AVP the agent does not know.
func sizedRequest(sid, host string, n int) wire.Msg {
	m := dratest.Request(16777251, 316, sid, host, "internal.test", "partner.test", "")
	pad := n - len(m) - 8
	if pad < 0 || pad%4 != 0 {
		panic(fmt.Sprintf("cannot make a %d-byte request (%d bytes without padding)", n, len(m)))
	}
	return m.AppendAVP(1001, 0, 0, make([]byte, pad))
}

// TestRoutingAVPsSurviveRouteRecordGrowth relays requests whose size is
// around every buffer pool class boundary, so that adding the Route-Record
// moves many of them to a larger buffer, through topology hiding, AVP rules
// keyed on the Destination-Realm, followed and cached redirects and
// tracing, from several clients at once. Everything that reads a request's
// routing AVPs after the Route-Record was added must see the bytes that
// client sent: the servers, the topology-hiding session map (checked by
// restoring every session), the AVP rules (every request and answer is
// tagged), the redirect cache keys and the span attributes.
func TestRoutingAVPsSurviveRouteRecordGrowth(t *testing.T) {
	const maxMsg = 1 << 17
	hss := dratest.Start(t, dratest.Options{Host: "hss.partner.test", Realm: "partner.test", Listen: true, MaxMessageSize: maxMsg})
	redir := dratest.Start(t, dratest.Options{Host: "redir.partner.test", Realm: "partner.test", Listen: true, MaxMessageSize: maxMsg,
		Serve: func(n *dratest.Node, m wire.Msg) wire.Msg {
			ans := n.Answer(m, wire.ResultRedirectIndication)
			ans.SetFlags(ans.Flags() | wire.FlagError)
			ans = ans.AppendStringAVP(wire.AVPRedirectHost, wire.AVPFlagMandatory, 0, "aaa://hss.partner.test:3868;transport=tcp")
			ans = ans.AppendUint32AVP(wire.AVPRedirectHostUsage, wire.AVPFlagMandatory, 0, 1) // ALL_SESSION
			return ans.AppendUint32AVP(wire.AVPRedirectMaxCacheTime, wire.AVPFlagMandatory, 0, 600)
		}})
	a := startAgent(t, peerYAML(nodes(hss, redir))+fmt.Sprintf(`limits:
  max_message_size: %d
routes:
  - realm: partner.test
    action: relay
    peers: [{host: redir.partner.test}]
routing:
  follow_redirects: true
  timeout: 10s
policy:
  topology_hiding:
    - name: roaming
      peers: [hss.partner.test, redir.partner.test]
      internal_hosts: ["*.internal.test"]
      pseudonym: edge.dra.test
  avp_rules:
    - name: tag-request
      when: {destination_realms: [partner.test]}
      actions:
        - {action: add, code: 25, value: "tagged"}
    - name: tag-answer
      direction: answer
      when: {destination_realms: [partner.test]}
      actions:
        - {action: add, code: 281, mandatory: false, value: "seen by policy"}
`, maxMsg))
	waitPeers(t, a, "hss.partner.test", "redir.partner.test")
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	a.Router().SetTracing(routing.Tracing{Tracer: tp.Tracer("test"), Ratio: 1})

	// Sizes from 40 bytes below to 8 above every class: the Route-Record
	// of "mmeN.internal.test" takes 28 bytes.
	var sizes []int
	for class := 256; class <= 1<<16; class <<= 1 {
		for n := class - 40; n <= class+8; n += 4 {
			sizes = append(sizes, n)
		}
	}
	const clients, sessionsPerSize, requestsPerSession = 4, 2, 2
	type sent struct{ host, sid string }
	var (
		mu       sync.Mutex
		byE2E    = map[string]string{} // ingress|End-to-End -> Session-Id
		sessions = map[string]string{} // Session-Id -> client host
	)
	var cs []*dratest.Node
	for i := range clients {
		cs = append(cs, client(t, a, fmt.Sprintf("mme%d.internal.test", i)))
	}
	var wg sync.WaitGroup
	for ci, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := c.Opts.Host
			sem := make(chan struct{}, 32)
			var inner sync.WaitGroup
			for round := range requestsPerSession {
				for si, n := range sizes {
					for k := range sessionsPerSize {
						sid := fmt.Sprintf("%s;%d;%d;%d", host, ci, si, k)
						req := sizedRequest(sid, host, n)
						sem <- struct{}{}
						ch, _, e2e := c.SendIDs(t, draHost, req)
						mu.Lock()
						byE2E[host+"|"+strconv.FormatUint(uint64(e2e), 10)] = sid
						sessions[sid] = host
						mu.Unlock()
						inner.Add(1)
						go func() {
							defer inner.Done()
							defer func() { <-sem }()
							select {
							case ans := <-ch:
								if code := dratest.ResultCode(ans); code != wire.ResultSuccess {
									t.Errorf("%s (%d bytes, round %d): %d %s", sid, n, round, code, dratest.String(ans, wire.AVPErrorMessage))
								}
								if got := dratest.String(ans, wire.AVPSessionID); got != sid {
									t.Errorf("%s: answer carries Session-Id %q", sid, got)
								}
								if dratest.String(ans, wire.AVPErrorMessage) != "seen by policy" {
									t.Errorf("%s (%d bytes): the answer rule for partner.test did not run", sid, n)
								}
							case <-time.After(20 * time.Second):
								t.Errorf("%s: no answer", sid)
							}
						}()
					}
				}
				inner.Wait() // the redirect of round 0 is cached before round 1
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	for _, srv := range []*dratest.Node{hss, redir} {
		for _, m := range srv.Received() {
			sid := dratest.String(m, wire.AVPSessionID)
			if _, ok := sessions[sid]; !ok {
				t.Errorf("%s received Session-Id %q, which no client sent", srv.Opts.Host, sid)
			}
			if got := dratest.String(m, 25); got != "tagged" {
				t.Errorf("%s received %s (%d bytes) without the request rule's Class", srv.Opts.Host, sid, len(m))
			}
			if oh := dratest.String(m, wire.AVPOriginHost); oh != "edge.dra.test" {
				t.Errorf("%s received %s from Origin-Host %q", srv.Opts.Host, sid, oh)
			}
		}
	}
	if got, want := redir.Count(), uint64(len(sessions)); got != want {
		t.Errorf("redirecting server got %d requests, want one per session (%d): redirects cached under the wrong Session-Id", got, want)
	}

	// Redirect cache keys.
	cached := 0
	for _, k := range a.Router().RedirectKeys() {
		sid, ok := strings.CutPrefix(k, "s|")
		if !ok {
			t.Errorf("redirect cache key %q", k)
			continue
		}
		if _, ok := sessions[sid]; !ok {
			t.Errorf("redirect cached for Session-Id %q, which no client sent", sid)
		}
		cached++
	}
	if cached != len(sessions) {
		t.Errorf("%d redirects cached, want %d", cached, len(sessions))
	}

	// Span attributes: every request span names the Session-Id its
	// request carried.
	spans := 0
	for _, s := range exp.GetSpans() {
		if s.Parent.IsValid() {
			continue
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		key := attrs["diameter.ingress_peer"] + "|" + attrs["diameter.end_to_end_id"]
		want, ok := byE2E[key]
		if !ok {
			continue // a restoration request below, or not ours
		}
		spans++
		if got := attrs["diameter.session_id"]; got != want {
			t.Errorf("span of %s: diameter.session_id %q", want, got)
		}
		if got := attrs["diameter.destination_realm"]; got != "partner.test" {
			t.Errorf("span of %s: diameter.destination_realm %q", want, got)
		}
		if got := attrs["diameter.origin_host"]; got != sessions[want] {
			t.Errorf("span of %s: diameter.origin_host %q", want, got)
		}
	}
	if spans != len(byE2E) {
		t.Errorf("%d request spans for %d requests", spans, len(byE2E))
	}

	// Topology hiding remembered every session under its own Session-Id:
	// the external side reaches the right client through the pseudonym.
	restored := map[string]int{}
	for sid, host := range sessions {
		ans := hss.Call(t, draHost, dratest.Request(16777251, 317, sid, "hss.partner.test", "partner.test", "internal.test", "edge.dra.test"))
		if code := dratest.ResultCode(ans); code != wire.ResultSuccess {
			t.Errorf("restoring %s: %d %s", sid, code, dratest.String(ans, wire.AVPErrorMessage))
			continue
		}
		restored[host]++
	}
	for _, c := range cs {
		for _, m := range c.Received() {
			sid := dratest.String(m, wire.AVPSessionID)
			if owner := sessions[sid]; owner != c.Opts.Host || dratest.String(m, wire.AVPDestinationHost) != c.Opts.Host {
				t.Errorf("%s received %s for Destination-Host %q (session of %q)", c.Opts.Host, sid, dratest.String(m, wire.AVPDestinationHost), owner)
			}
		}
		if uint64(restored[c.Opts.Host]) != c.Count() {
			t.Errorf("%s: %d sessions restored, %d requests received", c.Opts.Host, restored[c.Opts.Host], c.Count())
		}
	}
}
