package wire

import (
	"math/bits"
	"sync"
)

// Pooled buffer size classes: powers of two from 1<<minClassShift to
// 1<<maxClassShift bytes.
const (
	minClassShift = 8  // 256 B
	maxClassShift = 16 // 64 KiB
	numClasses    = maxClassShift - minClassShift + 1
)

// bufPool holds free buffers, one sync.Pool per size class. Entries are
// *[]byte whose capacity is exactly the class size; the boxes pool recycles
// the *[]byte holders so that neither GetBuf nor PutBuf allocates once warm.
// These pools are the package's only shared state; they are safe for
// concurrent use.
type bufPool struct {
	classes [numClasses]sync.Pool
	boxes   sync.Pool
}

var frames bufPool

// classOf returns the size class index for a buffer of n bytes, or -1 when n
// is larger than the largest class.
func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	if n > 1<<maxClassShift {
		return -1
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// GetBuf returns a buffer with len n and cap >= n. Buffers of up to 64 KiB
// come from a pool of power-of-two size classes (at least 256 B); larger
// ones are allocated directly. The contents are unspecified. It panics if
// n < 0.
func GetBuf(n int) []byte {
	if n < 0 {
		panic("wire: negative buffer size")
	}
	c := classOf(n)
	if c < 0 {
		return make([]byte, n)
	}
	if v := frames.classes[c].Get(); v != nil {
		box := v.(*[]byte)
		b := *box
		*box = nil
		frames.boxes.Put(box)
		return b[:n]
	}
	return make([]byte, n, 1<<(c+minClassShift))
}

// PutBuf returns b's backing array to the pool. Any slice may be passed:
// slices whose capacity is not exactly a size class are ignored. The caller
// must not use b, or any slice sharing its backing array, afterwards.
func PutBuf(b []byte) {
	n := cap(b)
	if n < 1<<minClassShift || n > 1<<maxClassShift || n&(n-1) != 0 {
		return
	}
	box, _ := frames.boxes.Get().(*[]byte)
	if box == nil {
		box = new([]byte)
	}
	*box = b[:0]
	frames.classes[classOf(n)].Put(box)
}
