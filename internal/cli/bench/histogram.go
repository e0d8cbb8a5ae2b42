package bench

import (
	"math/bits"
	"time"
)

// histogram records latencies in log-linear buckets: 16 sub-buckets per
// power of two, so a reported percentile is within about 3% of the true
// value (half a bucket). Recording is a few instructions and never
// allocates; each subscriber owns one and they are merged at the end, so
// the hot path shares no memory between goroutines.
type histogram struct {
	counts [64 * subBuckets]uint64
	total  uint64
	max    uint64
}

const (
	subBits    = 4
	subBuckets = 1 << subBits
)

func bucketOf(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	exp := bits.Len64(ns) - 1 // position of the top bit, >= subBits
	sub := (ns >> (exp - subBits)) & (subBuckets - 1)
	return (exp-subBits+1)*subBuckets + int(sub)
}

// bucketMid is the middle of the range of values that fall in bucket i.
func bucketMid(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets + subBits - 1
	sub := uint64(i % subBuckets)
	low := (subBuckets + sub) << (exp - subBits)
	width := uint64(1) << (exp - subBits)
	return low + width/2
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0 // clock steps cannot happen on the monotonic clock; be safe
	}
	ns := uint64(d)
	h.counts[bucketOf(ns)]++
	h.total++
	h.max = max(h.max, ns)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// percentile returns the latency below which a fraction q (0..1) of the
// recorded values fall, or 0 when nothing was recorded. It never reports
// more than the largest value recorded.
func (h *histogram) percentile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if rank >= h.total {
		rank = h.total - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return time.Duration(min(bucketMid(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// Latency is a latency distribution summary.
type Latency struct {
	Count uint64
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	P999  time.Duration
	Max   time.Duration
}

func (h *histogram) summary() Latency {
	return Latency{
		Count: h.total,
		P50:   h.percentile(0.50),
		P90:   h.percentile(0.90),
		P99:   h.percentile(0.99),
		P999:  h.percentile(0.999),
		Max:   time.Duration(h.max),
	}
}
