package peers

import (
	"net"
	"net/netip"
)

// hostIPs lists the addresses the agent can be reached at, for
// Host-IP-Address: each listener's address, or every interface address for
// a wildcard listener.
func hostIPs(ls []net.Listener) []netip.Addr {
	var out []netip.Addr
	add := func(a netip.Addr) {
		a = a.Unmap()
		for _, x := range out {
			if x == a {
				return
			}
		}
		out = append(out, a)
	}
	for _, l := range ls {
		ap, err := netip.ParseAddrPort(l.Addr().String())
		if err != nil {
			continue
		}
		if !ap.Addr().IsUnspecified() {
			add(ap.Addr())
			continue
		}
		ifas, err := net.InterfaceAddrs()
		if err != nil {
			continue
		}
		for _, ifa := range ifas {
			if pfx, err := netip.ParsePrefix(ifa.String()); err == nil && !pfx.Addr().IsLinkLocalUnicast() {
				add(pfx.Addr())
			}
		}
	}
	return out
}
