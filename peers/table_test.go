package peers

import (
	"slices"
	"testing"
)

// TestTableListings: rows are replaced by key, looked up without regard to
// case, listed ordered by identity, by realm (case-insensitive) and by
// state, and removed.
func TestTableListings(t *testing.T) {
	tb := newTable()
	row := func(id, realm string, s State) *PeerInfo {
		return &PeerInfo{Key: foldKey(id), Identity: id, Realm: realm, State: s, StateName: s.String()}
	}
	tb.put(row("b.test", "Realm.A", StateROpen))
	tb.put(row("A.test", "realm.a", StateClosed))
	tb.put(row("c.test", "realm.b", StateIOpen))
	tb.put(row("d.test", "", StateROpen))
	tb.put(row("a.test", "realm.a", StateIOpen)) // replaces A.test
	keys := func(rows []*PeerInfo) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.Identity)
		}
		return out
	}
	tests := []struct {
		name string
		got  []*PeerInfo
		want []string
	}{
		{"all", tb.All(), []string{"a.test", "b.test", "c.test", "d.test"}},
		{"realm", tb.ByRealm("REALM.A"), []string{"a.test", "b.test"}},
		{"other realm", tb.ByRealm("realm.b"), []string{"c.test"}},
		{"no realm", tb.ByRealm(""), nil},
		{"state", tb.ByState(StateIOpen), []string{"a.test", "c.test"}},
		{"closed", tb.ByState(StateClosed), nil},
	}
	for _, tt := range tests {
		if got := keys(tt.got); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if in, ok := tb.Get("B.TEST"); !ok || in.Identity != "b.test" {
		t.Errorf("Get(B.TEST) = %v, %v", in, ok)
	}
	tb.remove("b.test")
	if _, ok := tb.Get("b.test"); ok {
		t.Error("row still there after remove")
	}
	if got := keys(tb.ByRealm("realm.a")); !slices.Equal(got, []string{"a.test"}) {
		t.Errorf("realm after remove: %v", got)
	}
}
