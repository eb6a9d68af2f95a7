// Package aaa is the agent's embedded AAA server: the Diameter NASREQ
// application (RFC 7155, application 1) with PAP and CHAP authentication
// against a users file, Framed-IP-Address allocation from a pool, and a
// durable session table (write-ahead log replayed on start).
package aaa
