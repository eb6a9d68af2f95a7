package wire

import (
	"bytes"
	"testing"
)

func TestMsgHeaderAccessors(t *testing.T) {
	tests := []struct {
		name                             string
		flags                            uint8
		code, app, hbh, e2e              uint32
		request, proxiable, isErr, retrs bool
	}{
		{"CCR", FlagRequest | FlagProxiable, CmdCreditControl, 4, 0x11223344, 0x55667788, true, true, false, false},
		{"error answer", FlagProxiable | FlagError, CmdCreditControl, 4, 1, 2, false, true, true, false},
		{"retransmitted request", FlagRequest | FlagRetransmit, CmdAccounting, 3, 0xffffffff, 0, true, false, false, true},
		{"relay app, 24-bit code", 0, 0xfedcba, RelayAppID, 0, 0xffffffff, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMsg(tt.flags, tt.code, tt.app, tt.hbh, tt.e2e)
			if _, err := CheckHeader(m, 0); err != nil {
				t.Fatalf("CheckHeader(NewMsg) = %v", err)
			}
			if m.Version() != Version || m.Len() != HeaderLen || len(m) != HeaderLen {
				t.Errorf("version %d len %d/%d", m.Version(), m.Len(), len(m))
			}
			if m.Flags() != tt.flags || m.Code() != tt.code || m.AppID() != tt.app ||
				m.HopByHop() != tt.hbh || m.EndToEnd() != tt.e2e {
				t.Errorf("got flags %#x code %d app %d hbh %#x e2e %#x", m.Flags(), m.Code(), m.AppID(), m.HopByHop(), m.EndToEnd())
			}
			if m.IsRequest() != tt.request || m.IsProxiable() != tt.proxiable ||
				m.IsError() != tt.isErr || m.IsRetransmit() != tt.retrs {
				t.Errorf("flag predicates R=%v P=%v E=%v T=%v", m.IsRequest(), m.IsProxiable(), m.IsError(), m.IsRetransmit())
			}
			if len(m.Body()) != 0 || !bytes.Equal(m.Header(), m) {
				t.Errorf("Body %x Header %x", m.Body(), m.Header())
			}

			m.SetHopByHop(^tt.hbh)
			m.SetEndToEnd(^tt.e2e)
			m.SetFlags(tt.flags ^ FlagRetransmit)
			m.SetLen(1 << 20)
			if m.HopByHop() != ^tt.hbh || m.EndToEnd() != ^tt.e2e ||
				m.Flags() != tt.flags^FlagRetransmit || m.Len() != 1<<20 {
				t.Errorf("setters: hbh %#x e2e %#x flags %#x len %d", m.HopByHop(), m.EndToEnd(), m.Flags(), m.Len())
			}
			if m.Code() != tt.code || m.AppID() != tt.app {
				t.Errorf("setters disturbed code/app: %d/%d", m.Code(), m.AppID())
			}
		})
	}
}
