package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// matchPairs returns the sorted "key filter" pairs of the ordinary matches
// and "group filter" pairs of the shared ones.
func matchPairs[K comparable](tr *Tree[K], name string) (subs, shared []string) {
	var m Matches[K]
	tr.Match(name, &m)
	for _, s := range m.Subs {
		subs = append(subs, fmt.Sprintf("%v %s", s.Key, s.Filter))
	}
	for _, g := range m.Shared {
		shared = append(shared, g.Name()+" "+g.Filter())
	}
	slices.Sort(subs)
	slices.Sort(shared)
	return subs, shared
}

func TestTreeSubscribeMatch(t *testing.T) {
	tr := NewTree[string]()
	for _, s := range []struct{ key, filter string }{
		{"c1", "sport/tennis/player1/#"},
		{"c1", "sport/+/player1"},
		{"c2", "sport/#"},
		{"c3", "#"},
		{"c4", "+/+"},
		{"c5", "$SYS/#"},
		{"c6", "+/monitor"},
		{"c7", "a//b"},
		{"c8", "/+"},
		{"c9", "+"},
	} {
		if tr.Subscribe(s.key, s.filter, Options{QoS: 1}) {
			t.Fatalf("Subscribe(%s, %s) reports existed", s.key, s.filter)
		}
	}
	if tr.Count() != 10 {
		t.Fatalf("Count = %d", tr.Count())
	}
	tests := []struct {
		name string
		want []string
	}{
		{"sport/tennis/player1", []string{"c1 sport/+/player1", "c1 sport/tennis/player1/#", "c2 sport/#", "c3 #"}},
		{"sport", []string{"c2 sport/#", "c3 #", "c9 +"}},
		{"sport/", []string{"c2 sport/#", "c3 #", "c4 +/+"}},
		{"/finance", []string{"c3 #", "c4 +/+", "c8 /+"}},
		{"$SYS/monitor", []string{"c5 $SYS/#"}},
		{"$SYS", []string{"c5 $SYS/#"}},
		{"a/monitor", []string{"c3 #", "c4 +/+", "c6 +/monitor"}},
		{"a//b", []string{"c3 #", "c7 a//b"}},
		{"a/b", []string{"c3 #", "c4 +/+"}},
	}
	for _, tt := range tests {
		got, _ := matchPairs(tr, tt.name)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestTreeReplaceAndOverlap(t *testing.T) {
	tr := NewTree[int]()
	tr.Subscribe(1, "a/+", Options{QoS: 0})
	if !tr.Subscribe(1, "a/+", Options{QoS: 2, SubscriptionID: 7}) {
		t.Fatal("second Subscribe to the same filter does not report existed")
	}
	tr.Subscribe(1, "a/#", Options{QoS: 1})
	if tr.Count() != 2 {
		t.Fatalf("Count = %d, want 2", tr.Count())
	}
	var m Matches[int]
	tr.Match("a/b", &m)
	if len(m.Subs) != 2 {
		t.Fatalf("overlapping filters give %d matches, want 2: %+v", len(m.Subs), m.Subs)
	}
	for _, s := range m.Subs {
		if s.Filter == "a/+" && (s.Options.QoS != 2 || s.Options.SubscriptionID != 7) {
			t.Errorf("options not replaced: %+v", s.Options)
		}
	}
	m.Reset()
	tr.Match("a", &m)
	if len(m.Subs) != 1 || m.Subs[0].Filter != "a/#" {
		t.Errorf("Match(a) = %+v, want only a/#", m.Subs)
	}
}

// nodeCount counts the nodes reachable from the root, the root included.
func nodeCount[K comparable](n *node[K]) int {
	if n == nil {
		return 0
	}
	st := n.state.Load()
	count := 1 + nodeCount(st.plus) + nodeCount(st.hash)
	it := st.literal.iter()
	for _, c, ok := it.next(); ok; _, c, ok = it.next() {
		count += nodeCount(c)
	}
	return count
}

func TestTreeUnsubscribePrunes(t *testing.T) {
	tr := NewTree[int]()
	filters := []string{"a/b/c", "a/b", "a/+/c/#", "#", "+", "/", "a//", "$share/g/a/b/c", "$share/h/x/+/y"}
	for round := range 3 {
		for k := range 5 {
			for _, f := range filters {
				tr.Subscribe(k, f, Options{})
			}
		}
		if tr.Count() != 5*7 || tr.SharedCount() != 5*2 {
			t.Fatalf("round %d: Count = %d, SharedCount = %d", round, tr.Count(), tr.SharedCount())
		}
		if tr.Unsubscribe(9, "a/b") || tr.Unsubscribe(0, "a/b/c/d") || tr.Unsubscribe(0, "$share/zz/a/b/c") {
			t.Fatal("Unsubscribe of an absent subscription reports existed")
		}
		for k := range 5 {
			for _, f := range filters {
				if !tr.Unsubscribe(k, f) {
					t.Fatalf("Unsubscribe(%d, %q) reports absent", k, f)
				}
				if tr.Unsubscribe(k, f) {
					t.Fatalf("second Unsubscribe(%d, %q) reports existed", k, f)
				}
			}
		}
		if tr.Count() != 0 || tr.SharedCount() != 0 {
			t.Fatalf("Count = %d, SharedCount = %d after removing everything", tr.Count(), tr.SharedCount())
		}
		if n := nodeCount(tr.root); n != 1 || !tr.root.state.Load().empty() {
			t.Fatalf("round %d: %d nodes left after removing everything", round, n)
		}
	}
}

func TestTreePrunesOnlyEmptyLevels(t *testing.T) {
	tr := NewTree[int]()
	tr.Subscribe(1, "a/b/c", Options{})
	tr.Subscribe(1, "a", Options{})
	tr.Subscribe(2, "a/b/c/d", Options{})
	tr.Unsubscribe(2, "a/b/c/d")
	if n := nodeCount(tr.root); n != 4 {
		t.Fatalf("%d nodes, want 4 (root, a, b, c)", n)
	}
	tr.Unsubscribe(1, "a/b/c")
	if n := nodeCount(tr.root); n != 2 {
		t.Fatalf("%d nodes, want 2 (root, a)", n)
	}
	if got, _ := matchPairs(tr, "a"); !slices.Equal(got, []string{"1 a"}) {
		t.Fatalf("Match(a) = %q", got)
	}
}

// randomFilter returns a valid filter over a small alphabet, so that
// random filters and names overlap often.
func randomFilter(rng *rand.Rand) string {
	levels := []string{"a", "b", "", "$x", "+", "+", "#"}
	n := 1 + rng.IntN(4)
	var parts []string
	for i := range n {
		l := levels[rng.IntN(len(levels))]
		if l == "#" && i != n-1 {
			l = "+"
		}
		parts = append(parts, l)
	}
	if f := strings.Join(parts, "/"); f != "" {
		return f
	}
	return "a"
}

func randomName(rng *rand.Rand) string {
	levels := []string{"a", "b", "", "$x", "c"}
	n := 1 + rng.IntN(5)
	var parts []string
	for range n {
		parts = append(parts, levels[rng.IntN(len(levels))])
	}
	if name := strings.Join(parts, "/"); name != "" {
		return name
	}
	return "c"
}

// TestTreeRandom compares Tree.Match with a loop over every subscription
// calling Match, through random subscribes and unsubscribes.
func TestTreeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tr := NewTree[int]()
	type sub struct {
		key    int
		filter string // may be "$share/<group>/..."
	}
	model := map[sub]Options{}
	nonEmpty := 0 // matches compared, to show the test compares something
	for step := range 5000 {
		s := sub{key: rng.IntN(10), filter: randomFilter(rng)}
		if rng.IntN(4) == 0 {
			s.filter = fmt.Sprintf("$share/g%d/%s", rng.IntN(2), s.filter)
		}
		if err := ValidateFilter(s.filter); err != nil {
			t.Fatalf("generated invalid filter %q: %v", s.filter, err)
		}
		_, had := model[s]
		if rng.IntN(3) == 0 {
			if got := tr.Unsubscribe(s.key, s.filter); got != had {
				t.Fatalf("Unsubscribe(%v) = %v, want %v", s, got, had)
			}
			delete(model, s)
		} else {
			opts := Options{QoS: byte(rng.IntN(3))}
			if got := tr.Subscribe(s.key, s.filter, opts); got != had {
				t.Fatalf("Subscribe(%v) = %v, want %v", s, got, had)
			}
			model[s] = opts
		}
		if step%10 != 0 {
			continue
		}
		name := randomName(rng)
		var wantSubs, wantShared []string
		sharedSeen := map[string]bool{}
		for s := range model {
			group, inner, isShared := SplitShared(s.filter)
			switch {
			case isShared && Match(inner, name) && !sharedSeen[group+" "+inner]:
				sharedSeen[group+" "+inner] = true
				wantShared = append(wantShared, group+" "+inner)
			case !isShared && Match(s.filter, name):
				wantSubs = append(wantSubs, fmt.Sprintf("%v %s", s.key, s.filter))
			}
		}
		slices.Sort(wantSubs)
		slices.Sort(wantShared)
		nonEmpty += len(wantSubs) + len(wantShared)
		gotSubs, gotShared := matchPairs(tr, name)
		if !slices.Equal(gotSubs, wantSubs) || !slices.Equal(gotShared, wantShared) {
			t.Fatalf("step %d: Match(%q) = %q %q, want %q %q", step, name, gotSubs, gotShared, wantSubs, wantShared)
		}
	}
	if nonEmpty < 1000 {
		t.Fatalf("only %d matches compared", nonEmpty)
	}
	ordinary, shared := 0, 0
	for s := range model {
		if _, _, ok := SplitShared(s.filter); ok {
			shared++
		} else {
			ordinary++
		}
	}
	if tr.Count() != ordinary || tr.SharedCount() != shared {
		t.Fatalf("Count = %d, SharedCount = %d; want %d, %d", tr.Count(), tr.SharedCount(), ordinary, shared)
	}
}

func TestTreeMatchAllocs(t *testing.T) {
	tr := NewTree[int]()
	for k := range 100 {
		tr.Subscribe(k, fmt.Sprintf("dev/%d/+", k), Options{})
		tr.Subscribe(k, "dev/#", Options{})
		tr.Subscribe(k, fmt.Sprintf("$share/g/dev/%d/temp", k%3), Options{})
	}
	var m Matches[int]
	tr.Match("dev/1/temp", &m) // grow m once
	n := testing.AllocsPerRun(100, func() {
		m.Reset()
		tr.Match("dev/1/temp", &m)
	})
	if n != 0 {
		t.Errorf("Tree.Match allocates %v times", n)
	}
	if len(m.Subs) != 101 || len(m.Shared) != 1 {
		t.Errorf("%d subs, %d groups", len(m.Subs), len(m.Shared))
	}
}

// TestTreeConcurrent runs writers and readers together (meant for -race).
// Subscriptions made before the readers start and never touched must be
// matched every time, however the tree changes around them.
func TestTreeConcurrent(t *testing.T) {
	tr := NewTree[int]()
	const stable = -1
	tr.Subscribe(stable, "a/+/c", Options{})
	tr.Subscribe(stable, "#", Options{})
	tr.Subscribe(stable, "$share/s/a/b/+", Options{})

	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 5))
			for i := 0; i < 3000; i++ {
				f := randomFilter(rng)
				if rng.IntN(4) == 0 {
					f = "$share/s/" + f
				}
				if rng.IntN(2) == 0 {
					tr.Subscribe(w, f, Options{QoS: byte(i % 3)})
				} else {
					tr.Unsubscribe(w, f)
				}
			}
		})
	}
	errs := make(chan string, 4)
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			var m Matches[int]
			for i := 0; !stop.Load(); i++ {
				m.Reset()
				tr.Match("a/b/c", &m)
				found := 0
				for _, s := range m.Subs {
					if s.Key == stable {
						found++
					}
				}
				picked := false
				for _, g := range m.Shared {
					if _, ok := g.Pick(nil); ok && g.Filter() == "a/b/+" {
						picked = true
					}
				}
				if found != 2 || !picked {
					errs <- fmt.Sprintf("reader %d: stable subscriptions found %d/2, shared picked %v", r, found, picked)
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	readers.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
