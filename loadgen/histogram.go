package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram bucket layout (log-linear, in the manner of HdrHistogram):
// values below 2*histSub nanoseconds each have a bucket of their own; above,
// every power of two is split into histSub equal buckets. A bucket spans at
// most 1/histSub = 0.78% of its lower bound, and a percentile is reported as
// the middle of its bucket, so it is within 0.4% of the exact value.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	// histMaxBits bounds the values tracked: up to 2^36-1 ns (68.7 s);
	// larger values are counted as that.
	histMaxBits  = 36
	histMaxValue = 1<<histMaxBits - 1
	histBuckets  = (histMaxBits-histSubBits)*histSub + histSub
)

// Histogram records latencies with a bounded relative error (under 1%)
// from 1 ns to 68 s in a fixed 30 KiB array, without storing samples.
//
// Record may be called by one goroutine while others read: every counter
// is accessed atomically, so the progress report can take a consistent
// enough snapshot without a lock. The zero value is ready to use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64
	max    uint64
	min    uint64 // value+1 so that zero means "none"
}

// bucketOf returns the bucket index of a value in nanoseconds.
func bucketOf(v uint64) int {
	if v > histMaxValue {
		v = histMaxValue
	}
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return shift*histSub + int(v>>shift)
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*histSub {
		return uint64(i), 1
	}
	shift := i/histSub - 1
	top := uint64(i - shift*histSub)
	return top << shift, 1 << shift
}

// Record adds one latency; negative values count as zero. Only one
// goroutine may call Record at a time on a given Histogram.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	if v > histMaxValue {
		v = histMaxValue
	}
	atomic.AddUint64(&h.counts[bucketOf(v)], 1)
	atomic.AddUint64(&h.n, 1)
	atomic.AddUint64(&h.sum, v)
	if v > atomic.LoadUint64(&h.max) {
		atomic.StoreUint64(&h.max, v)
	}
	if m := atomic.LoadUint64(&h.min); m == 0 || v+1 < m {
		atomic.StoreUint64(&h.min, v+1)
	}
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return atomic.LoadUint64(&h.n) }

// Max returns the largest value recorded (exact, not bucketed).
func (h *Histogram) Max() time.Duration { return time.Duration(atomic.LoadUint64(&h.max)) }

// Min returns the smallest value recorded (exact).
func (h *Histogram) Min() time.Duration {
	m := atomic.LoadUint64(&h.min)
	if m == 0 {
		return 0
	}
	return time.Duration(m - 1)
}

// Mean returns the average of the values recorded.
func (h *Histogram) Mean() time.Duration {
	n := atomic.LoadUint64(&h.n)
	if n == 0 {
		return 0
	}
	return time.Duration(atomic.LoadUint64(&h.sum) / n)
}

// Quantile returns the value below or at which a fraction q (0..1) of the
// recorded values lie: the value of rank ceil(q*n), reported as the middle
// of its bucket, clamped to the exact minimum and maximum. It returns 0 for
// an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := atomic.LoadUint64(&h.n)
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += atomic.LoadUint64(&h.counts[i])
		if seen >= rank {
			lo, w := bucketRange(i)
			v := lo + (w-1)/2
			v = min(v, atomic.LoadUint64(&h.max))
			v = max(v, uint64(h.Min()))
			return time.Duration(v)
		}
	}
	return h.Max()
}

// Merge adds the values recorded in o to h. It must not run concurrently
// with Record on h; o may be recording.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := atomic.LoadUint64(&o.counts[i]); c != 0 {
			atomic.AddUint64(&h.counts[i], c)
		}
	}
	atomic.AddUint64(&h.n, atomic.LoadUint64(&o.n))
	atomic.AddUint64(&h.sum, atomic.LoadUint64(&o.sum))
	if m := atomic.LoadUint64(&o.max); m > atomic.LoadUint64(&h.max) {
		atomic.StoreUint64(&h.max, m)
	}
	if m := atomic.LoadUint64(&o.min); m != 0 {
		if hm := atomic.LoadUint64(&h.min); hm == 0 || m < hm {
			atomic.StoreUint64(&h.min, m)
		}
	}
}

// Reset forgets every value. It must not run concurrently with Record.
func (h *Histogram) Reset() { *h = Histogram{} }

// sub sets h to cur minus prev, for the values recorded between two
// snapshots; min and max are not known for the interval and are taken
// from the buckets.
func (h *Histogram) sub(cur, prev *Histogram) {
	h.Reset()
	lowest, highest := -1, -1
	var n uint64
	for i := range h.counts {
		c := cur.counts[i] - prev.counts[i]
		h.counts[i] = c
		n += c
		if c != 0 {
			if lowest < 0 {
				lowest = i
			}
			highest = i
		}
	}
	h.n = n
	h.sum = cur.sum - prev.sum
	if highest >= 0 {
		lo, w := bucketRange(highest)
		h.max = lo + w - 1
		lo, _ = bucketRange(lowest)
		h.min = lo + 1
	}
}
