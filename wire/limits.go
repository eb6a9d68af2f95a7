package wire

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Errors of CheckLimits.
var (
	// ErrTooManyAVPs reports a message with more AVPs than allowed.
	ErrTooManyAVPs = errors.New("wire: too many AVPs")
	// ErrTooDeep reports Grouped AVPs nested deeper than allowed.
	ErrTooDeep = errors.New("wire: grouped AVPs nested too deep")
)

// maxWalkDepth bounds the recursion of CheckLimits when maxDepth is not
// checked: nesting deeper than this is not descended into.
const maxWalkDepth = 1024

// groupedBaseCodes bounds the bitmap of vendor-0 Grouped AVP codes; codes
// above it (and vendor AVPs) are looked up in a sorted slice.
const groupedBaseCodes = 4096

// GroupedSet is the set of AVPs known to be of type Grouped, by code and
// vendor. A raw message does not say which AVPs are Grouped: only those in
// the set are descended into when limits are checked. The zero value is
// empty. It is immutable once built and safe for concurrent use.
type GroupedSet struct {
	base  [groupedBaseCodes / 64]uint64
	other []uint64 // vendor<<32 | code, sorted
}

// NewGroupedSet builds the set of the given (code, vendor) pairs.
func NewGroupedSet(avps ...[2]uint32) *GroupedSet {
	s := new(GroupedSet)
	for _, a := range avps {
		code, vendor := a[0], a[1]
		if vendor == 0 && code < groupedBaseCodes {
			s.base[code/64] |= 1 << (code % 64)
			continue
		}
		s.other = append(s.other, uint64(vendor)<<32|uint64(code))
	}
	slices.Sort(s.other)
	s.other = slices.Compact(s.other)
	return s
}

// Has reports whether the AVP (code, vendor) is Grouped. It does not
// allocate.
func (s *GroupedSet) Has(code, vendor uint32) bool {
	if s == nil {
		return false
	}
	if vendor == 0 && code < groupedBaseCodes {
		return s.base[code/64]&(1<<(code%64)) != 0
	}
	_, ok := slices.BinarySearch(s.other, uint64(vendor)<<32|uint64(code))
	return ok
}

// at is Has for the AVP whose header (of length hl) is at b[o:].
func (s *GroupedSet) at(b []byte, o, hl int) bool {
	code := binary.BigEndian.Uint32(b[o:])
	if hl == avpHeaderLen {
		if code < groupedBaseCodes {
			return s.base[code/64]&(1<<(code%64)) != 0
		}
		return s.has(uint64(code))
	}
	if len(s.other) == 0 {
		return false
	}
	return s.has(uint64(binary.BigEndian.Uint32(b[o+8:]))<<32 | uint64(code))
}

// has looks key up in the sorted slice.
func (s *GroupedSet) has(key uint64) bool {
	_, ok := slices.BinarySearch(s.other, key)
	return ok
}

// Len is the number of AVPs in the set.
func (s *GroupedSet) Len() int {
	n := len(s.other)
	for _, w := range s.base {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// CheckLimits walks the AVPs of body (a message body), descending into the
// AVPs grouped names, and checks that there are at most maxAVPs of them in
// all (top-level and nested) and that Grouped AVPs nest at most maxDepth
// levels (top-level AVPs are at depth 1). A limit <= 0 is not checked.
//
// On failure it returns the offset in body of the top-level AVP where the
// limit was crossed and an error wrapping ErrTooManyAVPs or ErrTooDeep. A
// malformed top-level AVP ends the walk without error (framing is checked
// elsewhere, with its own answer); a malformed Grouped payload is not
// descended into. It does not allocate.
func CheckLimits(body []byte, grouped *GroupedSet, maxAVPs, maxDepth int) (off int, err error) {
	if maxAVPs <= 0 && maxDepth <= 0 {
		return 0, nil
	}
	if maxAVPs <= 0 {
		maxAVPs = int(^uint(0) >> 1)
	}
	walkDepth := maxDepth
	if maxDepth <= 0 {
		maxDepth, walkDepth = int(^uint(0)>>1), maxWalkDepth
	}
	n := 0
	for o := 0; o < len(body); {
		k, hl, ok := avpAt(body, o)
		if !ok {
			return 0, nil
		}
		if n++; n > maxAVPs {
			return o, ErrTooManyAVPs
		}
		if grouped != nil && grouped.at(body, o, hl) {
			if e := walkGroup(body[o+hl:o+k], grouped, 2, maxDepth, walkDepth, maxAVPs, &n); e != nil {
				return o, e
			}
		}
		o += avpSize(body, o, k)
	}
	return 0, nil
}

// walkGroup counts the AVPs inside a Grouped payload at depth d.
func walkGroup(b []byte, grouped *GroupedSet, d, maxDepth, walkDepth, maxAVPs int, n *int) error {
	if len(b) == 0 {
		return nil
	}
	if d > maxDepth {
		return ErrTooDeep
	}
	if d > walkDepth {
		return nil
	}
	for o := 0; o < len(b); {
		k, hl, ok := avpAt(b, o)
		if !ok {
			return nil
		}
		if *n++; *n > maxAVPs {
			return ErrTooManyAVPs
		}
		if grouped.at(b, o, hl) {
			if e := walkGroup(b[o+hl:o+k], grouped, d+1, maxDepth, walkDepth, maxAVPs, n); e != nil {
				return e
			}
		}
		o += avpSize(b, o, k)
	}
	return nil
}

// CheckGroup is CheckLimits for the payload of one top-level Grouped AVP,
// for a caller walking the top level itself: it returns how many AVPs the
// payload holds at any depth (up to the first failure) and an error
// wrapping ErrTooManyAVPs when there are more than maxAVPs of them, or
// ErrTooDeep when they nest deeper than maxDepth counting the top level as
// 1. Limits <= 0 are not checked. It does not allocate.
func CheckGroup(data []byte, grouped *GroupedSet, maxAVPs, maxDepth int) (n int, err error) {
	walkDepth := maxDepth
	if maxAVPs <= 0 {
		maxAVPs = int(^uint(0) >> 1)
	}
	if maxDepth <= 0 {
		maxDepth, walkDepth = int(^uint(0)>>1), maxWalkDepth
	}
	if grouped == nil {
		grouped = &GroupedSet{}
	}
	err = walkGroup(data, grouped, 2, maxDepth, walkDepth, maxAVPs, &n)
	return n, err
}
