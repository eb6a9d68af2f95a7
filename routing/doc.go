// Package routing routes Diameter requests: the handler chain every request
// passes through, the RFC 6733 §6.1 decision (local, Destination-Host peer,
// realm table), forwarding with Route-Record and hop-by-hop rewriting,
// answers back to their origin, failover and redirects.
package routing
