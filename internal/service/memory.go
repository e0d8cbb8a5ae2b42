package service

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go runtime keeps the heap memory it freed for reuse: it returns it
// to the operating system only above about twice the live heap, and it
// collects garbage only when the heap grows. After a burst (a fleet
// reconnecting, a backlog delivered) the broker may fall quiet with the
// burst's garbage and free pages still resident, which on a broker of idle
// connections is more memory than the connections themselves hold. The
// memory releaser watches the allocation rate, and once the broker is
// quiet after allocating enough for a release to be worth it, collects the
// garbage and returns the free memory (debug.FreeOSMemory), once per
// burst: while the broker is busy it does nothing, so it costs no
// throughput.
//
// What counts as enough is what was allocated since the last release, not
// what the runtime counts as free or dead: until it collects, the runtime
// takes garbage that was alive at its last collection for live.
type memoryReleaser struct {
	// quiet is the most bytes allocated between two samples for the broker
	// to count as quiet.
	quiet uint64
	// least is the least allocated since the last release (and at least
	// an eighth of the live heap) for another to be worth it.
	least uint64

	last         memSample // the previous sample
	sinceRelease uint64    // bytes allocated since the last release
}

// memSample is what the releaser reads of the runtime, in bytes.
type memSample struct {
	allocs uint64 // allocated since the start, cumulative
	live   uint64 // live heap as of the last collection
}

const (
	releaseEvery = 500 * time.Millisecond
	releaseQuiet = 64 << 10 // per releaseEvery: 128 KB/s
	releaseLeast = 2 << 20
)

// startMemoryReleaser samples the runtime every releaseEvery until stop is
// called.
func startMemoryReleaser() (stop func()) {
	m := &memoryReleaser{quiet: releaseQuiet, least: releaseLeast}
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	read := func() memSample {
		metrics.Read(samples)
		v := func(i int) uint64 {
			if samples[i].Value.Kind() != metrics.KindUint64 {
				return 0 // not in this runtime: the releaser sees nothing to do
			}
			return samples[i].Value.Uint64()
		}
		return memSample{allocs: v(0), live: v(1)}
	}
	m.last = read()
	m.sinceRelease = m.last.allocs // what the start allocated counts
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(releaseEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if m.due(read()) {
					debug.FreeOSMemory()
					m.released(read())
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// due takes a sample and reports whether memory should be released now:
// the broker allocated less than quiet since the last sample, and since
// the last release at least least and an eighth of the live heap.
func (m *memoryReleaser) due(s memSample) bool {
	allocated := sub(s.allocs, m.last.allocs)
	m.last = s
	m.sinceRelease += allocated
	return allocated < m.quiet && m.sinceRelease >= max(m.least, s.live/8)
}

// released notes a release, s being the sample taken after it.
func (m *memoryReleaser) released(s memSample) {
	m.last = s
	m.sinceRelease = 0
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}
