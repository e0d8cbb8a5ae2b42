package bench

import (
	"math"
	"testing"
	"time"
)

func TestBucketsCoverValues(t *testing.T) {
	// Every value falls in a bucket whose middle is within half a bucket
	// width (1/32 of the value) of it, and buckets never go backwards.
	prev := -1
	for _, ns := range []uint64{0, 1, 15, 16, 17, 31, 32, 100, 1000, 1 << 20, 123456789, 1 << 40, math.MaxUint64 >> 1} {
		b := bucketOf(ns)
		if b < prev {
			t.Errorf("bucketOf(%d) = %d, below the previous %d", ns, b, prev)
		}
		prev = b
		mid := bucketMid(b)
		if diff := math.Abs(float64(mid) - float64(ns)); diff > float64(ns)/32+1 {
			t.Errorf("bucketMid(bucketOf(%d)) = %d, off by %.0f", ns, mid, diff)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var h histogram
	if got := h.percentile(0.5); got != 0 {
		t.Fatalf("empty histogram: p50 = %v, want 0", got)
	}
	// 1..1000 µs, once each.
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.50, 500 * time.Microsecond},
		{0.90, 900 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{0.999, 999 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	} {
		got := h.percentile(tc.q)
		if rel := math.Abs(float64(got-tc.want)) / float64(tc.want); rel > 0.035 {
			t.Errorf("p%v = %v, want %v within 3.5%%", tc.q*100, got, tc.want)
		}
	}
	s := h.summary()
	if s.Count != 1000 || s.Max != time.Millisecond {
		t.Errorf("summary count %d max %v, want 1000 and 1ms", s.Count, s.Max)
	}
	if !(s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
		t.Errorf("percentiles not ordered: %+v", s)
	}
}

func TestPercentileNeverAboveMax(t *testing.T) {
	var h histogram
	h.record(1000) // the bucket's middle is above 1000 ns
	if got := h.percentile(0.99); got != 1000 {
		t.Errorf("p99 of one 1000ns value = %v, want 1µs", got)
	}
}

func TestMergeAndNegative(t *testing.T) {
	var a, b histogram
	a.record(-time.Second) // recorded as 0
	b.record(time.Second)
	b.record(time.Second)
	a.merge(&b)
	if a.total != 3 || time.Duration(a.max) != time.Second {
		t.Fatalf("merged total %d max %v", a.total, time.Duration(a.max))
	}
	if got := a.percentile(0); got != 0 {
		t.Errorf("p0 = %v, want 0", got)
	}
	if got := a.percentile(0.5); math.Abs(float64(got-time.Second)) > float64(time.Second)/32 {
		t.Errorf("p50 = %v, want about 1s", got)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.record(time.Duration(i))
	}
}
