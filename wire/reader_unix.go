//go:build unix

package wire

import (
	"io"
	"os"
	"syscall"
)

// sockReader reads a socket through its syscall.RawConn: the read buffer
// is taken from the pool inside the read callback, once the socket is
// readable, and given back when the socket turns out to have nothing, so
// that a Reader parked waiting for its peer holds none. Deadlines and Close
// act on the wait as on an ordinary Read.
type sockReader struct {
	rc  syscall.RawConn
	rd  *Reader
	dst []byte // read target of a direct read; nil: the Reader's buffer
	n   int
	err error
	fn  func(fd uintptr) bool // sockReader.try, bound once
}

func newRawReader(sc syscall.Conn) rawReader {
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &sockReader{rc: rc}
	s.fn = s.try
	return s
}

// try is the RawConn callback: one read(2); false asks the runtime to wait
// until the socket is readable and call again.
func (s *sockReader) try(fd uintptr) bool {
	r := s.rd
	p := s.dst
	held := r.buf != nil
	if p == nil {
		if !held {
			r.take()
		}
		p = r.buf[r.w:]
	}
	for {
		n, err := syscall.Read(int(fd), p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if s.dst == nil && !held {
				r.release() // nothing came: wait without the buffer
			}
			return false
		case err != nil:
			s.n, s.err = 0, os.NewSyscallError("read", err)
		case n == 0:
			s.n, s.err = 0, io.EOF
		default:
			s.n, s.err = n, nil
		}
		return true
	}
}

func (s *sockReader) read(r *Reader, dst []byte) (int, error) {
	s.rd, s.dst, s.n, s.err = r, dst, 0, nil
	err := s.rc.Read(s.fn)
	s.rd, s.dst = nil, nil
	if err == nil {
		err = s.err
	}
	if dst == nil && s.n > 0 {
		r.w += s.n
	}
	return s.n, err
}
