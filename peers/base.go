package peers

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/wire"
)

// Local is the agent's own identity as announced to peers.
type Local struct {
	OriginHost  string
	OriginRealm string
	ProductName string
	VendorID    uint32
	// FirmwareRevision is sent when non-zero.
	FirmwareRevision uint32
	// HostIPs are sent as Host-IP-Address; the connection's local address
	// is added when missing.
	HostIPs            []netip.Addr
	SupportedVendorIDs []uint32
	// Relay advertises the Relay application (0xffffffff): the agent
	// forwards every application.
	Relay bool
	// Apps are the applications the agent serves itself.
	Apps []App
	// OriginStateID changes each time the agent restarts.
	OriginStateID uint32
}

// Disconnect-Cause values (RFC 6733 §5.4.3).
const (
	CauseRebooting             uint32 = 0
	CauseBusy                  uint32 = 1
	CauseDoNotWantToTalkToYou  uint32 = 2
	disconnectCauseUnspecified uint32 = 0xffffffff
)

// builder encodes the base protocol messages the peer layer originates.
// go-diameter does the encoding: these messages are rare, so clarity wins.
type builder struct{ l *Local }

func (b builder) header(m *diam.Message) {
	m.AddAVP(diam.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(b.l.OriginHost)))
	m.AddAVP(diam.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(b.l.OriginRealm)))
}

// capabilities adds the CER/CEA body after Origin-Host/Realm.
func (b builder) capabilities(m *diam.Message, localAddr net.Addr) {
	ips := b.l.HostIPs
	if ap, err := netip.ParseAddrPort(addrString(localAddr)); err == nil {
		ip := ap.Addr().Unmap()
		found := false
		for _, x := range ips {
			found = found || x == ip
		}
		if !found {
			ips = append(ips[:len(ips):len(ips)], ip)
		}
	}
	for _, ip := range ips {
		m.AddAVP(diam.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(ip.AsSlice())))
	}
	m.AddAVP(diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(b.l.VendorID)))
	m.AddAVP(diam.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String(b.l.ProductName)))
	m.AddAVP(diam.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(b.l.OriginStateID)))
	for _, v := range b.l.SupportedVendorIDs {
		m.AddAVP(diam.NewAVP(avp.SupportedVendorID, avp.Mbit, 0, datatype.Unsigned32(v)))
	}
	if b.l.Relay {
		m.AddAVP(diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(wire.RelayAppID)))
	}
	for _, a := range b.l.Apps {
		code := uint32(avp.AuthApplicationID)
		if a.Acct {
			code = avp.AcctApplicationID
		}
		if a.VendorID == 0 {
			m.AddAVP(diam.NewAVP(code, avp.Mbit, 0, datatype.Unsigned32(a.ID)))
			continue
		}
		m.AddAVP(diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(a.VendorID)),
			diam.NewAVP(code, avp.Mbit, 0, datatype.Unsigned32(a.ID)),
		}}))
	}
	if b.l.FirmwareRevision != 0 {
		m.AddAVP(diam.NewAVP(avp.FirmwareRevision, 0, 0, datatype.Unsigned32(b.l.FirmwareRevision)))
	}
}

func (b builder) cer(localAddr net.Addr, hbh, e2e uint32) wire.Msg {
	m := diam.NewMessage(diam.CapabilitiesExchange, diam.RequestFlag, 0, hbh, e2e, nil)
	b.header(m)
	b.capabilities(m, localAddr)
	return serialize(m)
}

// cea answers req with resultCode; a failure carries Error-Message and
// Failed-AVP when given (RFC 6733 §5.3.2, §7.1.3).
func (b builder) cea(req wire.Msg, localAddr net.Addr, resultCode uint32, errMsg string, failedAVP []byte) wire.Msg {
	flags := uint8(0)
	if wire.IsProtocolError(resultCode) {
		flags = diam.ErrorFlag
	}
	m := answerTo(req, diam.CapabilitiesExchange, flags)
	m.AddAVP(diam.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(resultCode)))
	b.header(m)
	b.capabilities(m, localAddr)
	if errMsg != "" {
		m.AddAVP(diam.NewAVP(avp.ErrorMessage, 0, 0, datatype.UTF8String(errMsg)))
	}
	if len(failedAVP) > 0 {
		m.AddAVP(diam.NewAVP(avp.FailedAVP, avp.Mbit, 0, datatype.Grouped(failedAVP)))
	}
	return serialize(m)
}

func (b builder) dwr(hbh, e2e uint32) wire.Msg {
	m := diam.NewMessage(diam.DeviceWatchdog, diam.RequestFlag, 0, hbh, e2e, nil)
	b.header(m)
	m.AddAVP(diam.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(b.l.OriginStateID)))
	return serialize(m)
}

func (b builder) dwa(req wire.Msg) wire.Msg {
	m := answerTo(req, diam.DeviceWatchdog, 0)
	m.AddAVP(diam.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(wire.ResultSuccess)))
	b.header(m)
	m.AddAVP(diam.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(b.l.OriginStateID)))
	return serialize(m)
}

func (b builder) dpr(cause uint32, hbh, e2e uint32) wire.Msg {
	m := diam.NewMessage(diam.DisconnectPeer, diam.RequestFlag, 0, hbh, e2e, nil)
	b.header(m)
	m.AddAVP(diam.NewAVP(avp.DisconnectCause, avp.Mbit, 0, datatype.Enumerated(int32(cause))))
	return serialize(m)
}

func (b builder) dpa(req wire.Msg) wire.Msg { return b.dpaWith(req, wire.ResultSuccess, "") }

// dpaWith answers a DPR with resultCode and, when given, an Error-Message.
func (b builder) dpaWith(req wire.Msg, resultCode uint32, errMsg string) wire.Msg {
	m := answerTo(req, diam.DisconnectPeer, 0)
	m.AddAVP(diam.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(resultCode)))
	b.header(m)
	if errMsg != "" {
		m.AddAVP(diam.NewAVP(avp.ErrorMessage, 0, 0, datatype.UTF8String(errMsg)))
	}
	return serialize(m)
}

// errorAnswer answers a request the peer layer refuses (wrong state, base
// message of an unknown command) using the wire builder.
func (b builder) errorAnswer(req wire.Msg, code uint32, msg string) wire.Msg {
	return wire.ErrorAnswer(req, wire.ErrorSpec{OriginHost: b.l.OriginHost, OriginRealm: b.l.OriginRealm, ResultCode: code, Message: msg})
}

// answerTo creates an answer header that echoes req's identifiers, zero
// included (diam.NewMessage would replace a zero with a random id).
func answerTo(req wire.Msg, cmd uint32, flags uint8) *diam.Message {
	m := diam.NewMessage(cmd, flags, 0, 1, 1, nil)
	m.Header.HopByHopID = req.HopByHop()
	m.Header.EndToEndID = req.EndToEnd()
	return m
}

func serialize(m *diam.Message) wire.Msg {
	b, err := m.Serialize()
	if err != nil {
		// Only our own well-typed AVPs are serialized here.
		panic(fmt.Sprintf("peers: serialize %d: %v", m.Header.CommandCode, err))
	}
	return wire.Msg(b)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
