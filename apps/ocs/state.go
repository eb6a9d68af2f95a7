package ocs

import (
	"strconv"
	"sync"
)

// unit is a balance kind.
type unit int

const (
	unitTime unit = iota
	unitOctets
	unitUnits
	numUnits
)

// amounts holds one value per unit kind, indexed by unit.
type amounts [numUnits]uint64

// accountKey is the map key of a subscription: "type:data".
func accountKey(typ uint32, data string) string {
	return strconv.FormatUint(uint64(typ), 10) + ":" + data
}

// acctState is the durable state of an account.
type acctState struct {
	Type    uint32  `json:"t"`
	Data    string  `json:"d"`
	Avail   amounts `json:"a"`           // available: balance less reservations
	Used    amounts `json:"u"`           // debited in total
	Blocked bool    `json:"b,omitempty"` // 4010
}

// resState is one reservation of a session, per rating group and service.
type resState struct {
	RG     uint32 `json:"rg,omitempty"`
	HasRG  bool   `json:"hrg,omitempty"`
	SI     uint32 `json:"si,omitempty"`
	HasSI  bool   `json:"hsi,omitempty"`
	Unit   unit   `json:"k"`
	Amount uint64 `json:"n"`
}

// sessState is the durable state of a credit-control session.
type sessState struct {
	ID          string     `json:"id"`
	Acct        string     `json:"acct"`
	OriginHost  string     `json:"oh"`
	OriginRealm string     `json:"or"`
	LastNum     uint32     `json:"num"`
	Res         []resState `json:"res,omitempty"`
	LastSeen    int64      `json:"seen"`         // unix nanoseconds of the last CCR
	ValidUntil  int64      `json:"vt,omitempty"` // unix nanoseconds; 0 none
	// Ans is the answer to request LastNum, resent on its retransmission.
	// It is logged with the change it answers (never modified in place).
	Ans []byte `json:"ans,omitempty"`
}

// reserved sums the session's reservations per unit kind.
func (s *sessState) reserved() amounts {
	var a amounts
	for _, r := range s.Res {
		a[r.Unit] += r.Amount
	}
	return a
}

// find returns the index of the reservation for rg/si, or -1.
func (s *sessState) find(hasRG bool, rg uint32, hasSI bool, si uint32) int {
	for i, r := range s.Res {
		if r.HasRG == hasRG && r.RG == rg && r.HasSI == hasSI && r.SI == si {
			return i
		}
	}
	return -1
}

// account is one subscriber's balances and sessions.
type account struct {
	mu       sync.Mutex
	st       acctState
	sessions map[string]*session
}

// session is a credit-control session in memory.
type session struct {
	st sessState
	// pending is the commit that makes st.Ans durable: a retransmission
	// is answered only once it is (nil for a recovered session).
	pending *commit
	// rarSent is set once a RAR went out for the current validity.
	rarSent bool
}

// AccountInfo is a view of an account.
type AccountInfo struct {
	// Available is the balance less reservations.
	Available Balance
	// Reserved is held by open sessions.
	Reserved Balance
	// Used is the total debited since the account was created.
	Used    Balance
	Blocked bool
	// Sessions is the number of open sessions.
	Sessions int
}

func toBalance(a amounts) Balance {
	return Balance{Time: a[unitTime], Octets: a[unitOctets], Units: a[unitUnits]}
}
