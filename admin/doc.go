// Package admin is the agent's operator API: health and readiness probes, the
// peer table, the routing table and counters as JSON over HTTP, token-guarded
// reload and peer disconnect, and the client the command line uses.
package admin
