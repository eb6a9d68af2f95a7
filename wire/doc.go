// Package wire is the raw Diameter (RFC 6733) frame layer used on the relay
// hot path: framing, header access, AVP iteration and small encoders, without
// a full decode and without allocating in the steady state.
package wire
