package wire

import (
	"errors"
	"io"
	"net"
	"syscall"
)

const (
	// readBufSize is the size of the Reader's buffer (NewReader).
	readBufSize = 64 << 10
	// maxEmptyReads is how many (0, nil) reads in a row Next tolerates.
	maxEmptyReads = 100
)

// Reader frames Diameter messages from a byte stream such as a net.Conn.
// Its read buffer comes from the package's pool and is held only while it
// holds bytes not yet returned: between bursts an idle Reader holds none.
// On a socket (*net.TCPConn, *net.UnixConn)
// the buffer is taken only once the socket is readable, so a Reader blocked
// waiting for its peer holds no buffer at all; on another source (a TLS
// connection, a pipe) an idle Reader reads the next header into a small
// array of its own and takes the buffer once bytes arrive. A Reader is not
// safe for concurrent use.
type Reader struct {
	src    io.Reader
	raw    rawReader // nil unless src is a socket
	size   int       // capacity of buf when held
	buf    []byte    // pooled; nil when nothing is buffered
	r, w   int       // buf[r:w] is buffered and not yet returned
	maxLen int
	hdr    [HeaderLen]byte
	idle   [HeaderLen]byte // what an idle Reader of a non-socket reads into
	hdrOK  bool            // hdr holds the header of the frame being read
	pend   Msg             // frame being read, when a read error interrupted it
	got    int             // bytes of pend already read
	err    error           // sticky error that ends the stream
}

// rawReader reads a socket without a buffer until it is readable
// (reader_unix.go).
type rawReader interface {
	// read reads into dst, or, when dst is nil, into the Reader's buffer
	// taken from the pool once data is there.
	read(r *Reader, dst []byte) (int, error)
}

// NewReader returns a Reader of r that rejects messages longer than maxLen
// bytes (DefaultMaxLen if maxLen <= 0).
func NewReader(r io.Reader, maxLen int) *Reader {
	return NewReaderSize(r, maxLen, readBufSize)
}

// NewReaderSize is NewReader with a read buffer of bufSize bytes (at least
// HeaderLen), taken from the pool only while it holds bytes; a message
// larger than the buffer is read straight into its frame.
func NewReaderSize(r io.Reader, maxLen, bufSize int) *Reader {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	rd := &Reader{src: r, maxLen: maxLen, size: max(bufSize, HeaderLen)}
	switch sc := r.(type) {
	case *net.TCPConn, *net.UnixConn:
		// Only these: a wrapper that embeds one may buffer bytes of its
		// own, which reading the socket underneath would skip.
		rd.raw = newRawReader(sc.(syscall.Conn))
	}
	return rd
}

// Buffering reports whether the Reader holds a read buffer now.
func (r *Reader) Buffering() bool { return r.buf != nil }

// take gets the read buffer from the pool.
func (r *Reader) take() {
	r.buf = GetBuf(r.size)
	r.r, r.w = 0, 0
}

// release hands the buffer back to the pool once everything in it has
// been returned.
func (r *Reader) release() {
	if r.buf != nil && r.r == r.w {
		PutBuf(r.buf)
		r.buf = nil
		r.r, r.w = 0, 0
	}
}

// fill reads at least one more byte into the buffer, or fails.
func (r *Reader) fill() error {
	if r.buf != nil && r.r > 0 {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	for empty := 0; ; {
		var k int
		var err error
		switch {
		case r.raw != nil:
			k, err = r.raw.read(r, nil)
		case r.buf == nil:
			// Idle: wait for the next frame without a buffer.
			k, err = r.src.Read(r.idle[:])
			if k > 0 {
				r.take()
				r.w = copy(r.buf, r.idle[:k])
			}
		default:
			k, err = r.src.Read(r.buf[r.w:])
			r.w += k
		}
		if k > 0 {
			return nil
		}
		if err != nil {
			r.release()
			return err
		}
		if empty++; empty == maxEmptyReads {
			return io.ErrNoProgress
		}
	}
}

// readDirect reads into p, bypassing the buffer (which is empty).
func (r *Reader) readDirect(p []byte) (int, error) {
	if r.raw != nil {
		return r.raw.read(r, p)
	}
	return r.src.Read(p)
}

// Next reads the next whole message. The returned Msg is a new pool buffer
// (see GetBuf) owned by the caller, who may hand it back with PutBuf; the
// steady state does not allocate.
//
// Header errors (wrapping ErrVersion, ErrLength or ErrTooLarge) are fatal
// for the stream: Next keeps returning them and the caller should close the
// connection, possibly after answering with LastHeader. Nothing is allocated
// according to a length field before it is checked. io.EOF at a frame
// boundary is returned as io.EOF and a frame cut short by EOF as
// io.ErrUnexpectedEOF. Other errors from the underlying reader are returned
// as they are; if they are transient (a read deadline, say) Next may be
// called again and resumes the frame where it stopped.
func (r *Reader) Next() (Msg, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.pend == nil {
		r.hdrOK = false
		for r.w-r.r < HeaderLen {
			if err := r.fill(); err != nil {
				if errors.Is(err, io.EOF) {
					if r.w == r.r {
						r.err = io.EOF
					} else {
						r.err = io.ErrUnexpectedEOF
					}
					return nil, r.err
				}
				return nil, err
			}
		}
		h := r.buf[r.r : r.r+HeaderLen]
		copy(r.hdr[:], h)
		r.hdrOK = true
		n, err := CheckHeader(h, r.maxLen)
		if err != nil {
			r.err = err
			return nil, err
		}
		r.pend = Msg(GetBuf(n))
		r.got = 0
	}
	for empty := 0; r.got < len(r.pend); {
		var k int
		var err error
		switch {
		case r.w > r.r:
			k = copy(r.pend[r.got:], r.buf[r.r:r.w])
			r.r += k
			r.release()
		case len(r.pend)-r.got >= r.size:
			k, err = r.readDirect(r.pend[r.got:])
		default:
			err = r.fill()
			if err == nil {
				continue
			}
		}
		r.got += k
		if k == 0 && err == nil {
			if empty++; empty == maxEmptyReads {
				err = io.ErrNoProgress
			}
		}
		if err != nil && r.got < len(r.pend) {
			if errors.Is(err, io.EOF) {
				PutBuf(r.pend)
				r.pend = nil
				r.err = io.ErrUnexpectedEOF
				return nil, r.err
			}
			return nil, err
		}
	}
	m := r.pend
	r.pend = nil
	return m, nil
}

// LastHeader returns the header bytes of the frame the last call to Next
// worked on, typically to answer a frame Next rejected; nil if fewer than
// HeaderLen bytes were seen. The slice is valid until the next call to Next.
func (r *Reader) LastHeader() []byte {
	if !r.hdrOK {
		return nil
	}
	return r.hdr[:]
}

// Ready reports whether a whole frame is already buffered, so that the next
// call to Next will not block on the underlying reader.
func (r *Reader) Ready() bool {
	if r.err != nil || r.pend != nil {
		return false
	}
	n := r.w - r.r
	if n < HeaderLen {
		return false
	}
	return n >= uint24(r.buf[r.r+1:r.r+4])
}
