package wire

import "encoding/binary"

// maxAVPLen is the largest value of the 24-bit AVP length field.
const maxAVPLen = 0xffffff

// AVPSize returns the number of bytes an AVP with n bytes of data occupies
// once encoded, padding included.
func AVPSize(vendor uint32, flags uint8, n int) int {
	hl := avpHeaderLen
	if vendor != 0 || flags&AVPFlagVendor != 0 {
		hl = avpVendorHeaderLen
	}
	return (hl + n + 3) &^ 3
}

// AppendAVP appends an encoded AVP (header, data, zero padding) to dst and
// returns the extended slice. A non-zero vendor sets the V bit; the
// Vendor-ID field is written whenever the V bit is set. It panics if the
// AVP length does not fit the 24-bit length field.
func AppendAVP(dst []byte, code uint32, flags uint8, vendor uint32, data []byte) []byte {
	return appendAVP(dst, code, flags, vendor, data)
}

// AppendStringAVP is AppendAVP for string data (OctetString, UTF8String,
// DiameterIdentity), without converting it to a byte slice.
func AppendStringAVP(dst []byte, code uint32, flags uint8, vendor uint32, data string) []byte {
	return appendAVP(dst, code, flags, vendor, data)
}

// AppendUint32AVP appends an AVP whose data is v in big-endian order
// (Unsigned32, Enumerated, Integer32).
func AppendUint32AVP(dst []byte, code uint32, flags uint8, vendor uint32, v uint32) []byte {
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], v)
	return appendAVP(dst, code, flags, vendor, d[:])
}

func appendAVP[T string | []byte](dst []byte, code uint32, flags uint8, vendor uint32, data T) []byte {
	hl := avpHeaderLen
	if vendor != 0 {
		flags |= AVPFlagVendor
	}
	if flags&AVPFlagVendor != 0 {
		hl = avpVendorHeaderLen
	}
	n := hl + len(data)
	if n > maxAVPLen {
		panic("wire: AVP too long")
	}
	var h [avpVendorHeaderLen]byte
	binary.BigEndian.PutUint32(h[0:4], code)
	h[4] = flags
	putUint24(h[5:8], n)
	binary.BigEndian.PutUint32(h[8:12], vendor)
	dst = append(dst, h[:hl]...)
	dst = append(dst, data...)
	var pad [3]byte
	return append(dst, pad[:(4-n&3)&3]...)
}

// AppendAVP appends an AVP at the end of m, updates the header length and
// returns the new message. It writes into m's spare capacity when it
// suffices (pool buffers have slack), so m must own its backing array;
// otherwise it copies m into a pool buffer of the new size and releases the
// old one with PutBuf, after which the old m must not be used. It panics if
// the message would exceed MaxLen.
func (m Msg) AppendAVP(code uint32, flags uint8, vendor uint32, data []byte) Msg {
	return appendToMsg(m, code, flags, vendor, data)
}

// AppendStringAVP is Msg.AppendAVP for string data.
func (m Msg) AppendStringAVP(code uint32, flags uint8, vendor uint32, data string) Msg {
	return appendToMsg(m, code, flags, vendor, data)
}

// AppendUint32AVP is Msg.AppendAVP for a 32-bit big-endian value.
func (m Msg) AppendUint32AVP(code uint32, flags uint8, vendor uint32, v uint32) Msg {
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], v)
	return appendToMsg(m, code, flags, vendor, d[:])
}

func appendToMsg[T string | []byte](m Msg, code uint32, flags uint8, vendor uint32, data T) Msg {
	n := len(m) + AVPSize(vendor, flags, len(data))
	if n > MaxLen {
		panic("wire: message too long")
	}
	if n <= cap(m) {
		m = appendAVP(m, code, flags, vendor, data)
		m.SetLen(len(m))
		return m
	}
	old := m
	m = append(GetBuf(n)[:0], old...)
	// data may alias old, so old is released only after data is copied.
	m = appendAVP(m, code, flags, vendor, data)
	m.SetLen(len(m))
	PutBuf(old)
	return m
}
