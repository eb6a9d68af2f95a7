package peers

import (
	"net"
	"net/netip"
)

// Admission screens inbound peers (Options.Admit): by transport address
// when a connection is accepted, then by the identity its CER announces.
// Both methods run on connection goroutines and must be safe for
// concurrent use; a nil Admission admits everyone.
type Admission interface {
	// AdmitAddr reports whether a connection from remote may proceed to
	// the capabilities exchange. A refused connection is closed at once,
	// before any CER is read.
	AdmitAddr(remote netip.AddrPort) bool
	// AdmitPeer checks the Origin-Host and Origin-Realm of a CER received
	// from remote. A non-zero code refuses the peer: the CEA carries that
	// Result-Code (DIAMETER_UNKNOWN_PEER is the fitting one, RFC 6733
	// §5.3) and reason as Error-Message, and the connection is closed.
	AdmitPeer(originHost, originRealm string, remote netip.AddrPort) (code uint32, reason string)
}

// admitConn applies the address check to an accepted connection; a
// refused one is closed and counted.
func (m *Manager) admitConn(nc net.Conn) bool {
	if m.opts.Admit == nil || m.opts.Admit.AdmitAddr(addrPort(nc.RemoteAddr())) {
		return true
	}
	m.unopened[unopenedAddress].Add(1)
	nc.Close()
	return false
}

// admitPeer applies the identity check to a parsed CER.
func (m *Manager) admitPeer(c *Conn, caps *Capabilities) (uint32, string) {
	if m.opts.Admit == nil {
		return 0, ""
	}
	return m.opts.Admit.AdmitPeer(caps.OriginHost, caps.OriginRealm, addrPort(c.RemoteAddr()))
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
