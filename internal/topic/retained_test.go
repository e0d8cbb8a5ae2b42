package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func retainedMatches(r *Retained[int], filter string) []string {
	var got []string
	r.Match(filter, func(name string, v int) bool {
		got = append(got, fmt.Sprintf("%s=%d", name, v))
		return true
	})
	slices.Sort(got)
	return got
}

func TestRetainedBasics(t *testing.T) {
	r := NewRetained[int]()
	if _, ok := r.Get("a"); ok || r.Len() != 0 {
		t.Fatal("empty store has a message")
	}
	r.Set("a/b", 1)
	r.Set("a/b", 2)
	r.Set("a", 3)
	r.Set("a//b", 4)
	r.Set("/a", 5)
	r.Set("$SYS/uptime", 6)
	if r.Len() != 5 {
		t.Fatalf("Len = %d, want 5", r.Len())
	}
	if v, ok := r.Get("a/b"); !ok || v != 2 {
		t.Fatalf("Get(a/b) = %d, %v", v, ok)
	}
	if _, ok := r.Get("a/b/c"); ok {
		t.Fatal("Get of a missing topic below a retained one succeeds")
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"a/b", []string{"a/b=2"}},
		{"a/c", nil},
		{"a/+", []string{"a/b=2"}},
		{"a/#", []string{"a//b=4", "a/b=2", "a=3"}},
		{"+/b", []string{"a/b=2"}},
		{"+/+/b", []string{"a//b=4"}},
		{"#", []string{"/a=5", "a//b=4", "a/b=2", "a=3"}},
		{"+", []string{"a=3"}},
		{"+/#", []string{"/a=5", "a//b=4", "a/b=2", "a=3"}},
		{"/+", []string{"/a=5"}},
		{"$SYS/#", []string{"$SYS/uptime=6"}},
		{"$SYS/+", []string{"$SYS/uptime=6"}},
		{"+/uptime", nil}, // [MQTT-4.7.2-1]
	}
	for _, tt := range tests {
		if got := retainedMatches(r, tt.filter); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q) = %q, want %q", tt.filter, got, tt.want)
		}
	}

	if !r.Delete("a") || r.Delete("a") || r.Delete("nope") || r.Delete("a/b/c") {
		t.Fatal("Delete reports wrongly")
	}
	if _, ok := r.Get("a"); ok {
		t.Fatal("deleted message still there")
	}
	if got := retainedMatches(r, "a/#"); !slices.Equal(got, []string{"a//b=4", "a/b=2"}) {
		t.Fatalf("after Delete(a): %q", got)
	}
	var all []string
	r.Range(func(name string, v int) bool { all = append(all, name); return true })
	slices.Sort(all)
	if want := []string{"$SYS/uptime", "/a", "a//b", "a/b"}; !slices.Equal(all, want) {
		t.Fatalf("Range = %q, want %q", all, want)
	}
	for _, name := range all {
		r.Delete(name)
	}
	if r.Len() != 0 || r.root.state.Load().children.Len() != 0 {
		t.Fatalf("Len = %d, %d first levels left after deleting everything", r.Len(), r.root.state.Load().children.Len())
	}
}

func TestRetainedStopsEarly(t *testing.T) {
	r := NewRetained[int]()
	for i := range 100 {
		r.Set(fmt.Sprintf("a/%d/x", i), i)
	}
	for _, filter := range []string{"#", "a/#", "a/+/x", "+/+/+"} {
		calls := 0
		r.Match(filter, func(string, int) bool { calls++; return calls < 3 })
		if calls != 3 {
			t.Errorf("Match(%q) called fn %d times after it asked to stop at 3", filter, calls)
		}
	}
	calls := 0
	r.Range(func(string, int) bool { calls++; return false })
	if calls != 1 {
		t.Errorf("Range called fn %d times after it asked to stop", calls)
	}
}

// TestRetainedCallbackMayWrite checks that fn runs without a lock held.
func TestRetainedCallbackMayWrite(t *testing.T) {
	r := NewRetained[int]()
	r.Set("a/1", 1)
	r.Set("a/2", 2)
	r.Match("a/+", func(name string, v int) bool {
		r.Delete(name)
		r.Set(name+"/copy", v)
		return true
	})
	if got := retainedMatches(r, "#"); !slices.Equal(got, []string{"a/1/copy=1", "a/2/copy=2"}) {
		t.Fatalf("after rewriting in the callback: %q", got)
	}
}

// TestRetainedRandom compares wildcard lookups with a loop over every
// retained topic calling Match.
func TestRetainedRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	r := NewRetained[int]()
	model := map[string]int{}
	for step := range 4000 {
		name := randomName(rng)
		if rng.IntN(3) == 0 {
			_, had := model[name]
			if r.Delete(name) != had {
				t.Fatalf("Delete(%q) disagrees with the model", name)
			}
			delete(model, name)
		} else {
			r.Set(name, step)
			model[name] = step
		}
		if r.Len() != len(model) {
			t.Fatalf("Len = %d, want %d", r.Len(), len(model))
		}
		if step%10 != 0 {
			continue
		}
		filter := randomFilter(rng)
		var want []string
		for name, v := range model {
			if Match(filter, name) {
				want = append(want, fmt.Sprintf("%s=%d", name, v))
			}
		}
		slices.Sort(want)
		if got := retainedMatches(r, filter); !slices.Equal(got, want) {
			t.Fatalf("step %d: Match(%q) = %q, want %q", step, filter, got, want)
		}
	}
}

func TestRetainedConcurrent(t *testing.T) {
	r := NewRetained[int]()
	r.Set("stable/x", -1)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 2000 {
				name := "stable/w/" + randomName(rng)
				if rng.IntN(2) == 0 {
					r.Set(name, i)
				} else {
					r.Delete(name)
				}
			}
		})
		wg.Go(func() {
			for range 500 {
				found := false
				r.Match("stable/+", func(name string, v int) bool {
					found = found || (name == "stable/x" && v == -1)
					return true
				})
				if v, ok := r.Get("stable/x"); !found || !ok || v != -1 {
					t.Error("stable retained message missing during concurrent writes")
					return
				}
			}
		})
	}
	wg.Wait()
}

// Wildcard matches return messages in the order their topics were first
// retained (depth first), as Mosquitto sends them to a new subscriber.
func TestRetainedMatchOrder(t *testing.T) {
	r := NewRetained[int]()
	for i, name := range []string{"c", "a", "f/1", "b", "f/0", "e", "d"} {
		r.Set(name, i)
	}
	r.Set("a", 99) // replacing keeps the topic's place
	collect := func(filter string) []string {
		var got []string
		r.Match(filter, func(name string, _ int) bool { got = append(got, name); return true })
		return got
	}
	if got, want := collect("#"), []string{"c", "a", "f/1", "f/0", "b", "e", "d"}; !slices.Equal(got, want) {
		t.Fatalf("# matched %q, want %q", got, want)
	}
	r.Delete("c")
	r.Set("c", 1) // a topic retained again after a clear goes last
	if got, want := collect("+"), []string{"a", "b", "e", "d", "c"}; !slices.Equal(got, want) {
		t.Fatalf("+ matched %q, want %q", got, want)
	}
}
