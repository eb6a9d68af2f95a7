// Package loadgen generates Diameter (RFC 6733) load and measures the
// answers: a Client that opens peers to any Diameter node and sends request
// mixes in closed or open loop, and a Server that answers everything, to
// stand behind an agent in benchmarks. The draload command (cmd/draload)
// is its command-line front end.
//
// # Client
//
//	mix, _ := loadgen.NewMix(loadgen.MixConfig{Name: loadgen.MixCCR, DestRealm: "ocs.example.net"})
//	cl, _ := loadgen.NewClient(loadgen.ClientConfig{
//		Addr: "127.0.0.1:3868", Conns: 4, InFlight: 100, Duration: 10 * time.Second, Mix: mix,
//		Progress: os.Stderr,
//	})
//	res, err := cl.Run(ctx)
//	res.WriteText(os.Stdout) // or json.Marshal(res)
//
// Each connection is a peer of its own: Origin-Host from a pattern
// ("load-%d.load.test", %d the connection number from 1), CER/CEA
// advertising Relay unless told otherwise, DWR answered with DWA, any other
// request from the node refused with 3001, and at the end a DPR
// (Disconnect-Cause REBOOTING) whose DPA is awaited. TLS from the first
// byte is available (ClientTLS builds the configuration from PEM files).
//
// Closed loop (InFlight) keeps a fixed number of requests in flight across
// all connections: each answer, or timeout, lets the next request go. It
// measures what a node sustains. Open loop (Rate) sends a fixed number of
// requests per second on a schedule that does not wait for answers: every
// connection has its slots at start + k*interval; slots missed while the
// process was held up are sent at once when it resumes, and every latency
// counts from the slot's scheduled time, so a stall shows in full in the
// percentiles instead of being left out (coordinated omission). A run
// stops after Duration or Count; the requests in flight are then waited
// for, at most Timeout.
//
// # Request mixes
//
// All requests carry Session-Id ("<origin-host>;<boot>;<n>", n counting the
// sessions of the run), Origin-Host, Origin-Realm, Destination-Realm,
// Destination-Host when configured, the application's Auth- or
// Acct-Application-Id and the P bit.
//
//   - generic: one request per session with any Application-Id and
//     Command-Code, padded to a size with an opaque vendor-specific AVP
//     without the M bit (vendor 32473, reserved for documentation), for
//     relay tests.
//   - ccr: Gy/Ro credit control (RFC 4006; application 4, command 272):
//     CCR-INITIAL, Updates x CCR-UPDATE and CCR-TERMINATION, with
//     Service-Context-Id, CC-Request-Type/Number, Subscription-Id
//     (END_USER_E164 from the subscriber range) and
//     Multiple-Services-Credit-Control with Requested-/Used-Service-Unit
//     (CC-Total-Octets) and Rating-Group.
//   - acr: accounting (application 3, command 271): START, Updates x
//     INTERIM, STOP with Accounting-Record-Type/Number and User-Name.
//   - aar: NASREQ AA-Request (RFC 7155; application 1, command 265) with
//     Auth-Request-Type, NAS-Identifier, User-Name and a PAP
//     User-Password.
//
// The requests of a session go in order, each only after the answer to the
// previous one, whatever its result code (a session whose request is
// unanswered is abandoned). With Count, only whole sessions are started.
//
// # Measurements
//
// Result counts requests sent, answered and unanswered (timed out, or lost
// with their connection; an answer arriving after the timeout counts as
// late, not answered), answers per Result-Code (an Experimental-Result-Code
// counts in the same map and is also listed apart), throughput, latency
// percentiles p50/p90/p99/p99.9/max from a log-linear histogram (1 ns to
// 68 s, under 1% error, 30 KiB, one per connection, merged at the end), and
// the process's CPU time from getrusage. A progress line per interval
// gives the rate and the p99 of the interval alone.
//
// # Server
//
// Server accepts any number of peers and answers CER with CEA 2001, DWR,
// DPR, and every application request with the request's Session-Id, its own
// Origin-Host/Realm, the configured Result-Code (or Experimental-Result)
// and the AVPs an answer echoes: Auth-/Acct-Application-Id,
// CC-Request-Type/Number, Accounting-Record-Type/Number, Auth-Request-Type,
// Proxy-Info. A fixed Delay holds answers back in a per-connection queue,
// without a goroutine or timer per request. Shutdown sends DPR to every
// peer.
//
// # Cost
//
// The request path builds and parses with package wire, in pool buffers:
// building a request, matching its answer in the connection's pending ring
// (indexed by Hop-by-Hop Identifier), reading the result code, recording
// the latency, and the server's answer, allocate nothing in steady state
// (see the benchmarks and TestZeroAllocs). Each connection has one reader
// goroutine and one writer goroutine that writes what is queued in one
// system call.
//
// Measured on a shared 2-core virtual machine (Go 1.26, linux/amd64), the
// client and `draload server` in separate processes on loopback, 4
// connections, 10 s runs:
//
//	closed loop, 100 in flight, generic 200 B   506,000 answers/s   1.6 µs client CPU per request
//	closed loop, 100 in flight, generic 1 KiB   400,000 answers/s   1.7 µs
//	closed loop, 100 in flight, ccr             463,000 answers/s   1.7 µs
//	open loop, 100,000 requests/s               100,000 answers/s   8.2 µs
//	open loop, 5,000 requests/s                   5,000 answers/s  40 µs
//
// In closed loop many requests share each system call; in open loop at
// low rates each request has its own wake-up, write and read, which then
// dominate. Either way one core of the generator drives a few hundred
// thousand requests per second through an agent, well beyond what a
// 2-core agent forwards, so on such a machine the generator is not the
// bottleneck; give it its own core (taskset) when measuring an agent.
package loadgen
