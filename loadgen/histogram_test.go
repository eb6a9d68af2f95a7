package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketLayout(t *testing.T) {
	// Buckets tile the value range without gaps or overlaps.
	next := uint64(0)
	for i := range histBuckets {
		lo, w := bucketRange(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if bucketOf(lo) != i || bucketOf(lo+w-1) != i {
			t.Fatalf("bucket %d [%d, %d] maps to %d and %d", i, lo, lo+w-1, bucketOf(lo), bucketOf(lo+w-1))
		}
		if lo >= 2*histSub && float64(w)/float64(lo) > 1.0/histSub {
			t.Fatalf("bucket %d relative width %g", i, float64(w)/float64(lo))
		}
		next = lo + w
	}
	if next != histMaxValue+1 {
		t.Fatalf("buckets end at %d, want %d", next, uint64(histMaxValue+1))
	}
	if bucketOf(math.MaxUint64) != histBuckets-1 {
		t.Fatal("values beyond the range do not land in the last bucket")
	}
}

// Percentiles of known distributions are within 1% of the exact ones.
func TestHistogramAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() time.Duration{
		// log-uniform from 1 µs to 60 s
		"log-uniform": func() time.Duration {
			return time.Duration(math.Exp(math.Log(1e3) + rng.Float64()*(math.Log(60e9)-math.Log(1e3))))
		},
		"uniform-100us-10ms": func() time.Duration {
			return 100*time.Microsecond + time.Duration(rng.Int64N(int64(10*time.Millisecond)))
		},
		// exponential, mean 200 µs, with a 1% tail at about 50 ms
		"exp-with-tail": func() time.Duration {
			if rng.IntN(100) == 0 {
				return 50*time.Millisecond + time.Duration(rng.Int64N(int64(time.Millisecond)))
			}
			return time.Duration(rng.ExpFloat64() * 200e3)
		},
	}
	for name, gen := range dists {
		var h Histogram
		vals := make([]time.Duration, 200000)
		for i := range vals {
			vals[i] = gen()
			h.Record(vals[i])
		}
		slices.Sort(vals)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
			exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
			got := h.Quantile(q)
			if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.01 {
				t.Errorf("%s: q%g = %v, exact %v (error %.2f%%)", name, q, got, exact, 100*rel)
			}
		}
		if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] || h.Count() != uint64(len(vals)) {
			t.Errorf("%s: max %v min %v count %d", name, h.Max(), h.Min(), h.Count())
		}
		var sum time.Duration
		for _, v := range vals {
			sum += v
		}
		if mean := sum / time.Duration(len(vals)); h.Mean() != mean {
			t.Errorf("%s: mean %v, want %v", name, h.Mean(), mean)
		}
	}
}

func TestHistogramMergeAndInterval(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	all.Merge(&a)
	all.Merge(&b)
	if all.Count() != 1000 || all.Max() != time.Millisecond || all.Min() != time.Microsecond {
		t.Fatalf("merged: count %d max %v min %v", all.Count(), all.Max(), all.Min())
	}
	if p := all.Quantile(0.5); p < 497*time.Microsecond || p > 503*time.Microsecond {
		t.Errorf("merged p50 %v", p)
	}

	// The difference of two snapshots holds what was recorded in between.
	var prev, cur, ival Histogram
	prev.Merge(&all)
	for range 100 {
		all.Record(10 * time.Second)
	}
	cur.Merge(&all)
	ival.sub(&cur, &prev)
	if ival.Count() != 100 {
		t.Fatalf("interval count %d", ival.Count())
	}
	if p := ival.Quantile(0.99); math.Abs(float64(p-10*time.Second)) > 0.01*float64(10*time.Second) {
		t.Errorf("interval p99 %v", p)
	}

	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 || empty.Min() != 0 {
		t.Error("empty histogram reports values")
	}
	empty.Record(-5)
	empty.Record(time.Hour)
	if empty.Min() != 0 || empty.Max() != histMaxValue {
		t.Errorf("clamping: min %v max %v", empty.Min(), empty.Max())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	d := 123 * time.Microsecond
	b.ReportAllocs()
	for b.Loop() {
		h.Record(d)
		d += 7
	}
}
