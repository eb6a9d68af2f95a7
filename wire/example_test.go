package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/dra-project/dra/wire"
)

func ExampleReader() {
	req := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, wire.CmdCreditControl, 4, 1, 2).
		AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "client;1").
		AppendStringAVP(wire.AVPDestinationRealm, wire.AVPFlagMandatory, 0, "example.net")

	r := wire.NewReader(bytes.NewReader(req), wire.DefaultMaxLen)
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		realm, _ := m.Find(wire.AVPDestinationRealm, 0)
		if !m.HasRouteRecord([]byte("dra.example.org")) {
			m = m.AppendRouteRecord("dra.example.org")
		}
		fmt.Printf("code %d, realm %s, %d bytes\n", m.Code(), realm.Data, m.Len())
		wire.PutBuf(m)
	}
	// Output: code 272, realm example.net, 80 bytes
}

func ExampleErrorAnswer() {
	req := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, wire.CmdCreditControl, 4, 1, 2).
		AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "client;1")
	ans := wire.ErrorAnswer(req, wire.ErrorSpec{
		OriginHost:  "dra.example.org",
		OriginRealm: "example.org",
		ResultCode:  wire.ResultUnableToDeliver,
	})
	fmt.Printf("request %v, error %v, hop-by-hop %d\n", ans.IsRequest(), ans.IsError(), ans.HopByHop())
	it := ans.AVPs()
	for it.Next() {
		fmt.Println(it.AVP().Code)
	}
	// Output:
	// request false, error true, hop-by-hop 1
	// 263
	// 264
	// 296
	// 268
	// 258
}
