package wire

// AppendRouteRecord appends a Route-Record AVP (M bit, DiameterIdentity)
// carrying identity to request m and returns the new message, with the same
// buffer rules as Msg.AppendAVP: when m's buffer is too small the message
// moves to a new one and m's is released, so slices into m (AVP.Data...)
// must not be used afterwards. Offsets stay valid: the message keeps its
// layout, the AVP goes at the end.
func (m Msg) AppendRouteRecord(identity string) Msg {
	return appendToMsg(m, AVPRouteRecord, AVPFlagMandatory, 0, identity)
}

// HasRouteRecord reports whether any top-level Route-Record AVP of m equals
// identity, comparing ASCII case-insensitively. It does not allocate.
func (m Msg) HasRouteRecord(identity []byte) bool { return hasRouteRecord(m, identity) }

// HasRouteRecordString is HasRouteRecord for an identity held as a string.
func (m Msg) HasRouteRecordString(identity string) bool { return hasRouteRecord(m, identity) }

func hasRouteRecord[T string | []byte](m Msg, identity T) bool {
	b := m.Body()
	for off := 0; off < len(b); {
		n, hl, ok := avpAt(b, off)
		if !ok {
			break
		}
		if matchAt(b, off, hl, AVPRouteRecord, 0) && equalFoldASCII(b[off+hl:off+n], identity) {
			return true
		}
		off += avpSize(b, off, n)
	}
	return false
}

// equalFoldASCII reports whether a and b are equal under ASCII case folding.
func equalFoldASCII[T string | []byte](a []byte, b T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
