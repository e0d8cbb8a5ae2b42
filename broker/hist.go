package broker

import (
	"math/bits"
	"sync/atomic"
)

// histBuckets is the number of a latency histogram's finite buckets: their
// upper bounds are 16 µs, 32 µs, ... doubling up to about 33 s.
const histBuckets = 22

// histBase is the upper bound of the first bucket, in nanoseconds.
const histBase = 16 << 10 // 16384 ns

// latencyHist counts durations in power-of-two buckets with atomics only,
// so the hot path never takes a lock to record one.
type latencyHist struct {
	counts [histBuckets + 1]atomic.Uint64 // the last bucket is +Inf
	sum    atomic.Int64                   // nanoseconds
}

func (h *latencyHist) observe(ns int64) {
	if ns < 0 {
		ns = 0
	}
	i := 0
	if ns > histBase {
		// bucket i holds (histBase<<(i-1), histBase<<i]
		i = min(bits.Len64(uint64(ns-1)/histBase), histBuckets)
	}
	h.counts[i].Add(1)
	h.sum.Add(ns)
}

// Histogram is a snapshot of a latency histogram. Bounds are the buckets'
// upper bounds in seconds; Counts[i] is the number of observations in
// bucket i alone (not cumulative); the last count, one past Bounds, is for
// the observations above the last bound.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64 // seconds
}

func (h *latencyHist) snapshot() Histogram {
	out := Histogram{Bounds: make([]float64, histBuckets), Counts: make([]uint64, histBuckets+1)}
	for i := range out.Counts {
		if i < histBuckets {
			out.Bounds[i] = float64(int64(histBase)<<i) / 1e9
		}
		out.Counts[i] = h.counts[i].Load()
		out.Count += out.Counts[i]
	}
	out.Sum = float64(h.sum.Load()) / 1e9
	return out
}
