// Package dratest provides Diameter client and server nodes for tests: real
// peers (the peers package over loopback sockets) that send requests and
// collect answers, or answer requests as a server would.
package dratest
