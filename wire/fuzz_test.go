package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime/metrics"
	"testing"
)

// fuzzAllocSlack absorbs allocations made concurrently by the runtime and the
// fuzzing machinery while a fuzz target measures its own (the heap counters
// are process-wide). It is far below the up to 16 MiB a length field can
// claim, which is what the check is after.
const fuzzAllocSlack = 1 << 20

func FuzzReader(f *testing.F) {
	ccr := buildCCR("relay.example.com")
	f.Add([]byte(ccr), uint16(0))
	f.Add(concat(buildCER(), ccr), uint16(512))
	f.Add(concat(ccr, header(1, 16<<20-4)), uint16(0))
	f.Add(concat(ccr, ccr[:30]), uint16(1024))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		maxLen := int(limit)
		if maxLen <= 0 {
			maxLen = DefaultMaxLen
		}
		// A frame may take a pool buffer up to the next power of two.
		allocBound := uint64(2*maxLen + 256 + fuzzAllocSlack)
		r := NewReader(&chunkReader{data: data, sizes: []int{1, 7, 64, 1 << 20}}, int(limit))
		consumed := 0
		for {
			before := heapAllocBytes()
			m, err := r.Next()
			if grew := heapAllocBytes() - before; grew > allocBound {
				t.Fatalf("Next allocated %d bytes with maxLen %d", grew, maxLen)
			}
			if err != nil {
				checkReaderEnd(t, r, data[consumed:], maxLen, err)
				return
			}
			if len(m) != m.Len() || len(m) > maxLen {
				t.Fatalf("Msg of %d bytes, header says %d, maxLen %d", len(m), m.Len(), maxLen)
			}
			if n, err := CheckHeader(m, maxLen); err != nil || n != len(m) {
				t.Fatalf("returned Msg fails CheckHeader: %d, %v", n, err)
			}
			if !bytes.Equal(m, data[consumed:consumed+len(m)]) {
				t.Fatalf("Msg at %d differs from the input", consumed)
			}
			consumed += len(m)
			PutBuf(m)
		}
	})
}

// heapAllocBytes returns the bytes allocated on the heap so far. Large
// allocations, the ones that matter here, are counted at once; small ones
// may show up late, which fuzzAllocSlack absorbs.
func heapAllocBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// checkReaderEnd checks the error that ended a Reader over rest, the input
// left after the last whole frame.
func checkReaderEnd(t *testing.T, r *Reader, rest []byte, maxLen int, err error) {
	t.Helper()
	switch {
	case len(rest) == 0:
		if err != io.EOF {
			t.Fatalf("at a frame boundary: %v, want io.EOF", err)
		}
	case len(rest) < HeaderLen:
		if err != io.ErrUnexpectedEOF || r.LastHeader() != nil {
			t.Fatalf("in a header: %v, LastHeader %x", err, r.LastHeader())
		}
	default:
		if !bytes.Equal(r.LastHeader(), rest[:HeaderLen]) {
			t.Fatalf("LastHeader %x, want %x", r.LastHeader(), rest[:HeaderLen])
		}
		n, herr := CheckHeader(rest, maxLen)
		if herr != nil {
			if !errors.Is(err, ErrVersion) && !errors.Is(err, ErrLength) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("bad header: %v, CheckHeader says %v", err, herr)
			}
			return
		}
		if n <= len(rest) || err != io.ErrUnexpectedEOF {
			t.Fatalf("frame of %d with %d bytes left: %v", n, len(rest), err)
		}
	}
}

func FuzzIter(f *testing.F) {
	ccr := buildCCR("relay.example.com")
	mscc, _ := ccr.Find(avpMultipleServicesCC, 0)
	f.Add([]byte(ccr.Body()))
	f.Add([]byte(buildCER().Body()))
	f.Add(bytes.Clone(mscc.Data))
	f.Add(rawAVP(1, AVPFlagVendor, 7, 13, []byte("x")))
	f.Fuzz(func(t *testing.T, b []byte) {
		it := NewIter(b)
		end := 0
		for it.Next() {
			a := it.AVP()
			hl := avpHeaderLen
			if a.Flags&AVPFlagVendor != 0 {
				hl = avpVendorHeaderLen
			} else if a.VendorID != 0 {
				t.Fatalf("VendorID %d without the V bit", a.VendorID)
			}
			if a.Offset != end || a.Size < hl+len(a.Data) || a.Offset+a.Size > len(b) ||
				a.Size > (hl+len(a.Data)+3)&^3 || (a.Size%4 != 0 && a.Offset+a.Size != len(b)) {
				t.Fatalf("AVP at %d size %d data %d in %d bytes", a.Offset, a.Size, len(a.Data), len(b))
			}
			raw := a.Raw(b)
			enc := AppendAVP(nil, a.Code, a.Flags, a.VendorID, a.Data)
			if n := hl + len(a.Data); !bytes.Equal(enc[:n], raw[:n]) {
				t.Fatalf("re-encoding %x gives %x", raw[:n], enc[:n])
			}
			if found, ok := FindIn(b, a.Code, a.VendorID); !ok || found.Offset > a.Offset {
				t.Fatalf("FindIn missed AVP %d at %d", a.Code, a.Offset)
			}
			end += a.Size
		}
		if err := it.Err(); err != nil {
			if !errors.Is(err, ErrAVPLength) || it.Offset() != end || end >= len(b) {
				t.Fatalf("Err %v at %d (end %d, len %d)", err, it.Offset(), end, len(b))
			}
			if stub := FailedAVPFor(b, end); stub != nil && len(allAVPs(t, stub)) != 1 {
				t.Fatalf("FailedAVPFor %x is not one AVP", stub)
			}
		} else if end != len(b) {
			t.Fatalf("clean end at %d of %d", end, len(b))
		}
	})
}

// allAVPs returns every AVP in b, failing on a malformed one.
func allAVPs(t *testing.T, b []byte) []AVP {
	t.Helper()
	var out []AVP
	it := NewIter(b)
	for it.Next() {
		out = append(out, it.AVP())
	}
	if it.Err() != nil {
		t.Fatalf("iterating %x: %v", b, it.Err())
	}
	return out
}

func FuzzErrorAnswer(f *testing.F) {
	withProxies, _ := requestWithProxies(FlagRequest | FlagProxiable)
	f.Add([]byte(buildCCR("relay.example.com")), uint32(ResultUnableToDeliver))
	f.Add([]byte(buildCER()), uint32(ResultNoCommonApplication))
	f.Add([]byte(withProxies), uint32(ResultLoopDetected))
	acr := NewMsg(FlagRequest|FlagProxiable, CmdAccounting, 3, 1, 2).
		AppendStringAVP(AVPSessionID, AVPFlagMandatory, 0, "s;1").
		AppendUint32AVP(avpAccountingRecordType, AVPFlagMandatory, 0, 2).
		AppendUint32AVP(avpAccountingRecordNumber, AVPFlagMandatory, 0, 0)
	f.Add([]byte(acr), uint32(ResultMissingAVP))
	aar := NewMsg(FlagRequest|FlagProxiable, cmdAA, 1, 1, 2).
		AppendUint32AVP(avpAuthRequestType, AVPFlagMandatory, 0, 3)
	f.Add([]byte(aar), uint32(ResultAVPUnsupported))
	f.Fuzz(func(t *testing.T, data []byte, resultCode uint32) {
		n, err := CheckHeader(data, MaxLen)
		if err != nil || n > len(data) {
			return
		}
		req := Msg(data[:n])
		reqCopy := bytes.Clone(req)
		spec := ErrorSpec{
			OriginHost: testAgentHost, OriginRealm: testAgentRealm, ResultCode: resultCode,
			Message: "fuzz", ErrorReportingHost: testAgentHost,
		}
		sid, proxies := AVP{}, 0
		off, verr := req.Validate()
		it := req.AVPs()
		for it.Next() {
			a := it.AVP()
			if a.Code == AVPSessionID && a.VendorID == 0 && sid.Data == nil {
				sid = a
			}
			if a.Code == AVPProxyInfo && a.VendorID == 0 {
				proxies++
			}
		}
		if verr != nil {
			spec.FailedAVP = FailedAVPFor(req.Body(), off)
		} else if it := req.AVPs(); it.Next() {
			spec.FailedAVP = it.AVP().Raw(req.Body())
		}

		a := ErrorAnswer(req, spec)
		if !bytes.Equal(req, reqCopy) {
			t.Fatal("ErrorAnswer modified the request")
		}
		checkAnswer(t, a, req)
		if boff, err := a.Validate(); err != nil {
			t.Fatalf("answer fails Validate at %d: %v", boff, err)
		}
		avps := allAVPs(t, a.Body())
		i := 0
		if sid.Data != nil {
			if avps[0].Code != AVPSessionID || !bytes.Equal(avps[0].Data, sid.Data) {
				t.Fatalf("first AVP %+v, want the Session-Id", avps[0])
			}
			i = 1
		}
		if avps[i].Code != AVPOriginHost || avps[i+2].Code != AVPResultCode {
			t.Fatalf("AVP order %+v", avps)
		}
		got := 0
		for _, av := range avps {
			if av.Code == AVPProxyInfo {
				got++
			}
		}
		if got != proxies {
			t.Fatalf("%d Proxy-Info copied, request has %d", got, proxies)
		}
		// After Result-Code come the application AVPs the command's answer
		// requires, in their order, each readable; Auth-Application-Id
		// always for CCA and AA-Answer.
		want := requiredAVPs(req.Code())
		j := i + 3
		for _, code := range want {
			if j < len(avps) && avps[j].Code == code {
				if code != AVPVendorSpecificApplicationID && len(avps[j].Data) != 4 {
					t.Fatalf("copied AVP %d has %d octets", code, len(avps[j].Data))
				}
				j++
			} else if code == AVPAuthApplicationID {
				t.Fatalf("no Auth-Application-Id after Result-Code: %+v", avps)
			}
		}

		checkAnswer(t, Msg(ErrorAnswerFromHeader(req.Header(), spec)), req)
	})
}

// checkAnswer checks the framing and header of answer a to req.
func checkAnswer(t *testing.T, a, req Msg) {
	t.Helper()
	if n, err := CheckHeader(a, MaxLen); err != nil || n != len(a) {
		t.Fatalf("answer fails CheckHeader: %d, %v (len %d)", n, err, len(a))
	}
	if a.IsRequest() || a.IsRetransmit() || a.IsProxiable() != req.IsProxiable() ||
		a.Code() != req.Code() || a.AppID() != req.AppID() ||
		a.HopByHop() != req.HopByHop() || a.EndToEnd() != req.EndToEnd() {
		t.Fatalf("answer header %x for request header %x", a.Header(), req.Header())
	}
}
