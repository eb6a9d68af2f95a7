package wire

import (
	"encoding/binary"
	"fmt"
)

// HeaderLen is the size of the Diameter message header.
const HeaderLen = 20

// Version is the only Diameter protocol version accepted.
const Version = 1

// Command flags (header byte 4).
const (
	FlagRequest    uint8 = 0x80
	FlagProxiable  uint8 = 0x40
	FlagError      uint8 = 0x20
	FlagRetransmit uint8 = 0x10
	// FlagReserved masks the command flag bits that must be zero.
	FlagReserved uint8 = 0x0f
)

// DefaultMaxLen is the default frame size limit, used when a limit <= 0 is given.
const DefaultMaxLen = 65536

// MaxLen is the largest message length the 24-bit length field can carry
// while staying a multiple of 4.
const MaxLen = 0xfffffc

// RelayAppID is the Application-Id of the relay application.
const RelayAppID = 0xffffffff

// CheckHeader validates the first HeaderLen bytes of a frame against maxLen
// and returns the message length from the header. A maxLen <= 0 means
// DefaultMaxLen. Errors wrap ErrShortHeader, ErrVersion, ErrLength or
// ErrTooLarge. It does not allocate on success.
func CheckHeader(b []byte, maxLen int) (int, error) {
	if len(b) < HeaderLen {
		return 0, fmt.Errorf("%w: %d bytes", ErrShortHeader, len(b))
	}
	if b[0] != Version {
		return 0, fmt.Errorf("%w: %d", ErrVersion, b[0])
	}
	n := uint24(b[1:4])
	if n < HeaderLen || n%4 != 0 {
		return 0, fmt.Errorf("%w: %d", ErrLength, n)
	}
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	if n > maxLen {
		return 0, fmt.Errorf("%w: %d > %d", ErrTooLarge, n, maxLen)
	}
	return n, nil
}

// uint24 decodes a big-endian 24-bit integer from b[0:3].
func uint24(b []byte) int {
	_ = b[2]
	return int(b[0])<<16 | int(b[1])<<8 | int(b[2])
}

// putUint24 encodes n as a big-endian 24-bit integer into b[0:3].
func putUint24(b []byte, n int) {
	_ = b[2]
	b[0] = byte(n >> 16)
	b[1] = byte(n >> 8)
	b[2] = byte(n)
}

// putHeader writes a complete header into b[0:HeaderLen].
func putHeader(b []byte, length int, flags uint8, code, appID, hopByHop, endToEnd uint32) {
	_ = b[HeaderLen-1]
	b[0] = Version
	putUint24(b[1:4], length)
	b[4] = flags
	putUint24(b[5:8], int(code&0xffffff))
	binary.BigEndian.PutUint32(b[8:12], appID)
	binary.BigEndian.PutUint32(b[12:16], hopByHop)
	binary.BigEndian.PutUint32(b[16:20], endToEnd)
}
