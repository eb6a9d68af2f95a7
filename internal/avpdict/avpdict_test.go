package avpdict

import (
	"testing"

	"github.com/fiorix/go-diameter/v4/diam/avp"

	"github.com/dra-project/dra/wire"
)

func TestDictionary(t *testing.T) {
	all, cc := Default, New(4)
	tests := []struct {
		name         string
		code, vendor uint32
		all, cc      wire.AVPKind
	}{
		{"base Session-Id", avp.SessionID, 0, wire.KindOctets, wire.KindOctets},
		{"Host-IP-Address", avp.HostIPAddress, 0, wire.KindAddress, wire.KindAddress},
		{"CC-Request-Number", avp.CCRequestNumber, 0, wire.KindFixed4, wire.KindFixed4},
		{"CC-Total-Octets", avp.CCTotalOctets, 0, wire.KindFixed8, wire.KindFixed8},
		{"Multiple-Services-Credit-Control", avp.MultipleServicesCreditControl, 0, wire.KindGrouped, wire.KindGrouped},
		{"Service-Information (3GPP)", 873, 10415, wire.KindGrouped, wire.KindGrouped},
		{"Called-Station-Id (NASREQ)", avp.CalledStationID, 0, wire.KindOctets, wire.KindUnknown},
		{"unknown", 999999, 0, wire.KindUnknown, wire.KindUnknown},
		{"base code under a vendor", avp.SessionID, 10415, wire.KindUnknown, wire.KindUnknown},
	}
	for _, tt := range tests {
		if got := all.Kind(tt.code, tt.vendor); got != tt.all {
			t.Errorf("%s: every application: kind %d, want %d", tt.name, got, tt.all)
		}
		if got := cc.Kind(tt.code, tt.vendor); got != tt.cc {
			t.Errorf("%s: credit control: kind %d, want %d", tt.name, got, tt.cc)
		}
	}
}
