package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Packet is one captured frame.
type Packet struct {
	// Number counts the packets of the file from 1, as Wireshark and
	// tshark number frames.
	Number int
	// Link is the frame's link-layer header type.
	Link LinkType
	// Data is the captured bytes (possibly fewer than were on the wire).
	Data []byte
}

// Limits on what a file may declare, so that a corrupt length cannot make
// the reader allocate without bound.
const (
	maxPacket = 1 << 20 // bytes of one captured packet
	maxBlock  = 1 << 24 // bytes of one pcapng block
)

// Errors wrapped by the reader.
var (
	ErrFormat  = errors.New("capture: not a pcap or pcapng file")
	ErrCorrupt = errors.New("capture: corrupt file")
)

// Reader reads the packets of a pcap or pcapng file in order.
type Reader struct {
	r      *bufio.Reader
	ng     bool
	order  binary.ByteOrder
	link   LinkType // pcap
	ifaces []iface  // pcapng: the section's interfaces
	n      int      // packets read
	buf    [28]byte // block and record headers
}

type iface struct {
	link    LinkType
	snaplen uint32
}

const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	ngSHB          = 0x0a0d0d0a
	ngBOM          = 0x1a2b3c4d
	ngIDB          = 1
	ngPB           = 2 // obsolete Packet Block
	ngSPB          = 3
	ngEPB          = 6
)

// NewReader reads the file header (pcap) or the first section header
// (pcapng) from r and returns a Reader positioned at the first packet.
func NewReader(r io.Reader) (*Reader, error) {
	cr := &Reader{r: bufio.NewReader(r)}
	magic, err := cr.r.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: %d bytes", ErrFormat, len(magic))
	}
	switch {
	case binary.BigEndian.Uint32(magic) == ngSHB:
		cr.ng = true
		if err := cr.section(); err != nil {
			return nil, err
		}
		return cr, nil
	case binary.LittleEndian.Uint32(magic) == pcapMagicMicro, binary.LittleEndian.Uint32(magic) == pcapMagicNano:
		cr.order = binary.LittleEndian
	case binary.BigEndian.Uint32(magic) == pcapMagicMicro, binary.BigEndian.Uint32(magic) == pcapMagicNano:
		cr.order = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: magic %x", ErrFormat, magic)
	}
	h := cr.buf[:24]
	if _, err := io.ReadFull(cr.r, h); err != nil {
		return nil, fmt.Errorf("%w: pcap file header: %w", ErrCorrupt, err)
	}
	if major := cr.order.Uint16(h[4:]); major != 2 {
		return nil, fmt.Errorf("%w: pcap version %d", ErrFormat, major)
	}
	// The link type's upper bits may carry the FCS length (pcap format,
	// LinkType field); the type is the low 16 bits.
	cr.link = LinkType(cr.order.Uint32(h[20:]) & 0xffff)
	return cr, nil
}

// Next returns the next packet; io.EOF after the last one.
func (cr *Reader) Next() (Packet, error) {
	if cr.ng {
		return cr.nextBlock()
	}
	h := cr.buf[:16]
	if _, err := io.ReadFull(cr.r, h); err != nil {
		if err == io.EOF {
			return Packet{}, io.EOF
		}
		return Packet{}, fmt.Errorf("%w: record header after packet %d: %w", ErrCorrupt, cr.n, err)
	}
	n := cr.order.Uint32(h[8:])
	if n > maxPacket {
		return Packet{}, fmt.Errorf("%w: packet %d: %d captured bytes", ErrCorrupt, cr.n+1, n)
	}
	data, err := readN(cr.r, int(n))
	if err != nil {
		return Packet{}, fmt.Errorf("%w: packet %d: %w", ErrCorrupt, cr.n+1, err)
	}
	cr.n++
	return Packet{Number: cr.n, Link: cr.link, Data: data}, nil
}

// readN reads exactly n bytes, growing the buffer as they arrive rather
// than trusting n up front.
func readN(r io.Reader, n int) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(min(n, 1<<16))
	if _, err := io.CopyN(&b, r, int64(n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b.Bytes(), nil
}

// section reads a pcapng Section Header Block: it sets the byte order of
// the blocks that follow and forgets the previous section's interfaces.
func (cr *Reader) section() error {
	h := cr.buf[:12]
	if _, err := io.ReadFull(cr.r, h); err != nil {
		return fmt.Errorf("%w: section header: %w", ErrCorrupt, err)
	}
	switch {
	case binary.BigEndian.Uint32(h[8:]) == ngBOM:
		cr.order = binary.BigEndian
	case binary.LittleEndian.Uint32(h[8:]) == ngBOM:
		cr.order = binary.LittleEndian
	default:
		return fmt.Errorf("%w: section header: byte-order magic %x", ErrCorrupt, h[8:12])
	}
	n := cr.order.Uint32(h[4:])
	if n < 28 || n%4 != 0 || n > maxBlock {
		return fmt.Errorf("%w: section header: length %d", ErrCorrupt, n)
	}
	body, err := readN(cr.r, int(n)-12)
	if err != nil {
		return fmt.Errorf("%w: section header: %w", ErrCorrupt, err)
	}
	if major := cr.order.Uint16(body); major != 1 {
		return fmt.Errorf("%w: pcapng version %d", ErrFormat, major)
	}
	if t := cr.order.Uint32(body[len(body)-4:]); t != n {
		return fmt.Errorf("%w: section header: trailing length %d, leading %d", ErrCorrupt, t, n)
	}
	cr.ifaces = cr.ifaces[:0]
	return nil
}

// nextBlock reads pcapng blocks up to the next packet.
func (cr *Reader) nextBlock() (Packet, error) {
	for {
		h, err := cr.r.Peek(8)
		if len(h) == 0 && err == io.EOF {
			return Packet{}, io.EOF
		}
		if err != nil {
			return Packet{}, fmt.Errorf("%w: block header after packet %d: %w", ErrCorrupt, cr.n, err)
		}
		if binary.BigEndian.Uint32(h) == ngSHB {
			if err := cr.section(); err != nil {
				return Packet{}, err
			}
			continue
		}
		typ, n := cr.order.Uint32(h), cr.order.Uint32(h[4:])
		if n < 12 || n%4 != 0 || n > maxBlock {
			return Packet{}, fmt.Errorf("%w: block type %d after packet %d: length %d", ErrCorrupt, typ, cr.n, n)
		}
		blk, err := readN(cr.r, int(n))
		if err != nil {
			return Packet{}, fmt.Errorf("%w: block type %d after packet %d: %w", ErrCorrupt, typ, cr.n, err)
		}
		if t := cr.order.Uint32(blk[n-4:]); t != n {
			return Packet{}, fmt.Errorf("%w: block type %d after packet %d: trailing length %d, leading %d", ErrCorrupt, typ, cr.n, t, n)
		}
		body := blk[8 : n-4]
		p, ok, err := cr.block(typ, body)
		if err != nil {
			return Packet{}, fmt.Errorf("%w: block type %d after packet %d: %w", ErrCorrupt, typ, cr.n, err)
		}
		if ok {
			return p, nil
		}
	}
}

// block interprets one pcapng block body; ok is true for a packet.
func (cr *Reader) block(typ uint32, body []byte) (p Packet, ok bool, err error) {
	o := cr.order
	var ifid, caplen uint32
	var data []byte
	switch typ {
	case ngIDB:
		if len(body) < 8 {
			return p, false, errors.New("short interface description")
		}
		cr.ifaces = append(cr.ifaces, iface{link: LinkType(o.Uint16(body)), snaplen: o.Uint32(body[4:])})
		return p, false, nil
	case ngEPB:
		if len(body) < 20 {
			return p, false, errors.New("short enhanced packet block")
		}
		ifid, caplen, data = o.Uint32(body), o.Uint32(body[12:]), body[20:]
	case ngPB:
		if len(body) < 20 {
			return p, false, errors.New("short packet block")
		}
		ifid, caplen, data = uint32(o.Uint16(body)), o.Uint32(body[12:]), body[20:]
	case ngSPB:
		if len(body) < 4 {
			return p, false, errors.New("short simple packet block")
		}
		caplen, data = o.Uint32(body), body[4:]
		if len(cr.ifaces) > 0 && cr.ifaces[0].snaplen > 0 {
			caplen = min(caplen, cr.ifaces[0].snaplen)
		}
		caplen = min(caplen, uint32(len(data)))
	default:
		return p, false, nil // statistics, name resolution, custom blocks...
	}
	if int(ifid) >= len(cr.ifaces) {
		return p, false, fmt.Errorf("packet on interface %d, %d described", ifid, len(cr.ifaces))
	}
	if uint64(caplen) > uint64(len(data)) {
		return p, false, fmt.Errorf("%d captured bytes in a block of %d", caplen, len(data))
	}
	cr.n++
	return Packet{Number: cr.n, Link: cr.ifaces[ifid].link, Data: data[:caplen]}, true, nil
}

// Packets returns how many packets have been read.
func (cr *Reader) Packets() int { return cr.n }
