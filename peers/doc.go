// Package peers terminates Diameter peer connections: the RFC 6733 §5.6 peer
// state machine with election, CER/CEA capability matching, the RFC 3539
// watchdog, DPR/DPA, Tc reconnection, TLS, batched writers and the peer table.
package peers
