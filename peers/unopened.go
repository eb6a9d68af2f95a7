package peers

import "sync/atomic"

// unopened counts the connections a peer opened to us that closed before
// the peer was open, by why: floods of them (port scans, misconfigured
// clients, a TLS mismatch) are visible in the metrics, not only in the
// rate-limited log.
type unopened [nUnopened]atomic.Uint64

// The reasons, in the order of the connection's life.
const (
	unopenedLimit   = iota // limits.max_connections reached at accept
	unopenedAddress        // refused by the peer ACL on its address
	unopenedTLS            // TLS handshake failed or timed out
	unopenedSilent         // no CER within timers.capabilities
	unopenedClosed         // closed by the remote before its CER
	unopenedFrame          // unreadable frame before the CER
	unopenedNotCER         // first message not a CER
	unopenedRefused        // CER refused (unknown peer, no common application, ACL, identity)
	nUnopened
)

var unopenedNames = [nUnopened]string{
	"connection_limit", "address_refused", "tls_handshake", "cer_timeout",
	"closed_before_cer", "frame_error", "not_cer", "cer_refused",
}

// Unopened returns how many connections peers opened to us were closed
// before the peer was open, by reason: connection_limit, address_refused,
// tls_handshake, cer_timeout, closed_before_cer, frame_error, not_cer,
// cer_refused. Every reason is present.
func (m *Manager) Unopened() map[string]uint64 {
	out := make(map[string]uint64, nUnopened)
	for i, n := range unopenedNames {
		out[n] = m.unopened[i].Load()
	}
	return out
}
