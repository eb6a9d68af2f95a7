//go:build !unix

package wire

import "syscall"

// newRawReader is nil where sockets are not read through read(2): the
// Reader then reads its source as any io.Reader.
func newRawReader(syscall.Conn) rawReader { return nil }
