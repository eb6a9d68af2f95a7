// Package cdf is the embedded Charging Data Function: Diameter base
// accounting (RFC 6733 §9, application 3) as used by the 3GPP Rf interface.
// It answers Accounting-Requests (command 271) of every record type
// (EVENT 1, START 2, INTERIM 3, STOP 4) only after their CDR is durable in
// an append-only journal.
//
// # Modes
//
// Stateless (Config.Stateful false): every well-formed ACR is written and
// answered 2001, in any order. Stateful: the server side of the RFC 6733
// §8/§9 accounting state machine runs per Session-Id, in a go-memdb table:
//
//   - INTERIM or STOP without a prior START, and any new record after
//     STOP, are answered 5002 DIAMETER_UNKNOWN_SESSION_ID;
//   - a record whose (Session-Id, Accounting-Record-Number) was already
//     written (a retransmission, with or without the T flag) is answered
//     2001 again without a second CDR; if the first copy is still being
//     written, the answer waits for it;
//   - a session without a record for Config.SessionTimeout is released;
//     later records of it are answered 5002;
//   - EVENT records need no session; START on an open session is accepted.
//
// On start the session table is rebuilt by replaying the journal files
// modified within the session timeout.
//
// # Several agents
//
// With state.backend redis (NewShared) the stateful CDF keeps its session
// state and its (Session-Id, Accounting-Record-Number) dedupe in Redis,
// one hash per session (prefix + "cdf:{Session-Id}", one Cluster slot),
// so that every agent on the same Redis and key prefix runs one state
// machine per session: a START through one agent and its INTERIM through
// another are both 2001, and the hash expires SessionTimeout after the
// last record whichever agent accepted it. Each agent still writes the
// CDRs it accepts to its own journal, fsynced before the answer; a record
// is in exactly one agent's journal except in the window named below.
// Agents must have distinct Origin-Hosts, and one Origin-Host is one data
// directory: a restarted agent finds its former runs' claims by it.
//
// A record is served in three steps:
//
//  1. claim: one script checks the record against the state machine and
//     the record's marker, and when accepted sets the new state and the
//     marker "pending, owner, time" (owner: Origin-Host and a random id of
//     the process; time: the Redis server's clock);
//  2. the CDR is appended to the journal and fsynced;
//  3. done: the marker becomes "written"; then 2001 is answered.
//
// A record whose marker is "written" is answered 2001 without a CDR. One
// whose marker is pending, held by another live run, is waited for (up to
// ClaimTimeout, at most 2 s), then answered 3004 DIAMETER_TOO_BUSY with an
// Error-Message naming the claimer: the client resends later. A pending
// claim is taken over (the marker changed atomically, only one agent wins
// it) and the CDR written by the agent that received the record when the
// claim is older than ClaimTimeout, or when the claim is a former run's
// of this very agent after it reconciled (below). A journal write that
// fails releases the claim (and the state change, when no record was
// accepted since) and answers 4002.
//
// Crash windows, for an agent A that crashes (or loses Redis for good)
// while serving a record:
//
//   - after the claim, before the fsync: the CDR is in no journal. A
//     retransmission to A restarted on its journal is written by A at
//     once; to another agent, it is answered 3004 until the claim is
//     ClaimTimeout old, then written there. Exactly one CDR.
//   - after the fsync, before the mark: the CDR is in A's journal. On
//     start, A marks written every record of its journal files modified
//     within the session timeout whose marker is still a claim of A's
//     Origin-Host (reconciliation; retried in the background while Redis
//     is down): from then on any agent answers 2001 without a CDR. Before
//     that, another agent answers 3004 while the claim is younger than
//     ClaimTimeout. If A does not come back within ClaimTimeout, another
//     agent that receives the retransmission writes it again: the one
//     window with two CDRs of a record, in two journals (billing that
//     merges journals may drop the second by session_id and
//     record_number; A logs an error when it finds its claim taken).
//   - after the mark: nothing is left to do.
//
// A claim Redis made whose reply was lost (the ACR answered 5012, no CDR)
// is the claimer's own: its retransmission to that agent is written there
// at once, to another agent it is answered 3004 until ClaimTimeout.
//
// An agent that wrote a CDR but could not store the mark (Redis lost just
// then) answers 2001, since the CDR is durable, and stores the mark once
// Redis is back; meanwhile the record's retransmissions to other agents
// are answered 3004. While Redis cannot be reached every ACR is answered
// 5012 DIAMETER_UNABLE_TO_COMPLY with Error-Message "accounting state
// store unavailable" and writes no CDR. A run whose journal or Redis
// stalls past ClaimTimeout between claim and mark may have its claim
// taken over although it writes the CDR too: ClaimTimeout must exceed the
// longest fsync.
//
// Validation: a missing Session-Id, Origin-Host, Origin-Realm,
// Destination-Realm, Accounting-Record-Type, Accounting-Record-Number or
// Acct-Application-Id (top level or inside Vendor-Specific-Application-Id)
// is answered 5005 with Failed-AVP; a value of the wrong type or an
// Accounting-Record-Type outside 1..4 is answered 5004 with Failed-AVP;
// an AVP the dictionary does not know that has the M bit 5001, and a
// malformed AVP inside a Grouped one or of the wrong size for its type
// 5014, both with Failed-AVP (apps.CheckRequest);
// other commands 3001; a journal that cannot be written 4002
// DIAMETER_OUT_OF_SPACE.
//
// # Journal format
//
// DataDir holds files named cdr-NNNNNNNN.jsonl (an increasing decimal
// sequence, at least 8 digits) and cdr.seq (the last sequence used, so the
// sequence continues even when billing removed old files). Only the file
// with the highest sequence is being appended to; a file is never written
// again once a higher one exists, so billing tools may collect and remove
// all but the newest. A new file is started at every start, when the
// current one would exceed Config.RotateBytes, and when it is older than
// Config.RotateAge.
//
// Each line is one JSON object, one CDR, UTF-8, ended by "\n". Lines are
// written in batches and fsynced before any request in the batch is
// answered. A last line without "\n" is a write cut by a crash, never
// acknowledged, and must be ignored (ReadJournal does; the CDF trims it on
// start). Fields:
//
//	time                 string  RFC 3339 (nanoseconds, UTC): when the CDF received the ACR
//	session_id           string  Session-Id
//	record_type          number  Accounting-Record-Type: 1 EVENT, 2 START, 3 INTERIM, 4 STOP
//	record_number        number  Accounting-Record-Number
//	origin_host          string  Origin-Host of the ACR
//	origin_realm         string  Origin-Realm of the ACR
//	destination_realm    string  Destination-Realm of the ACR
//	user_name            string  User-Name, omitted when absent
//	acct_application_id  number  Acct-Application-Id (top level, or inside Vendor-Specific-Application-Id)
//	event_timestamp      string  Event-Timestamp, RFC 3339 UTC, omitted when absent
//	avp_<code>           any     every other top-level AVP without vendor
//	avp_<code>_v<vendor> any     every other top-level AVP with Vendor-Id
//
// AVP values are decoded when their dictionary type is simple: Unsigned32,
// Unsigned64, Integer32, Integer64, Enumerated and finite Float32/64 as
// JSON numbers; UTF8String, DiameterIdentity and DiameterURI (valid UTF-8)
// as strings; Time as an RFC 3339 string. Anything else (OctetString,
// Address, Grouped, vendor AVPs unknown to the dictionary) is an object
// {"hex": "<lowercase hex of the AVP data>"}. An AVP repeated at the top
// level is a JSON array of its values in message order. Readers must ignore
// keys they do not know. Example:
//
//	{"time":"2026-11-23T10:00:00.123Z","session_id":"pgw;1;2","record_type":2,"record_number":0,"origin_host":"pgw.lab.test","origin_realm":"lab.test","destination_realm":"lab.test","acct_application_id":3,"avp_85":300,"avp_873_v10415":{"hex":"000003..."}}
//
// ReadJournal reads a journal directory; cmd/dra-cdr prints it as JSON
// lines or CSV.
package cdf
