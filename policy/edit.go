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
