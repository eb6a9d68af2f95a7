package policy_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/internal/dratest"
	"github.com/dra-project/dra/wire"
)

// TestAVPPathRules sends a Gy CCR-U through the agent over loopback with
// rules inside Grouped AVPs: the IMSI Subscription-Id-Data masked (the
// E.164 one kept), one rating group's CC-Total-Octets removed, a
// Service-Identifier added in every Multiple-Services-Credit-Control; and
// on the answer, the Granted-Service-Unit's CC-Time of one rating group
// replaced. The server and the client each check the message they get
// AVP by AVP and have go-diameter decode it.
func TestAVPPathRules(t *testing.T) {
	srv := server(t, "ocs.a.test", "a.test", func(n *dratest.Node, req wire.Msg) wire.Msg {
		ans := n.Answer(req, wire.ResultSuccess)
		for _, rg := range []uint32{100, 200} {
			gsu := wire.AppendUint32AVP(nil, 420, wire.AVPFlagMandatory, 0, 3600)
			mscc := wire.AppendUint32AVP(nil, 432, wire.AVPFlagMandatory, 0, rg)
			mscc = wire.AppendAVP(mscc, 431, wire.AVPFlagMandatory, 0, gsu)
			mscc = wire.AppendUint32AVP(mscc, wire.AVPResultCode, wire.AVPFlagMandatory, 0, 2001)
			ans = ans.AppendAVP(456, wire.AVPFlagMandatory, 0, mscc)
		}
		return ans
	})
	a := startAgent(t, peerYAML(srv)+`routes:
  - realm: a.test
    action: relay
    peers: [{host: ocs.a.test}]
policy:
  avp_rules:
    - name: gy-out
      when: {egress_peers: [ocs.a.test], applications: [4], avp: {path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]"}}
      actions:
        - {action: replace, path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data", value: "001010000000000"}
        - {action: remove, path: "Multiple-Services-Credit-Control[Rating-Group=200]/Used-Service-Unit/CC-Total-Octets"}
        - {action: add, path: "Multiple-Services-Credit-Control/Service-Identifier", value: 7}
    - name: gy-back
      direction: answer
      when: {ingress_peers: ["*.client.test"]}
      actions:
        - {action: replace, path: "456[432=100]/431/420", value: 60}
`)
	waitPeers(t, a, "ocs.a.test")
	c := client(t, a, "mme.client.test", "client.test")
	req := dratest.Request(4, ccr, "mme;path;1", "mme.client.test", "client.test", "a.test", "")
	sub := func(typ uint32, data string) []byte {
		g := wire.AppendUint32AVP(nil, 450, wire.AVPFlagMandatory, 0, typ)
		return wire.AppendStringAVP(g, 444, wire.AVPFlagMandatory, 0, data)
	}
	req = req.AppendAVP(443, wire.AVPFlagMandatory, 0, sub(0, "33612345678"))
	req = req.AppendAVP(443, wire.AVPFlagMandatory, 0, sub(1, "001010123456789"))
	for _, rg := range []uint32{100, 200} {
		usu := wire.AppendUint32AVP(nil, 420, wire.AVPFlagMandatory, 0, 60)
		usu = wire.AppendAVP(usu, 421, wire.AVPFlagMandatory, 0, binary.BigEndian.AppendUint64(nil, uint64(rg)*1000))
		mscc := wire.AppendUint32AVP(nil, 432, wire.AVPFlagMandatory, 0, rg)
		mscc = wire.AppendAVP(mscc, 446, wire.AVPFlagMandatory, 0, usu)
		req = req.AppendAVP(456, wire.AVPFlagMandatory, 0, mscc)
	}
	ans := c.Call(t, draHost, req)
	if dratest.ResultCode(ans) != wire.ResultSuccess {
		t.Fatalf("answer %d", dratest.ResultCode(ans))
	}

	got := srv.Received()[0]
	decodes(t, got)
	if s := nested(got, 443, 444); len(s) != 2 || string(s[0]) != "33612345678" || string(s[1]) != "001010000000000" {
		t.Errorf("Subscription-Id-Data %q", s)
	}
	if s := nested(got, 456, 446, 421); len(s) != 1 || binary.BigEndian.Uint64(s[0]) != 100000 {
		t.Errorf("CC-Total-Octets %x", s)
	}
	if s := nested(got, 456, 439); len(s) != 2 || !bytes.Equal(s[1], []byte{0, 0, 0, 7}) {
		t.Errorf("Service-Identifier %x", s)
	}
	// Route-Record added, CC-Total-Octets removed, 2 Service-Identifier added.
	if len(got) != len(req)+wire.AVPSize(0, 0, len("mme.client.test"))-16+2*12 {
		t.Errorf("forwarded %d bytes from %d", len(got), len(req))
	}

	decodes(t, ans)
	if s := nested(ans, 456, 431, 420); len(s) != 2 || binary.BigEndian.Uint32(s[0]) != 60 || binary.BigEndian.Uint32(s[1]) != 3600 {
		t.Errorf("answer CC-Time %x", s)
	}
}

// nested returns the data of every AVP at the path of codes (vendor 0).
func nested(m wire.Msg, path ...uint32) [][]byte {
	var out [][]byte
	var walk func(b []byte, path []uint32)
	walk = func(b []byte, path []uint32) {
		it := wire.NewIter(b)
		for it.Next() {
			if a := it.AVP(); a.Code == path[0] && a.VendorID == 0 {
				if len(path) == 1 {
					out = append(out, a.Data)
				} else {
					walk(a.Data, path[1:])
				}
			}
		}
	}
	walk(m.Body(), path)
	return out
}

// decodes checks m's lengths with go-diameter, an independent decoder
// that descends into every Grouped AVP it knows.
func decodes(t *testing.T, m wire.Msg) {
	t.Helper()
	if m.Len() != len(m) || len(m)%4 != 0 {
		t.Fatalf("header length %d, %d bytes", m.Len(), len(m))
	}
	if _, err := diam.ReadMessage(bytes.NewReader(m), dict.Default); err != nil {
		t.Fatalf("go-diameter: %v", err)
	}
}
