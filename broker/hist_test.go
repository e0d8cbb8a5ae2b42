package broker

import (
	"testing"
	"time"
)

func TestLatencyHistBuckets(t *testing.T) {
	var h latencyHist
	for _, d := range []time.Duration{0, time.Microsecond, 16384, 16385, 32768, 32769, time.Millisecond, time.Hour} {
		h.observe(int64(d))
	}
	s := h.snapshot()
	if s.Count != 8 {
		t.Fatalf("count %d, want 8", s.Count)
	}
	want := map[int]uint64{0: 3, 1: 2, 2: 1, 6: 1, histBuckets: 1}
	for i, c := range s.Counts {
		if c != want[i] {
			t.Errorf("bucket %d (le %g s): %d, want %d", i, bound(s, i), c, want[i])
		}
	}
	// Every observation lies within its bucket's bounds.
	for _, d := range []int64{1, 16384, 16385, 1 << 30, 33 << 30} {
		var one latencyHist
		one.observe(d)
		sn := one.snapshot()
		for i, c := range sn.Counts {
			if c == 0 {
				continue
			}
			sec := float64(d) / 1e9
			if i < histBuckets && sec > sn.Bounds[i] || i > 0 && sec <= sn.Bounds[i-1] {
				t.Errorf("%d ns in bucket %d, bounds (%g, %g]", d, i, bound(sn, i-1), bound(sn, i))
			}
		}
	}
	if s.Sum < 3600 {
		t.Errorf("sum %g s", s.Sum)
	}
}

func bound(s Histogram, i int) float64 {
	if i < 0 {
		return 0
	}
	if i >= len(s.Bounds) {
		return -1
	}
	return s.Bounds[i]
}
