package loadgen

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/wire"
)

// identity is how one end presents itself in base protocol messages.
// go-diameter encodes these messages: they are rare, clarity wins.
type identity struct {
	host, realm, product string
	stateID              uint32
	// advertise lists the applications of CER/CEA: 3 is sent as
	// Acct-Application-Id, any other id as Auth-Application-Id.
	advertise []uint32
}

func (id *identity) origin(m *diam.Message) {
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(id.host))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(id.realm))
}

// capabilities adds the CER/CEA body after Origin-Host/Realm.
func (id *identity) capabilities(m *diam.Message, local net.Addr) {
	if ap, err := netip.ParseAddrPort(addrString(local)); err == nil {
		m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(ap.Addr().Unmap().AsSlice()))
	} else {
		m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.IPv4(127, 0, 0, 1).To4()))
	}
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String(id.product))
	m.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(id.stateID))
	for _, app := range id.advertise {
		code := uint32(avp.AuthApplicationID)
		if app == AppBaseAccounting {
			code = avp.AcctApplicationID
		}
		m.NewAVP(code, avp.Mbit, 0, datatype.Unsigned32(app))
	}
}

func (id *identity) cer(local net.Addr, hbh, e2e uint32) wire.Msg {
	m := diam.NewMessage(diam.CapabilitiesExchange, diam.RequestFlag, 0, hbh, e2e, nil)
	id.origin(m)
	id.capabilities(m, local)
	return serialize(m)
}

func (id *identity) cea(req wire.Msg, local net.Addr) wire.Msg {
	m := answerTo(req, 0)
	m.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(wire.ResultSuccess))
	id.origin(m)
	id.capabilities(m, local)
	return serialize(m)
}

func (id *identity) dwa(req wire.Msg) wire.Msg {
	m := answerTo(req, 0)
	m.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(wire.ResultSuccess))
	id.origin(m)
	m.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(id.stateID))
	return serialize(m)
}

func (id *identity) dpr(hbh, e2e uint32) wire.Msg {
	m := diam.NewMessage(diam.DisconnectPeer, diam.RequestFlag, 0, hbh, e2e, nil)
	id.origin(m)
	m.NewAVP(avp.DisconnectCause, avp.Mbit, 0, datatype.Enumerated(disconnectRebooting))
	return serialize(m)
}

func (id *identity) dpa(req wire.Msg) wire.Msg {
	m := answerTo(req, 0)
	m.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(wire.ResultSuccess))
	id.origin(m)
	return serialize(m)
}

// unsupported answers a request this end does not serve with 3001
// DIAMETER_COMMAND_UNSUPPORTED.
func (id *identity) unsupported(req wire.Msg) wire.Msg {
	return wire.ErrorAnswer(req, wire.ErrorSpec{OriginHost: id.host, OriginRealm: id.realm,
		ResultCode: wire.ResultCommandUnsupported})
}

// answerTo creates an answer that echoes req's command and identifiers
// (zero included: diam.NewMessage would replace a zero with a random id).
func answerTo(req wire.Msg, flags uint8) *diam.Message {
	m := diam.NewMessage(req.Code(), flags, req.AppID(), 1, 1, nil)
	m.Header.HopByHopID = req.HopByHop()
	m.Header.EndToEndID = req.EndToEnd()
	return m
}

func serialize(m *diam.Message) wire.Msg {
	b, err := m.Serialize()
	if err != nil {
		// Only our own well-typed AVPs are serialized here.
		panic(fmt.Sprintf("loadgen: serialize %d: %v", m.Header.CommandCode, err))
	}
	return wire.Msg(b)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// peerInfo is what the client learns from a CEA.
type peerInfo struct {
	host, realm, product string
	resultCode           uint32
	errorMessage         string
}

// parseCEA reads the fields of a CEA the client reports.
func parseCEA(m wire.Msg) peerInfo {
	var p peerInfo
	it := m.AVPs()
	for it.Next() {
		a := it.AVP()
		if a.VendorID != 0 {
			continue
		}
		switch a.Code {
		case wire.AVPResultCode:
			p.resultCode, _ = a.Uint32()
		case wire.AVPOriginHost:
			p.host = string(a.Data)
		case wire.AVPOriginRealm:
			p.realm = string(a.Data)
		case wire.AVPProductName:
			p.product = string(a.Data)
		case wire.AVPErrorMessage:
			p.errorMessage = string(a.Data)
		}
	}
	return p
}

// isBase reports whether m belongs to the base protocol's peer messages
// (CER/CEA, DWR/DWA, DPR/DPA).
func isBase(m wire.Msg) bool {
	if m.AppID() != 0 {
		return false
	}
	switch m.Code() {
	case wire.CmdCapabilitiesExchange, wire.CmdDeviceWatchdog, wire.CmdDisconnectPeer:
		return true
	}
	return false
}
