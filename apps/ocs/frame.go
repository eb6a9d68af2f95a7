package ocs

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Log frames: a 4-byte big-endian payload length, a 4-byte CRC-32C of the
// payload, then the payload (one JSON record).
const (
	frameHeader = 8
	maxFrame    = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn reports a frame that is truncated or fails its checksum: the tail
// of a log whose last write did not complete.
var errTorn = errors.New("ocs: torn log frame")

// appendFrame appends payload as one frame to b.
func appendFrame(b, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

// nextFrame returns the first frame's payload in b and the bytes after it.
// It returns errTorn if b is empty of a whole, valid frame but not empty.
func nextFrame(b []byte) (payload, rest []byte, err error) {
	if len(b) < frameHeader {
		return nil, b, errTorn
	}
	n := binary.BigEndian.Uint32(b)
	// A frame always holds a record: a zero length is the zero fill a
	// crash can leave after the last write (its checksum would match).
	if n == 0 || n > maxFrame || uint64(len(b)-frameHeader) < uint64(n) {
		return nil, b, errTorn
	}
	p := b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return nil, b, errTorn
	}
	return p, b[frameHeader+int(n):], nil
}

// tornTail reports whether rest, the log from a frame that failed to read,
// can be the remains of one interrupted append: zeros, a frame cut short,
// or exactly one damaged frame and nothing after it.
func tornTail(rest []byte) bool {
	if allZero(rest) || len(rest) < frameHeader {
		return true
	}
	n := binary.BigEndian.Uint32(rest)
	if n == 0 || n > maxFrame {
		return false
	}
	return uint64(frameHeader)+uint64(n) >= uint64(len(rest))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// splitFrames returns the payloads of the whole valid frames at the start
// of b and how many bytes they take.
func splitFrames(b []byte) (payloads [][]byte, good int) {
	for len(b) > 0 {
		p, rest, err := nextFrame(b)
		if err != nil {
			break
		}
		payloads = append(payloads, p)
		good += len(b) - len(rest)
		b = rest
	}
	return payloads, good
}
