package wire

import (
	"errors"
	"testing"
)

// testGrouped are the Grouped AVPs of the test messages.
var testGrouped = NewGroupedSet(
	[2]uint32{avpSubscriptionID, 0}, [2]uint32{avpMultipleServicesCC, 0}, [2]uint32{avpRequestedServiceUnit, 0},
	[2]uint32{AVPProxyInfo, 0}, [2]uint32{AVPFailedAVP, 0}, [2]uint32{873, vendor3GPP}, [2]uint32{70000, 0},
)

func TestGroupedSet(t *testing.T) {
	tests := []struct {
		code, vendor uint32
		want         bool
	}{
		{avpSubscriptionID, 0, true},
		{AVPProxyInfo, 0, true},
		{873, vendor3GPP, true},
		{70000, 0, true},
		{873, 0, false},
		{avpSubscriptionID, vendor3GPP, false},
		{AVPSessionID, 0, false},
		{groupedBaseCodes - 1, 0, false},
		{0, 0, false},
	}
	for _, tt := range tests {
		if got := testGrouped.Has(tt.code, tt.vendor); got != tt.want {
			t.Errorf("Has(%d, %d) = %v", tt.code, tt.vendor, got)
		}
	}
	if n := testGrouped.Len(); n != 7 {
		t.Errorf("Len %d, want 7", n)
	}
	var none *GroupedSet
	if none.Has(AVPProxyInfo, 0) {
		t.Error("nil set has an AVP")
	}
}

// nestProxyInfo returns depth Proxy-Info AVPs nested in one another
// around a Proxy-Host.
func nestProxyInfo(depth int) []byte {
	inner := AppendStringAVP(nil, AVPProxyHost, AVPFlagMandatory, 0, "px")
	for range depth - 1 {
		inner = AppendAVP(nil, AVPProxyInfo, AVPFlagMandatory, 0, inner)
	}
	return inner
}

func TestCheckLimits(t *testing.T) {
	ccr := buildCCR("relay.example.com").Body()
	// The CCR: 15 top-level AVPs, Subscription-Id holds 2, MSCC 3 and its
	// RSU 1: 21 in all, nested 3 deep.
	empty := func(n int) []byte {
		var b []byte
		for range n {
			b = AppendAVP(b, 1001, 0, 0, nil)
		}
		return b
	}
	deep := concat(empty(2), nestProxyInfo(5))
	tests := []struct {
		name              string
		body              []byte
		grouped           *GroupedSet
		maxAVPs, maxDepth int
		err               error
		off               int
	}{
		{"CCR within limits", ccr, testGrouped, 21, 3, nil, 0},
		{"CCR one AVP too many", ccr, testGrouped, 20, 3, ErrTooManyAVPs, mustFind(t, ccr, AVPRouteRecord)},
		{"CCR too deep", ccr, testGrouped, 100, 2, ErrTooDeep, mustFind(t, ccr, avpMultipleServicesCC)},
		{"CCR without the grouped set", ccr, nil, 15, 1, nil, 0},
		{"no limits", ccr, testGrouped, 0, 0, nil, 0},
		{"count only", empty(10), testGrouped, 9, 0, ErrTooManyAVPs, 72},
		{"depth only", deep, testGrouped, 0, 4, ErrTooDeep, 16},
		{"depth exactly at the limit", deep, testGrouped, 0, 5, nil, 0},
		{"nested AVPs count", deep, testGrouped, 6, 0, ErrTooManyAVPs, 16},
		{"malformed top-level AVP ends the walk", concat(empty(2), []byte{0, 0, 0, 1, 0, 0, 0, 99}), testGrouped, 2, 0, nil, 0},
		{"malformed group not descended", AppendAVP(nil, AVPProxyInfo, 0, 0, []byte{0, 0, 0, 1, 0, 0, 0, 99}), testGrouped, 1, 2, nil, 0},
		{"any group content past the depth", AppendAVP(nil, AVPProxyInfo, 0, 0, []byte{0, 0, 0, 1, 0, 0, 0, 99}), testGrouped, 1, 1, ErrTooDeep, 0},
		{"empty group", AppendAVP(nil, AVPProxyInfo, 0, 0, nil), testGrouped, 1, 1, nil, 0},
		{"empty body", nil, testGrouped, 1, 1, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, err := CheckLimits(tt.body, tt.grouped, tt.maxAVPs, tt.maxDepth)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if off != tt.off {
				t.Errorf("offset %d, want %d", off, tt.off)
			}
		})
	}
}

func mustFind(t *testing.T, body []byte, code uint32) int {
	t.Helper()
	a, ok := FindIn(body, code, 0)
	if !ok {
		t.Fatalf("no AVP %d", code)
	}
	return a.Offset
}

// TestCheckLimitsUnboundedDepth: without a depth limit the walk still
// stops descending at maxWalkDepth, so a hostile frame cannot recurse
// without bound.
func TestCheckLimitsUnboundedDepth(t *testing.T) {
	b := nestProxyInfo(maxWalkDepth + 50)
	if _, err := CheckLimits(b, testGrouped, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckLimits(b, testGrouped, maxWalkDepth-1, 0); !errors.Is(err, ErrTooManyAVPs) {
		t.Fatalf("count past the walk depth: %v", err)
	}
}

func TestCheckLimitsAllocs(t *testing.T) {
	ccr := buildCCR("relay.example.com").Body()
	if n := testing.AllocsPerRun(100, func() { _, _ = CheckLimits(ccr, testGrouped, 4096, 16) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkCheckLimits(b *testing.B) {
	ccr := buildCCR("relay.example.com").Body()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CheckLimits(ccr, testGrouped, 4096, 16); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCheckLimits: any input walks without panicking, the offset of a
// failure is that of a top-level AVP, and lifting the limit that failed
// makes the same input pass or fail on the other limit only.
func FuzzCheckLimits(f *testing.F) {
	f.Add([]byte(buildCCR("relay.example.com").Body()), uint16(20), uint8(3))
	f.Add(nestProxyInfo(20), uint16(0), uint8(16))
	f.Add([]byte(buildCER().Body()), uint16(4), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, maxAVPs uint16, maxDepth uint8) {
		off, err := CheckLimits(body, testGrouped, int(maxAVPs), int(maxDepth))
		if err == nil {
			if off != 0 {
				t.Fatalf("offset %d without error", off)
			}
			return
		}
		it := NewIter(body)
		found := false
		for it.Next() {
			if it.AVP().Offset == off {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("offset %d is not a top-level AVP", off)
		}
		switch {
		case errors.Is(err, ErrTooManyAVPs):
			if _, e := CheckLimits(body, testGrouped, 0, int(maxDepth)); errors.Is(e, ErrTooManyAVPs) {
				t.Fatal("count error without a count limit")
			}
		case errors.Is(err, ErrTooDeep):
			if _, e := CheckLimits(body, testGrouped, int(maxAVPs), 0); errors.Is(e, ErrTooDeep) {
				t.Fatal("depth error without a depth limit")
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}
