// Package realm is the realm-based routing table of RFC 6733 §2.7: entries
// keyed by Destination-Realm and Application-Id, with an action (local,
// relay, proxy, redirect) and prioritised, weighted peer groups. A Table is
// immutable; a reload builds a new one.
package realm
