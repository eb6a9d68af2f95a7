package wire

import "errors"

// Sentinel errors. Functions return them wrapped with detail; test with errors.Is.
var (
	// ErrShortHeader reports fewer than HeaderLen bytes where a header was expected.
	ErrShortHeader = errors.New("wire: short header")
	// ErrVersion reports a header whose version is not Version.
	ErrVersion = errors.New("wire: unsupported version")
	// ErrLength reports a message length below HeaderLen or not a multiple of 4.
	ErrLength = errors.New("wire: bad message length")
	// ErrTooLarge reports a message length above the configured limit.
	ErrTooLarge = errors.New("wire: message exceeds size limit")
	// ErrAVPLength reports an AVP whose header or length is inconsistent or
	// runs past the end of the enclosing data.
	ErrAVPLength = errors.New("wire: bad AVP length")
)
