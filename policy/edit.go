package policy

import "github.com/dra-project/dra/wire"

// editFunc decides one top-level AVP's fate: dropped (keep false),
// re-encoded with new data (replace true), or copied as it is. It is
// called twice per AVP and must give the same answer both times.
type editFunc func(a wire.AVP) (keep bool, data []byte, replace bool)

// editMsg rewrites m's top-level AVPs as f says into a new pool buffer of
// the exact size, with the header length updated and every AVP padded,
// and releases m. When f changes nothing (or m is malformed) m is returned
// as it is.
func editMsg(m wire.Msg, f editFunc) wire.Msg {
	n := wire.HeaderLen
	changed := false
	it := m.AVPs()
	for it.Next() {
		a := it.AVP()
		keep, data, repl := f(a)
		switch {
		case !keep:
			changed = true
		case repl:
			n += wire.AVPSize(a.VendorID, a.Flags, len(data))
			changed = true
		default:
			n += a.Size
		}
	}
	if it.Err() != nil || !changed {
		return m
	}
	body := m.Body()
	out := wire.Msg(wire.GetBuf(n)[:0])
	out = append(out, m.Header()...)
	it = m.AVPs()
	for it.Next() {
		a := it.AVP()
		keep, data, repl := f(a)
		switch {
		case !keep:
		case repl:
			out = wire.AppendAVP(out, a.Code, a.Flags, a.VendorID, data)
		default:
			out = append(out, a.Raw(body)...)
		}
	}
	out.SetLen(len(out))
	wire.PutBuf(m)
	return out
}

// is reports whether a is the AVP (code, vendor).
func is(a wire.AVP, code, vendor uint32) bool { return a.Code == code && a.VendorID == vendor }

// editPath runs a remove, replace or nested add action at any depth of m,
// which must own its buffer: a size pass, then one copy into a new pool
// buffer of the exact size in which every Grouped AVP on the way gets its
// new length and every AVP its padding, and the header its new length; m
// is released. It returns the message and the number of AVPs removed,
// replaced or added. When nothing is to change, when m is malformed or
// when the result would exceed wire.MaxLen, m is returned as it is (and
// 0). A Grouped AVP whose content is malformed is left as it is.
func editPath(m wire.Msg, act *avpAct) (wire.Msg, int) {
	_, n, hits, ok := act.walk(nil, m.Body(), 0, false)
	if !ok || hits == 0 || wire.HeaderLen+n > wire.MaxLen {
		return m, 0
	}
	out := wire.GetBuf(wire.HeaderLen + n)[:0]
	out = append(out, m.Header()...)
	out, _, _, _ = act.walk(out, m.Body(), 0, true)
	wire.Msg(out).SetLen(len(out))
	wire.PutBuf(m)
	return out, hits
}

// walk rewrites the AVPs in b, found at depth d of act's path. In the
// size pass (write false) it returns the bytes the rewritten AVPs occupy
// and the number of AVPs acted on; ok is false when b is malformed. In
// the write pass it appends them to dst, which has room for them.
func (act *avpAct) walk(dst, b []byte, d int, write bool) (out []byte, n, hits int, ok bool) {
	st := &act.path[d]
	leaf := d == len(act.path)-1
	it := wire.NewIter(b)
	for it.Next() {
		a := it.AVP()
		if leaf && act.kind == actAdd || !st.is(a) {
			n += pad4(a.Size)
			if write {
				dst = appendPadded(dst, a.Raw(b))
			}
			continue
		}
		if leaf {
			hits++
			if act.kind == actReplace {
				n += wire.AVPSize(a.VendorID, a.Flags, len(act.data))
				if write {
					dst = wire.AppendAVP(dst, a.Code, a.Flags, a.VendorID, act.data)
				}
			}
			continue
		}
		// A Grouped AVP on the path: rewritten when something inside it
		// changes, copied otherwise.
		_, inner, h, ok := act.walk(nil, a.Data, d+1, false)
		if !ok || h == 0 {
			n += pad4(a.Size)
			if write {
				dst = appendPadded(dst, a.Raw(b))
			}
			continue
		}
		hl := avpHeaderLen(a)
		n += hl + inner
		hits += h
		if write {
			start := len(dst)
			dst = append(dst, b[a.Offset:a.Offset+hl]...)
			dst, _, _, _ = act.walk(dst, a.Data, d+1, true)
			putUint24(dst[start+5:start+8], len(dst)-start)
		}
	}
	if it.Err() != nil {
		return dst, 0, 0, false
	}
	if leaf && act.kind == actAdd {
		hits++
		n += wire.AVPSize(st.vendor, act.flags, len(act.data))
		if write {
			dst = wire.AppendAVP(dst, st.code, act.flags, st.vendor, act.data)
		}
	}
	return dst, n, hits, true
}

// pad4 rounds n up to a multiple of 4.
func pad4(n int) int { return (n + 3) &^ 3 }

// appendPadded appends an encoded AVP with its padding, which the last
// AVP of a Grouped AVP may lack.
func appendPadded(dst, raw []byte) []byte {
	dst = append(dst, raw...)
	var z [3]byte
	return append(dst, z[:pad4(len(raw))-len(raw)]...)
}

// avpHeaderLen is the length of a's header: 12 with the V bit, else 8.
func avpHeaderLen(a wire.AVP) int {
	if a.Flags&wire.AVPFlagVendor != 0 {
		return 12
	}
	return 8
}

func putUint24(b []byte, n int) { b[0], b[1], b[2] = byte(n>>16), byte(n>>8), byte(n) }
