// Package soak runs steady load through the agent for a bounded time
// (SOAK_DURATION; make soak) and checks that its memory and goroutines
// stay flat. It is not part of make test.
package soak
