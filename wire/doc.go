// Package wire is the raw Diameter (RFC 6733) frame layer of the relay hot
// path: framing, header access, AVP iteration and encoding, without a full decode.
package wire
