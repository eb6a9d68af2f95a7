package wire

import "encoding/binary"

// Msg is one complete Diameter message that has passed CheckHeader, so that
// len(m) equals the header length field. Accessors do not allocate; they
// panic if len(m) < HeaderLen.
type Msg []byte

// NewMsg returns a message with a filled header (version 1, length
// HeaderLen) and no AVPs, taken from the buffer pool with spare capacity for
// AVPs appended with Msg.AppendAVP.
func NewMsg(flags uint8, code, appID, hopByHop, endToEnd uint32) Msg {
	m := Msg(GetBuf(HeaderLen))
	putHeader(m, HeaderLen, flags, code, appID, hopByHop, endToEnd)
	return m
}

// Version returns the protocol version from the header.
func (m Msg) Version() uint8 { return m[0] }

// Len returns the message length from the header length field.
func (m Msg) Len() int { return uint24(m[1:4]) }

// SetLen writes n into the header length field.
func (m Msg) SetLen(n int) { putUint24(m[1:4], n) }

// Flags returns the command flags.
func (m Msg) Flags() uint8 { return m[4] }

// SetFlags overwrites the command flags.
func (m Msg) SetFlags(f uint8) { m[4] = f }

// IsRequest reports whether the R bit is set.
func (m Msg) IsRequest() bool { return m[4]&FlagRequest != 0 }

// IsProxiable reports whether the P bit is set.
func (m Msg) IsProxiable() bool { return m[4]&FlagProxiable != 0 }

// IsError reports whether the E bit is set.
func (m Msg) IsError() bool { return m[4]&FlagError != 0 }

// IsRetransmit reports whether the T bit is set.
func (m Msg) IsRetransmit() bool { return m[4]&FlagRetransmit != 0 }

// Code returns the 24-bit Command-Code.
func (m Msg) Code() uint32 { return uint32(uint24(m[5:8])) }

// AppID returns the Application-Id.
func (m Msg) AppID() uint32 { return binary.BigEndian.Uint32(m[8:12]) }

// HopByHop returns the Hop-by-Hop Identifier.
func (m Msg) HopByHop() uint32 { return binary.BigEndian.Uint32(m[12:16]) }

// SetHopByHop overwrites the Hop-by-Hop Identifier.
func (m Msg) SetHopByHop(id uint32) { binary.BigEndian.PutUint32(m[12:16], id) }

// EndToEnd returns the End-to-End Identifier.
func (m Msg) EndToEnd() uint32 { return binary.BigEndian.Uint32(m[16:20]) }

// SetEndToEnd overwrites the End-to-End Identifier.
func (m Msg) SetEndToEnd(id uint32) { binary.BigEndian.PutUint32(m[16:20], id) }

// Body returns the AVP area, m[HeaderLen:].
func (m Msg) Body() []byte { return m[HeaderLen:] }

// Header returns the HeaderLen header bytes, m[:HeaderLen].
func (m Msg) Header() []byte { return m[:HeaderLen] }
