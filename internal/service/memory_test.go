package service

import (
	"runtime"
	"testing"
	"time"
)

const mb = 1 << 20

// The releaser releases once the broker is quiet after allocating enough,
// not while it allocates, not after allocating a little, and for a big
// heap only after allocating an eighth of it.
func TestMemoryReleaserDue(t *testing.T) {
	m := &memoryReleaser{quiet: 1 * mb, least: 4 * mb}
	for _, st := range []struct {
		name string
		s    memSample
		due  bool
	}{
		{"start", memSample{allocs: 0, live: 10 * mb}, false},
		{"a burst", memSample{allocs: 40 * mb, live: 20 * mb}, false},
		{"still busy", memSample{allocs: 42 * mb, live: 20 * mb}, false},
		{"quiet after it", memSample{allocs: 42*mb + 100, live: 20 * mb}, true},
	} {
		if got := m.due(st.s); got != st.due {
			t.Fatalf("%s: due %v, want %v", st.name, got, st.due)
		}
	}
	s := memSample{allocs: 42*mb + 200, live: 20 * mb}
	m.released(s)
	if m.due(s) {
		t.Fatal("due again right after a release")
	}
	// A trickle below the quiet rate: due once it adds up to least.
	for i := 1; ; i++ {
		s.allocs += 900 << 10
		due := m.due(s)
		if want := m.sinceRelease >= 4*mb; due != want {
			t.Fatalf("trickle %d (%d KB since the release): due %v, want %v", i, m.sinceRelease>>10, due, want)
		}
		if due {
			break
		}
	}
	m.released(s)
	m.sinceRelease = 99 * mb
	big := memSample{allocs: s.allocs + 100, live: 800 * mb}
	if m.due(big) {
		t.Fatal("due after 99 MB allocated with an 800 MB heap")
	}
	m.sinceRelease = 100 * mb
	if !m.due(big) {
		t.Fatal("not due after 100 MB allocated with an 800 MB heap")
	}
}

// The running releaser gives back the memory a burst left behind: the
// heap's resident memory comes back to about what it was before.
func TestMemoryReleaserReleases(t *testing.T) {
	resident := func() int64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapSys - ms.HeapReleased)
	}
	runtime.GC()
	before := resident()
	garbage := make([][]byte, 0, 64<<10)
	for range 64 << 10 {
		garbage = append(garbage, make([]byte, 512)) // 32 MB in small objects
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	after := resident()
	stop := startMemoryReleaser()
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for resident() > before+8*mb {
		if time.Now().After(deadline) {
			t.Fatalf("heap resident %d MB before a 32 MB burst, %d MB after it, still %d MB", before/mb, after/mb, resident()/mb)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
