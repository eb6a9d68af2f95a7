// Package faults holds fault tests over loopback: the agent between a
// load-generating client and server nodes while a server dies, stalls or
// slows down, a client misbehaves, connections flood in, or the agent
// itself restarts. Every request must get an answer or a clear error.
package faults
