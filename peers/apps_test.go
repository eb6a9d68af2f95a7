package peers

import (
	"slices"
	"testing"

	"github.com/dra-project/dra/wire"
)

func TestNegotiate(t *testing.T) {
	localApps := []App{
		{ID: capAppCC},
		{ID: capAppRf, Acct: true},
		{ID: capAppS6a, VendorID: capVendor3GPP},
		{ID: capAppVendAcct, VendorID: capVendor3GPP, Acct: true},
	}
	relayAuth := &Capabilities{AuthApps: []uint32{wire.RelayAppID}}
	everyKind := &Capabilities{
		AuthApps: []uint32{capAppCC},
		AcctApps: []uint32{capAppRf},
		VendorApps: []VendorApp{
			{VendorID: capVendor3GPP, AuthApp: capAppGx},
			{VendorID: capVendor3GPP, AcctApp: capAppVendAcct},
		},
	}
	tests := []struct {
		name       string
		localRelay bool
		local      []App
		remote     *Capabilities
		all        bool
		ids        []uint32 // when !all
	}{
		{"both relay", true, nil, relayAuth, true, nil},
		{"both relay, local apps too", true, localApps, &Capabilities{AuthApps: []uint32{capAppCC, wire.RelayAppID}}, true, nil},
		{"remote relay in Acct-Application-Id, local relay", true, nil, &Capabilities{AcctApps: []uint32{wire.RelayAppID}}, true, nil},
		{"remote relay in a VSAI, local relay", true, nil, &Capabilities{VendorApps: []VendorApp{{VendorID: capVendor3GPP, AuthApp: wire.RelayAppID}}}, true, nil},

		{"remote relay: local apps", false, localApps, relayAuth, false, []uint32{capAppRf, capAppCC, capAppVendAcct, capAppS6a}},
		{"remote relay with apps: local apps", false, []App{{ID: capAppGx, VendorID: capVendor3GPP}}, &Capabilities{AuthApps: []uint32{capAppCC, wire.RelayAppID}}, false, []uint32{capAppGx}},
		{"remote relay, no local apps", false, nil, relayAuth, false, nil},

		{"local relay: remote auth, acct and vendor apps", true, localApps, everyKind, false, []uint32{capAppRf, capAppCC, capAppVendAcct, capAppGx}},
		{"local relay: remote duplicates", true, nil, &Capabilities{AuthApps: []uint32{capAppCC, capAppCC}, AcctApps: []uint32{capAppCC}}, false, []uint32{capAppCC}},
		{"local relay: remote app 0 only", true, nil, &Capabilities{AuthApps: []uint32{0}}, false, nil},
		{"local relay: remote announces nothing", true, localApps, &Capabilities{}, false, nil},

		{"neither relay: intersection", false, localApps, everyKind, false, []uint32{capAppRf, capAppCC, capAppVendAcct}},
		{"neither relay: auth and acct ids meet", false, []App{{ID: capAppRf}}, &Capabilities{AcctApps: []uint32{capAppRf}}, false, []uint32{capAppRf}},
		{"neither relay: vendor app meets plain app", false, []App{{ID: capAppS6a}}, &Capabilities{VendorApps: []VendorApp{{VendorID: capVendor3GPP, AuthApp: capAppS6a}}}, false, []uint32{capAppS6a}},
		{"neither relay: duplicates", false, []App{{ID: capAppCC}, {ID: capAppCC, Acct: true}}, &Capabilities{AuthApps: []uint32{capAppCC, capAppCC}, AcctApps: []uint32{capAppCC}}, false, []uint32{capAppCC}},
		{"neither relay: empty intersection", false, localApps, &Capabilities{AuthApps: []uint32{capAppGx}}, false, nil},
		{"neither relay: nothing on either side", false, nil, &Capabilities{}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remoteBefore := cloneCaps(tt.remote)
			s := negotiate(tt.localRelay, tt.local, tt.remote)
			checkAppSet(t, s, tt.all, tt.ids)
			if got := cloneCaps(tt.remote); !slices.Equal(got.AuthApps, remoteBefore.AuthApps) || !slices.Equal(got.AcctApps, remoteBefore.AcctApps) {
				t.Error("negotiate changed the remote capabilities")
			}
		})
	}
}

func cloneCaps(c *Capabilities) Capabilities {
	out := *c
	out.AuthApps = slices.Clone(c.AuthApps)
	out.AcctApps = slices.Clone(c.AcctApps)
	return out
}

// checkAppSet checks every accessor of s against the expected set.
func checkAppSet(t *testing.T, s AppSet, all bool, ids []uint32) {
	t.Helper()
	if s.All() != all {
		t.Fatalf("All() = %v, want %v", s.All(), all)
	}
	if !s.Supports(0) {
		t.Error("application 0 not supported")
	}
	if all {
		if s.Empty() {
			t.Error("Empty() for a relay set")
		}
		if got := s.IDs(); !slices.Equal(got, []uint32{wire.RelayAppID}) {
			t.Errorf("IDs() = %v, want [relay]", got)
		}
		for _, id := range []uint32{1, capAppCC, capAppS6a, wire.RelayAppID - 1, wire.RelayAppID} {
			if !s.Supports(id) {
				t.Errorf("relay set does not support %d", id)
			}
		}
		return
	}
	got := s.IDs()
	if !slices.Equal(got, ids) {
		t.Errorf("IDs() = %v, want %v", got, ids)
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("IDs() = %v is not sorted and deduplicated", got)
	}
	if s.Empty() != (len(ids) == 0) {
		t.Errorf("Empty() = %v with ids %v", s.Empty(), ids)
	}
	for _, id := range ids {
		if !s.Supports(id) {
			t.Errorf("Supports(%d) = false", id)
		}
	}
	for _, id := range []uint32{1, 5, capAppGx + 1, wire.RelayAppID} {
		if s.Supports(id) != slices.Contains(ids, id) {
			t.Errorf("Supports(%d) = %v", id, s.Supports(id))
		}
	}
	if len(got) > 0 {
		got[0] = 424242 // IDs returns a copy
		if s.Supports(424242) {
			t.Error("IDs() exposes the set's storage")
		}
	}
}

func TestNewAppSet(t *testing.T) {
	in := []uint32{9, 3, 9, 1, 3, 3}
	s := newAppSet(in)
	checkAppSet(t, s, false, []uint32{1, 3, 9})
	if !slices.Equal(in, []uint32{9, 3, 9, 1, 3, 3}) {
		t.Errorf("newAppSet changed its argument: %v", in)
	}
}

func TestZeroAppSet(t *testing.T) {
	var s AppSet
	checkAppSet(t, s, false, nil)
	if len(s.IDs()) != 0 {
		t.Errorf("IDs() = %v", s.IDs())
	}
}

func TestRemoteApps(t *testing.T) {
	tests := []struct {
		name  string
		caps  Capabilities
		ids   []uint32
		relay bool
	}{
		{"none", Capabilities{}, nil, false},
		{"order kept: auth, acct, vendor", Capabilities{
			AuthApps:   []uint32{capAppCC},
			AcctApps:   []uint32{capAppRf},
			VendorApps: []VendorApp{{VendorID: capVendor3GPP, AcctApp: capAppVendAcct}, {VendorID: capVendor3GPP, AuthApp: capAppS6a}},
		}, []uint32{capAppCC, capAppRf, capAppVendAcct, capAppS6a}, false},
		{"relay and zero left out", Capabilities{AuthApps: []uint32{0, wire.RelayAppID, capAppCC}}, []uint32{capAppCC}, true},
		{"relay in VSAI acct", Capabilities{VendorApps: []VendorApp{{VendorID: 1, AcctApp: wire.RelayAppID}}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, relay := tt.caps.remoteApps()
			if !slices.Equal(ids, tt.ids) || relay != tt.relay {
				t.Errorf("remoteApps() = %v, %v; want %v, %v", ids, relay, tt.ids, tt.relay)
			}
		})
	}
}
