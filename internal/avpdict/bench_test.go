package avpdict

import (
	"testing"

	"github.com/dra-project/dra/wire"
)

func BenchmarkCheckCCR(b *testing.B) {
	var body []byte
	body = wire.AppendStringAVP(body, 263, 0x40, 0, "client.example.com;1712345678;42")
	body = wire.AppendUint32AVP(body, 258, 0x40, 0, 4)
	body = wire.AppendStringAVP(body, 264, 0x40, 0, "client.example.com")
	body = wire.AppendStringAVP(body, 296, 0x40, 0, "example.com")
	body = wire.AppendStringAVP(body, 283, 0x40, 0, "example.net")
	body = wire.AppendStringAVP(body, 461, 0x40, 0, "32251@3gpp.org")
	body = wire.AppendUint32AVP(body, 416, 0x40, 0, 2)
	body = wire.AppendUint32AVP(body, 415, 0x40, 0, 7)
	sub := wire.AppendUint32AVP(nil, 450, 0x40, 0, 1)
	sub = wire.AppendStringAVP(sub, 444, 0x40, 0, "001010123456789")
	body = wire.AppendAVP(body, 443, 0x40, 0, sub)
	rsu := wire.AppendAVP(nil, 421, 0x40, 0, make([]byte, 8))
	mscc := wire.AppendAVP(nil, 437, 0x40, 0, rsu)
	mscc = wire.AppendUint32AVP(mscc, 432, 0x40, 0, 100)
	body = wire.AppendAVP(body, 456, 0x40, 0, mscc)
	if p := wire.CheckAVPs(body, Default); p.ResultCode != 0 {
		b.Fatal(p)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = wire.CheckAVPs(body, Default)
	}
}
