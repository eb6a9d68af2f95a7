package policy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/wire"
)

const m = wire.AVPFlagMandatory

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// group encodes AVPs as the data of a Grouped AVP.
func group(avps ...[]byte) []byte { return bytes.Join(avps, nil) }

func avp(code uint32, vendor uint32, data []byte) []byte {
	return wire.AppendAVP(nil, code, m, vendor, data)
}

// pathCCR is a Gy CCR-U with two Subscription-Ids (E.164 and IMSI), two
// Multiple-Services-Credit-Control (rating groups 100 and 200, each with
// a Used-Service-Unit) and a 3GPP Service-Information/PS-Information.
// The last AVP of the second Subscription-Id lacks its padding, as some
// encoders write it.
func pathCCR() wire.Msg {
	msg := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, 272, 4, 7, 9)
	msg = msg.AppendStringAVP(wire.AVPSessionID, m, 0, "mme.client.test;1;2")
	msg = msg.AppendStringAVP(wire.AVPOriginHost, m, 0, "mme.client.test")
	msg = msg.AppendStringAVP(wire.AVPOriginRealm, m, 0, "client.test")
	msg = msg.AppendStringAVP(wire.AVPDestinationRealm, m, 0, "a.test")
	msg = msg.AppendUint32AVP(wire.AVPAuthApplicationID, m, 0, 4)
	msg = msg.AppendStringAVP(461, m, 0, "32251@3gpp.org")
	msg = msg.AppendUint32AVP(416, m, 0, 2) // CC-Request-Type UPDATE_REQUEST
	msg = msg.AppendUint32AVP(415, m, 0, 1) // CC-Request-Number
	msg = msg.AppendAVP(443, m, 0, group(avp(450, 0, u32(0)), avp(444, 0, []byte("33612345678"))))
	imsi := group(avp(450, 0, u32(1)), avp(444, 0, []byte("001010123456789")))
	imsi = imsi[:len(imsi)-1] // 15 bytes of data: 1 byte of padding dropped
	msg = msg.AppendAVP(443, m, 0, imsi)
	for _, rg := range []uint32{100, 200} {
		usu := avp(446, 0, group(avp(420, 0, u32(60)), avp(421, 0, u64(uint64(rg)*1000))))
		msg = msg.AppendAVP(456, m, 0, group(avp(432, 0, u32(rg)), usu))
	}
	ps := avp(874, 10415, group(avp(2, 10415, u32(0xabcd)), avp(22, 10415, []byte{0x62, 0xf2, 0x10})))
	msg = msg.AppendAVP(873, m, 10415, ps)
	return msg
}

// checkWellFormed checks m's header length and every AVP's length and
// padding, descending into the Grouped AVPs the dictionary knows, and has
// go-diameter decode it as an independent check.
func checkWellFormed(t *testing.T, msg wire.Msg) {
	t.Helper()
	if msg.Len() != len(msg) || len(msg)%4 != 0 {
		t.Fatalf("header length %d, message %d bytes", msg.Len(), len(msg))
	}
	var walk func(b []byte, depth int)
	walk = func(b []byte, depth int) {
		it := wire.NewIter(b)
		for it.Next() {
			a := it.AVP()
			if d, ok := configs.LookupAVP(a.Code, a.VendorID); ok && d.Type == "Grouped" {
				walk(a.Data, depth+1)
			}
			if depth == 0 && a.Size%4 != 0 {
				t.Fatalf("AVP %d not padded", a.Code)
			}
		}
		if err := it.Err(); err != nil {
			t.Fatalf("depth %d: %v", depth, err)
		}
	}
	walk(msg.Body(), 0)
	if _, err := diam.ReadMessage(bytes.NewReader(msg), dict.Default); err != nil {
		t.Fatalf("go-diameter cannot decode the result: %v", err)
	}
}

// values returns the data of every AVP at path (as configured) in msg.
func values(t *testing.T, msg wire.Msg, path string) [][]byte {
	t.Helper()
	p, err := configs.ParseAVPPath(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var walk func(b []byte, steps []avpStep)
	walk = func(b []byte, steps []avpStep) {
		it := wire.NewIter(b)
		for it.Next() {
			if a := it.AVP(); steps[0].is(a) {
				if len(steps) == 1 {
					out = append(out, a.Data)
				} else {
					walk(a.Data, steps[1:])
				}
			}
		}
	}
	walk(msg.Body(), compilePath(p))
	return out
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func TestAVPPathActions(t *testing.T) {
	tests := []struct {
		name  string
		act   configs.AVPAction
		count int
		check func(t *testing.T, out wire.Msg)
	}{
		{
			name: "replace every Subscription-Id-Data", count: 2,
			act: configs.AVPAction{Action: "replace", Path: "Subscription-Id/Subscription-Id-Data", Value: "hidden"},
			check: func(t *testing.T, out wire.Msg) {
				if got := strs(values(t, out, "443/444")); !slices.Equal(got, []string{"hidden", "hidden"}) {
					t.Errorf("Subscription-Id-Data %q", got)
				}
			},
		},
		{
			name: "replace the IMSI only, by filter on an enumerated name", count: 1,
			act: configs.AVPAction{Action: "replace", Path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data", Value: "001019999999999"},
			check: func(t *testing.T, out wire.Msg) {
				if got := strs(values(t, out, "443/444")); !slices.Equal(got, []string{"33612345678", "001019999999999"}) {
					t.Errorf("Subscription-Id-Data %q", got)
				}
			},
		},
		{
			name: "remove the E.164 Subscription-Id", count: 1,
			act: configs.AVPAction{Action: "remove", Path: "Subscription-Id[Subscription-Id-Type=0]"},
			check: func(t *testing.T, out wire.Msg) {
				if got := strs(values(t, out, "443/444")); !slices.Equal(got, []string{"001010123456789"}) {
					t.Errorf("Subscription-Id-Data %q", got)
				}
			},
		},
		{
			name: "remove a counter in one rating group, by codes", count: 1,
			act: configs.AVPAction{Action: "remove", Path: "456[432=200]/446/421"},
			check: func(t *testing.T, out wire.Msg) {
				if got := values(t, out, "456/446/421"); len(got) != 1 || binary.BigEndian.Uint64(got[0]) != 100000 {
					t.Errorf("CC-Total-Octets %x", got)
				}
				if got := values(t, out, "456/446/420"); len(got) != 2 {
					t.Errorf("CC-Time %x", got)
				}
			},
		},
		{
			name: "replace a counter with the dictionary's Unsigned64", count: 2,
			act: configs.AVPAction{Action: "replace", Path: "Multiple-Services-Credit-Control/Used-Service-Unit/CC-Total-Octets", Value: "5"},
			check: func(t *testing.T, out wire.Msg) {
				for _, v := range values(t, out, "456/446/421") {
					if !bytes.Equal(v, u64(5)) {
						t.Errorf("CC-Total-Octets %x", v)
					}
				}
			},
		},
		{
			name: "add inside every Multiple-Services-Credit-Control", count: 2,
			act: configs.AVPAction{Action: "add", Path: "Multiple-Services-Credit-Control/Service-Identifier", Value: "7"},
			check: func(t *testing.T, out wire.Msg) {
				if got := values(t, out, "456/439"); len(got) != 2 || !bytes.Equal(got[0], u32(7)) {
					t.Errorf("Service-Identifier %x", got)
				}
			},
		},
		{
			name: "add after an unpadded last AVP", count: 1,
			act: configs.AVPAction{Action: "add", Path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/1", Value: "abc"},
			check: func(t *testing.T, out wire.Msg) {
				if got := strs(values(t, out, "443/1")); !slices.Equal(got, []string{"abc"}) {
					t.Errorf("User-Name in Subscription-Id %q", got)
				}
				if got := strs(values(t, out, "443/444")); got[1] != "001010123456789" {
					t.Errorf("IMSI %q", got)
				}
			},
		},
		{
			name: "replace a 3GPP AVP two vendor groups deep", count: 1,
			act: configs.AVPAction{Action: "replace", Path: "873@10415/874@10415/2@10415", Type: "hex", Value: "00000001"},
			check: func(t *testing.T, out wire.Msg) {
				if got := values(t, out, "873@10415/874@10415/2@10415"); len(got) != 1 || !bytes.Equal(got[0], u32(1)) {
					t.Errorf("3GPP-Charging-Id %x", got)
				}
				if got := values(t, out, "873@10415/874@10415/22@10415"); len(got) != 1 {
					t.Errorf("3GPP-User-Location-Info lost")
				}
			},
		},
		{
			name: "top-level remove by path", count: 1,
			act: configs.AVPAction{Action: "remove", Path: "Service-Context-Id"},
			check: func(t *testing.T, out wire.Msg) {
				if _, ok := out.Find(461, 0); ok {
					t.Error("Service-Context-Id kept")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := compileAVPRules([]configs.AVPRule{{Name: "r", Actions: []configs.AVPAction{tc.act}}})
			if err != nil {
				t.Fatal(err)
			}
			in := pathCCR()
			orig := bytes.Clone(in)
			out, n := rules[0].acts[0].apply(in)
			if n != tc.count {
				t.Fatalf("acted on %d AVPs, want %d", n, tc.count)
			}
			checkWellFormed(t, out)
			tc.check(t, out)
			// Everything not on the path is kept as it was.
			if sid, _ := out.Find(wire.AVPSessionID, 0); string(sid.Data) != "mme.client.test;1;2" {
				t.Errorf("Session-Id %q", sid.Data)
			}
			if !bytes.Equal(out.Header()[4:], orig[4:wire.HeaderLen]) {
				t.Errorf("header changed beyond its length")
			}
		})
	}
}

// TestAVPPathNothingToDo checks that an action whose path matches nothing
// returns the message as it is, without a copy.
func TestAVPPathNothingToDo(t *testing.T) {
	for _, act := range []configs.AVPAction{
		{Action: "remove", Path: "Subscription-Id[Subscription-Id-Type=END_USER_SIP_URI]"},
		{Action: "replace", Path: "Multiple-Services-Credit-Control/Granted-Service-Unit/CC-Time", Value: "1"},
		{Action: "add", Path: "Service-Parameter-Info/Service-Parameter-Type", Value: "1"},
	} {
		t.Run(act.Path, func(t *testing.T) {
			rules, err := compileAVPRules([]configs.AVPRule{{Actions: []configs.AVPAction{act}}})
			if err != nil {
				t.Fatal(err)
			}
			in := pathCCR()
			out, n := rules[0].acts[0].apply(in)
			if n != 0 || &out[0] != &in[0] || len(out) != len(in) {
				t.Errorf("acted on %d AVPs, copied %v", n, &out[0] != &in[0])
			}
		})
	}
}

func TestAVPPathConditions(t *testing.T) {
	tests := []struct {
		cond configs.AVPValue
		want bool
	}{
		{configs.AVPValue{Path: "Subscription-Id/Subscription-Id-Data", Value: "001010123456789"}, true},
		{configs.AVPValue{Path: "Subscription-Id/Subscription-Id-Data", Value: "001010000000000"}, false},
		{configs.AVPValue{Path: "Subscription-Id[Subscription-Id-Type=END_USER_E164]/Subscription-Id-Data", Value: "33612345678"}, true},
		{configs.AVPValue{Path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data", Value: "33612345678"}, false},
		{configs.AVPValue{Path: "456[432=200]"}, true},
		{configs.AVPValue{Path: "456[432=300]"}, false},
		{configs.AVPValue{Path: "456[432=300]", Absent: true}, true},
		{configs.AVPValue{Path: "873@10415/874@10415/2@10415", Type: "hex", Value: "0000abcd"}, true},
		{configs.AVPValue{Code: 416, Type: "unsigned32", Value: "2"}, true},
		{configs.AVPValue{Path: "CC-Request-Type", Value: "UPDATE_REQUEST"}, true},
		{configs.AVPValue{Path: "CC-Request-Type", Value: "TERMINATION_REQUEST"}, false},
	}
	for _, tc := range tests {
		name := tc.cond.Path + "=" + tc.cond.Value
		t.Run(name, func(t *testing.T) {
			rules, err := compileAVPRules([]configs.AVPRule{{Name: "r", When: configs.AVPCondition{AVP: &tc.cond}, Actions: []configs.AVPAction{{Action: "add", Code: 1, Value: "x"}}}})
			if err != nil {
				t.Fatal(err)
			}
			v := msgView{request: true}
			if got := rules[0].matches(pathCCR(), &v); got != tc.want {
				t.Errorf("matches %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAVPPathValidation(t *testing.T) {
	tests := []struct {
		act   configs.AVPAction
		field string
	}{
		{configs.AVPAction{Action: "remove", Path: "Subscription-Id/No-Such-AVP"}, "policy.avp_rules[0].actions[0].path"},
		{configs.AVPAction{Action: "remove", Path: "Session-Id/Subscription-Id-Data"}, "policy.avp_rules[0].actions[0].path"},
		{configs.AVPAction{Action: "remove", Code: 443, Path: "443/444"}, "policy.avp_rules[0].actions[0].path"},
		{configs.AVPAction{Action: "add", Path: "Subscription-Id[Subscription-Id-Type=1]"}, "policy.avp_rules[0].actions[0].path"},
		{configs.AVPAction{Action: "replace", Path: "456/446/421", Value: "many"}, "policy.avp_rules[0].actions[0].value"},
		{configs.AVPAction{Action: "remove", Path: "443[450=NOT_AN_ITEM]"}, "policy.avp_rules[0].actions[0].path"},
		{configs.AVPAction{Action: "remove"}, "policy.avp_rules[0].actions[0].code"},
	}
	for _, tc := range tests {
		t.Run(tc.act.Path, func(t *testing.T) {
			_, err := Build(configs.Policy{AVPRules: []configs.AVPRule{{Actions: []configs.AVPAction{tc.act}}}}, Identity{}, NewState(nil))
			if err == nil || !contains(err.Error(), tc.field) {
				t.Errorf("error %v does not name %s", err, tc.field)
			}
		})
	}
}

// TestTryAVPRules checks the dry run: every rule reported, the reason of
// a miss, the count of each action, and the message passed in unchanged.
func TestTryAVPRules(t *testing.T) {
	p, err := Build(configs.Policy{AVPRules: []configs.AVPRule{
		{Name: "answers-only", Direction: "answer", Actions: []configs.AVPAction{{Action: "remove", Code: 1}}},
		{Name: "to-ocs", When: configs.AVPCondition{EgressPeers: []string{"*.ocs.test"}}, Actions: []configs.AVPAction{{Action: "remove", Code: 1}}},
		{Name: "imsi", When: configs.AVPCondition{AVP: &configs.AVPValue{Path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]"}},
			Actions: []configs.AVPAction{
				{Action: "replace", Path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data", Value: "x"},
				{Action: "remove", Path: "Multiple-Services-Credit-Control/Requested-Service-Unit"},
			}},
	}}, Identity{}, NewState(nil))
	if err != nil {
		t.Fatal(err)
	}
	in := pathCCR()
	orig := bytes.Clone(in)
	out, res := p.TryAVPRules(in, Trial{Ingress: "mme.client.test", Egress: "ocs1.a.test"})
	if !bytes.Equal(in, orig) {
		t.Fatal("the message tried was changed")
	}
	checkWellFormed(t, out)
	want := []RuleResult{
		{Name: "answers-only", Why: "direction: the rule applies to answers only"},
		{Name: "to-ocs", Why: `egress peer "ocs1.a.test" matches none of [*.ocs.test]`},
		{Name: "imsi", Matched: true, Actions: []ActionResult{
			{Action: "replace Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data = x", Count: 1},
			{Action: "remove Multiple-Services-Credit-Control/Requested-Service-Unit", Count: 0},
		}},
	}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", res, want)
	}
}

// FuzzAVPPath parses a path and runs remove, replace and add at it on a
// message built around arbitrary AVP bytes: the result must be framed
// (header length, multiple of 4), iterate cleanly when the input did, and
// a second remove must find nothing.
func FuzzAVPPath(f *testing.F) {
	f.Add("Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data", []byte(pathCCR().Body()))
	f.Add("456[432=200]/446/421", []byte(pathCCR().Body()))
	f.Add("873@10415/874@10415/2@10415", []byte(pathCCR().Body()))
	f.Add("443/444", group(avp(443, 0, []byte{0, 0, 1, 188, 0x40, 0, 0, 9, 'x'})))
	f.Add(`443[450="]"]/1`, []byte{0, 0, 1, 187, 0, 0, 0, 8})
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		p, err := configs.ParseAVPPath(path)
		if err != nil {
			return
		}
		if len(body) > 1<<16 {
			return
		}
		body = body[:len(body)&^3]
		in := wire.NewMsg(wire.FlagRequest, 272, 4, 1, 1)
		in = append(in, body...)
		in.SetLen(len(in))
		_, inErr := in.Validate()
		steps := compilePath(p)
		last := steps[len(steps)-1]
		acts := []avpAct{
			{kind: actReplace, path: steps, flags: m, data: []byte("replaced")},
			{kind: actRemove, path: steps},
		}
		if !last.filter {
			acts = append(acts, avpAct{kind: actAdd, path: steps, flags: m, data: []byte("added")})
		}
		for _, act := range acts {
			msg := wire.Msg(bytes.Clone(in))
			out, n := act.apply(msg)
			if out.Len() != len(out) || len(out)%4 != 0 {
				t.Fatalf("%v: header %d, %d bytes", act.kind, out.Len(), len(out))
			}
			if _, err := out.Validate(); err != nil && inErr == nil {
				t.Fatalf("%v: well-formed input, malformed output: %v", act.kind, err)
			}
			if n == 0 && !bytes.Equal(out, in) {
				t.Fatalf("%v: nothing done but the message changed", act.kind)
			}
			if act.kind == actRemove {
				if _, again := act.apply(out); again != 0 {
					t.Fatalf("second remove found %d more", again)
				}
			}
		}
	})
}

// BenchmarkPolicyAVPPath is a rule set with nested actions matching a
// CCR-U: the IMSI Subscription-Id-Data replaced (filter on the type), one
// rating group's CC-Total-Octets removed and a Service-Identifier added
// in every Multiple-Services-Credit-Control; one copy per action.
func BenchmarkPolicyAVPPath(b *testing.B) {
	rules, err := compileAVPRules([]configs.AVPRule{{
		Name: "nested", When: configs.AVPCondition{AVP: &configs.AVPValue{Path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]"}},
		Actions: []configs.AVPAction{
			{Action: "replace", Path: "Subscription-Id[Subscription-Id-Type=END_USER_IMSI]/Subscription-Id-Data", Value: "001019999999999"},
			{Action: "remove", Path: "456[432=200]/446/421"},
			{Action: "add", Path: "Multiple-Services-Credit-Control/Service-Identifier", Value: "7"},
		},
	}})
	if err != nil {
		b.Fatal(err)
	}
	req := pathCCR()
	v := msgView{request: true, ingress: "mme.client.test", egress: "ocs1.a.test", destRealm: []byte("a.test")}
	b.ReportAllocs()
	for b.Loop() {
		out := wire.Msg(wire.GetBuf(len(req)))
		copy(out, req)
		out = applyAVPRules(rules, out, &v, nil)
		wire.PutBuf(out)
	}
}
