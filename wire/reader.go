package wire

import (
	"bufio"
	"errors"
	"io"
)

const (
	// readBufSize is the size of the Reader's internal buffer.
	readBufSize = 64 << 10
	// maxEmptyReads is how many (0, nil) reads in a row Next tolerates.
	maxEmptyReads = 100
)

// Reader frames Diameter messages from a byte stream such as a net.Conn. It
// buffers internally. A Reader is not safe for concurrent use.
type Reader struct {
	br     *bufio.Reader
	maxLen int
	hdr    [HeaderLen]byte
	hdrOK  bool  // hdr holds the header of the frame being read
	pend   Msg   // frame being read, when a read error interrupted it
	got    int   // bytes of pend already read
	err    error // sticky error that ends the stream
}

// NewReader returns a Reader of r that rejects messages longer than maxLen
// bytes (DefaultMaxLen if maxLen <= 0).
func NewReader(r io.Reader, maxLen int) *Reader {
	return NewReaderSize(r, maxLen, readBufSize)
}

// NewReaderSize is NewReader with a read buffer of bufSize bytes (at least
// HeaderLen). A small buffer keeps idle connections cheap; a message larger
// than the buffer is read straight into its frame.
func NewReaderSize(r io.Reader, maxLen, bufSize int) *Reader {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	return &Reader{br: bufio.NewReaderSize(r, max(bufSize, HeaderLen)), maxLen: maxLen}
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
		h, err := r.br.Peek(HeaderLen)
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(h) == 0 {
					r.err = io.EOF
				} else {
					r.err = io.ErrUnexpectedEOF
				}
				return nil, r.err
			}
			return nil, err
		}
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
		k, err := r.br.Read(r.pend[r.got:])
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
	n := r.br.Buffered()
	if n < HeaderLen {
		return false
	}
	h, err := r.br.Peek(HeaderLen)
	if err != nil {
		return false
	}
	return n >= uint24(h[1:4])
}
