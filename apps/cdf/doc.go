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
