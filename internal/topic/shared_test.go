package topic

import (
	"slices"
	"testing"
)

func TestTreeShared(t *testing.T) {
	tr := NewTree[string]()
	tr.Subscribe("c1", "$share/g1/a/+", Options{QoS: 1})
	tr.Subscribe("c2", "$share/g1/a/+", Options{QoS: 2})
	tr.Subscribe("c3", "$share/g2/a/+", Options{})
	tr.Subscribe("c1", "$share/g1/a/#", Options{})
	tr.Subscribe("c4", "a/+", Options{})
	if !tr.Subscribe("c1", "$share/g1/a/+", Options{QoS: 0}) {
		t.Fatal("re-subscribing a member does not report existed")
	}
	if tr.Count() != 1 || tr.SharedCount() != 4 {
		t.Fatalf("Count = %d, SharedCount = %d", tr.Count(), tr.SharedCount())
	}
	subs, shared := matchPairs(tr, "a/b")
	if !slices.Equal(subs, []string{"c4 a/+"}) {
		t.Errorf("ordinary matches %q", subs)
	}
	if want := []string{"g1 a/#", "g1 a/+", "g2 a/+"}; !slices.Equal(shared, want) {
		t.Errorf("shared matches %q, want %q", shared, want)
	}
	var m Matches[string]
	tr.Match("a/b", &m)
	for _, g := range m.Shared {
		if g.Name() == "g1" && g.Filter() == "a/+" {
			if g.Len() != 2 {
				t.Errorf("g1 has %d members", g.Len())
			}
			for range 4 {
				s, ok := g.Pick(nil)
				if !ok || s.Filter != "a/+" || (s.Key == "c1" && s.Options.QoS != 0) {
					t.Errorf("Pick = %+v, %v", s, ok)
				}
			}
		}
	}
	tr.Unsubscribe("c3", "$share/g2/a/+")
	if _, shared := matchPairs(tr, "a/b"); !slices.Equal(shared, []string{"g1 a/#", "g1 a/+"}) {
		t.Errorf("after the last member left g2: %q", shared)
	}
	if tr.Unsubscribe("c4", "$share/g1/a/+") {
		t.Error("removing a non-member reports existed")
	}
}

func TestSharedPickRoundRobin(t *testing.T) {
	g := newSharedGroup[string]("g", "f")
	for _, k := range []string{"a", "b", "c"} {
		g.put(Subscriber[string]{Key: k, Filter: "f"})
	}
	var got []string
	for range 6 {
		s, _ := g.Pick(nil)
		got = append(got, s.Key)
	}
	if want := []string{"a", "b", "c", "a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("picks %q, want %q", got, want)
	}

	// With "a" unacceptable, b and c must alternate rather than one of them
	// inheriting a's turns.
	notA := func(k string) bool { return k != "a" }
	counts := map[string]int{}
	for range 100 {
		s, ok := g.Pick(notA)
		if !ok || s.Key == "a" {
			t.Fatalf("Pick(notA) = %+v, %v", s, ok)
		}
		counts[s.Key]++
	}
	if counts["b"] != 50 || counts["c"] != 50 {
		t.Errorf("picks with one member skipped: %v", counts)
	}

	if _, ok := g.Pick(func(string) bool { return false }); ok {
		t.Error("Pick with nothing acceptable reports ok")
	}
	tries := 0
	g.Pick(func(string) bool { tries++; return false })
	if tries != 3 {
		t.Errorf("Pick tried %d members, want each of 3 once", tries)
	}
	for _, k := range []string{"a", "b", "c"} {
		g.remove(k)
	}
	if _, ok := g.Pick(nil); ok || g.Len() != 0 {
		t.Error("empty group picks a member")
	}
}

func TestSharedPickAllocs(t *testing.T) {
	g := newSharedGroup[int]("g", "f")
	for k := range 5 {
		g.put(Subscriber[int]{Key: k})
	}
	ok := func(k int) bool { return k%2 == 0 }
	if n := testing.AllocsPerRun(100, func() { g.Pick(ok) }); n != 0 {
		t.Errorf("Pick allocates %v times", n)
	}
}
