package topic

import (
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

// TestPmapRandom checks pmap against a Go map under random puts and
// deletes, with a full hash and with hashes crafted to share long prefixes
// and to collide completely, and checks that old versions never change.
func TestPmapRandom(t *testing.T) {
	seed := maphash.MakeSeed()
	hashes := map[string]func(int) uint64{
		"maphash": func(k int) uint64 { return maphash.Comparable(seed, k) },
		// Only the top bits differ: every pair splits down to the last level.
		"deep": func(k int) uint64 { return uint64(k%16) << 60 },
		// Many keys share each full hash: collision chains.
		"collide": func(k int) uint64 { return uint64(k % 7) },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var m pmap[int, int]
			model := map[int]int{}
			for step := range 20000 {
				k := rng.IntN(300)
				before, beforeModel := m, clone(model)
				if rng.IntN(3) == 0 {
					var found bool
					m, found = m.delete(hash(k), k)
					_, want := model[k]
					delete(model, k)
					if found != want {
						t.Fatalf("step %d: delete(%d) found=%v, want %v", step, k, found, want)
					}
				} else {
					var replaced bool
					m, replaced = m.put(hash(k), k, step)
					_, want := model[k]
					model[k] = step
					if replaced != want {
						t.Fatalf("step %d: put(%d) replaced=%v, want %v", step, k, replaced, want)
					}
				}
				if step%97 == 0 {
					checkPmap(t, before, beforeModel, hash)
					checkPmap(t, m, model, hash)
				}
			}
			for k := range model {
				m, _ = m.delete(hash(k), k)
			}
			if m.root != nil || m.Len() != 0 {
				t.Fatalf("emptied map has root %v, len %d", m.root, m.Len())
			}
		})
	}
}

func clone(m map[int]int) map[int]int {
	c := make(map[int]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func checkPmap(t *testing.T, m pmap[int, int], model map[int]int, hash func(int) uint64) {
	t.Helper()
	if m.Len() != len(model) {
		t.Fatalf("Len = %d, want %d", m.Len(), len(model))
	}
	for k := range 300 {
		got, ok := m.get(hash(k), k)
		want, wantOK := model[k]
		if ok != wantOK || got != want {
			t.Fatalf("get(%d) = %d, %v; want %d, %v", k, got, ok, want, wantOK)
		}
	}
	seen := map[int]int{}
	it := m.iter()
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		if _, dup := seen[k]; dup {
			t.Fatalf("iter yields %d twice", k)
		}
		seen[k] = v
	}
	if len(seen) != len(model) {
		t.Fatalf("iter yields %d entries, want %d", len(seen), len(model))
	}
	for k, v := range model {
		if seen[k] != v {
			t.Fatalf("iter yields %d=%d, want %d", k, seen[k], v)
		}
	}
	if vals := m.root.appendValues(nil); len(vals) != len(model) {
		t.Fatalf("appendValues yields %d values, want %d", len(vals), len(model))
	}
}

func TestPmapIterAllocs(t *testing.T) {
	seed := maphash.MakeSeed()
	var m pmap[int, int]
	for k := range 1000 {
		m, _ = m.put(maphash.Comparable(seed, k), k, k)
	}
	dst := make([]int, 0, 1000)
	n := testing.AllocsPerRun(10, func() {
		sum := 0
		it := m.iter()
		for _, v, ok := it.next(); ok; _, v, ok = it.next() {
			sum += v
		}
		dst = m.root.appendValues(dst[:0])
		if sum != 999*1000/2 || len(dst) != 1000 {
			t.Fatal("wrong sum")
		}
	})
	if n != 0 {
		t.Errorf("iteration allocates %v times", n)
	}
}
