// Package agent assembles a running Diameter agent from a configuration:
// the peer layer, the message handler, and their lifecycle.
package agent
