// Package policy is the agent's policy layer: peer admission, per-route
// admission, rate limits and pending caps, AVP manipulation, topology
// hiding and DOIC (RFC 7683) overload control, compiled from the
// configuration into routing hooks and a peers.Admission.
package policy
