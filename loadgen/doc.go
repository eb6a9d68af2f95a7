// Package loadgen generates Diameter load: a client that opens peers to a
// node and sends request mixes in closed or open loop while measuring
// latency, and a server that answers everything, to stand behind an agent.
package loadgen
