package topic

import (
	"slices"
	"sync/atomic"
)

// SharedGroup is one $share group on one filter: its members share the
// messages matching the filter, each message going to one of them.
// Groups are created and changed by the Tree under its
// writer lock; Pick, Len, Name and Filter are lock-free.
type SharedGroup[K comparable] struct {
	name   string
	filter string
	// members is replaced, never changed in place, so a reader's slice
	// stays valid while writers add and remove members.
	members atomic.Pointer[[]Subscriber[K]]
	// cursor counts picks; the next pick starts at cursor mod len(members).
	cursor atomic.Uint64
}

func newSharedGroup[K comparable](name, filter string) *SharedGroup[K] {
	g := &SharedGroup[K]{name: name, filter: filter}
	g.members.Store(new([]Subscriber[K]))
	return g
}

// Name returns the group name (the part between "$share/" and the filter).
func (g *SharedGroup[K]) Name() string { return g.name }

// Filter returns the filter the group subscribed to, without the prefix.
func (g *SharedGroup[K]) Filter() string { return g.filter }

// Len returns the number of members.
func (g *SharedGroup[K]) Len() int { return len(*g.members.Load()) }

// Pick returns the next member in round-robin order for which ok(key) is
// true; a nil ok accepts every member. Each member is tried at most once,
// so Pick reports false only if no member is acceptable. It takes no lock
// and does not allocate; concurrent callers share the rotation.
func (g *SharedGroup[K]) Pick(ok func(K) bool) (Subscriber[K], bool) {
	members := *g.members.Load()
	n := uint64(len(members))
	if n == 0 {
		return Subscriber[K]{}, false
	}
	start := g.cursor.Add(1) - 1
	for i := range n {
		s := members[(start+i)%n]
		if ok == nil || ok(s.Key) {
			if i > 0 {
				// Members that were skipped did not get their turn; the
				// next pick continues after the chosen one, so the
				// acceptable members keep alternating fairly.
				g.cursor.Add(i)
			}
			return s, true
		}
	}
	return Subscriber[K]{}, false
}

// put adds s or replaces the member with the same key. Writers only.
func (g *SharedGroup[K]) put(s Subscriber[K]) (existed bool) {
	old := *g.members.Load()
	i := g.index(old, s.Key)
	var members []Subscriber[K]
	if i >= 0 {
		members = slices.Clone(old)
		members[i] = s
	} else {
		members = append(slices.Clip(old), s)
	}
	g.members.Store(&members)
	return i >= 0
}

// remove removes the member with key. Writers only.
func (g *SharedGroup[K]) remove(key K) (existed bool) {
	old := *g.members.Load()
	i := g.index(old, key)
	if i < 0 {
		return false
	}
	members := slices.Delete(slices.Clone(old), i, i+1)
	g.members.Store(&members)
	return true
}

func (g *SharedGroup[K]) index(members []Subscriber[K], key K) int {
	return slices.IndexFunc(members, func(s Subscriber[K]) bool { return s.Key == key })
}
