package topic

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Options are a subscription's options as granted.
type Options struct {
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	SubscriptionID    uint32 // 0 = none
}

// Subscriber is one subscription of one subscriber.
type Subscriber[K comparable] struct {
	Key     K
	Filter  string // as subscribed; without the "$share/<group>/" prefix for shared ones
	Options Options
}

// Tree holds the subscriptions of every subscriber, keyed by K (a session,
// say). It is safe for concurrent use.
//
// Match takes no lock and never waits for a writer: each node publishes an
// immutable snapshot (nodeState) through an atomic pointer. A writer holds
// the tree's mutex and replaces the snapshots of the nodes it changes, which
// are the filter's own node and, when a level is created or pruned, its
// parent. Children and subscribers are persistent maps, so replacing a
// snapshot costs O(log n) even for a node with 100k children or subscribers.
// A Match running during a change sees every node either before or after it.
type Tree[K comparable] struct {
	mu   sync.Mutex // serialises writers
	root *node[K]   // never pruned; its snapshot holds the first levels
	seed maphash.Seed

	count  atomic.Int64 // ordinary subscriptions
	shared atomic.Int64 // members of shared groups
}

// node is one level of a filter. Its identity is stable for as long as it
// holds anything, so a change deep in the tree touches no ancestor.
type node[K comparable] struct {
	state atomic.Pointer[nodeState[K]]

	// Fixed before the node is published.
	filter string   // the filter up to and including this level
	level  string   // this level: a literal, "+" or "#"
	parent *node[K] // nil for the root
}

// nodeState is what a node holds. It is never modified once published.
type nodeState[K comparable] struct {
	literal pmap[string, *node[K]] // children by literal level
	plus    *node[K]               // the "+" child
	hash    *node[K]               // the "#" child
	subs    pmap[K, Subscriber[K]] // ordinary subscriptions to this filter
	groups  []*SharedGroup[K]      // $share groups on this filter
}

func (s *nodeState[K]) empty() bool {
	return s.literal.Len() == 0 && s.plus == nil && s.hash == nil && s.subs.Len() == 0 && len(s.groups) == 0
}

// group returns the shared group called name, or nil.
func (s *nodeState[K]) group(name string) *SharedGroup[K] {
	for _, g := range s.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// NewTree returns an empty tree.
func NewTree[K comparable]() *Tree[K] {
	t := &Tree[K]{root: &node[K]{}, seed: maphash.MakeSeed()}
	t.root.state.Store(&nodeState[K]{})
	return t
}

// Count returns the number of ordinary subscriptions.
func (t *Tree[K]) Count() int { return int(t.count.Load()) }

// SharedCount returns the number of shared subscriptions (group members).
func (t *Tree[K]) SharedCount() int { return int(t.shared.Load()) }

func (t *Tree[K]) hashLevel(level string) uint64 { return maphash.String(t.seed, level) }
func (t *Tree[K]) hashKey(key K) uint64          { return maphash.Comparable(t.seed, key) }

// Subscribe adds key's subscription to filter, or replaces its options if
// key already subscribed to it [MQTT-3.8.4-3]. The filter may be
// "$share/<group>/<filter>" and must be valid (see ValidateFilter).
// existed reports a replacement.
func (t *Tree[K]) Subscribe(key K, filter string, opts Options) (existed bool) {
	group, inner, isShared := SplitShared(filter)
	if isShared {
		filter = inner
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodeFor(filter)
	st := n.state.Load()
	sub := Subscriber[K]{Key: key, Filter: n.filter, Options: opts}
	if !isShared {
		next := *st
		next.subs, existed = st.subs.put(t.hashKey(key), key, sub)
		n.state.Store(&next)
		if !existed {
			t.count.Add(1)
		}
		return existed
	}
	g := st.group(group)
	if g == nil {
		g = newSharedGroup[K](strings.Clone(group), n.filter)
		g.put(sub) // before publishing, so no reader sees the group empty
		next := *st
		next.groups = append(slices.Clip(st.groups), g)
		n.state.Store(&next)
	} else {
		existed = g.put(sub)
	}
	if !existed {
		t.shared.Add(1)
	}
	return existed
}

// Unsubscribe removes key's subscription to filter (which may be a
// "$share/<group>/<filter>"). existed reports whether it was there. Levels
// left empty are pruned, so memory does not grow with churn.
func (t *Tree[K]) Unsubscribe(key K, filter string) (existed bool) {
	group, inner, isShared := SplitShared(filter)
	if isShared {
		filter = inner
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.find(filter)
	if n == nil {
		return false
	}
	st := n.state.Load()
	if !isShared {
		next := *st
		next.subs, existed = st.subs.delete(t.hashKey(key), key)
		if !existed {
			return false
		}
		n.state.Store(&next)
		t.count.Add(-1)
	} else {
		g := st.group(group)
		if g == nil || !g.remove(key) {
			return false
		}
		t.shared.Add(-1)
		if g.Len() == 0 {
			next := *st
			next.groups = slices.DeleteFunc(slices.Clone(st.groups), func(x *SharedGroup[K]) bool { return x == g })
			n.state.Store(&next)
		}
	}
	t.prune(n)
	return true
}

// nodeFor returns the node for filter, creating missing levels. The caller
// holds t.mu.
func (t *Tree[K]) nodeFor(filter string) *node[K] {
	n := t.root
	owned := "" // a private copy of filter, so nodes do not pin the caller's buffer
	for start := 0; ; {
		end := levelEnd(filter, start)
		c := t.child(n.state.Load(), filter[start:end])
		if c == nil {
			if owned == "" {
				owned = strings.Clone(filter)
			}
			c = t.addChild(n, owned[:end], owned[start:end])
		}
		n = c
		if end == len(filter) {
			return n
		}
		start = end + 1
	}
}

// find returns the node for filter, or nil if it has none.
func (t *Tree[K]) find(filter string) *node[K] {
	n := t.root
	for start := 0; n != nil; {
		end := levelEnd(filter, start)
		n = t.child(n.state.Load(), filter[start:end])
		if end == len(filter) {
			return n
		}
		start = end + 1
	}
	return nil
}

// child returns the child of a node (given its snapshot) for a filter level.
func (t *Tree[K]) child(st *nodeState[K], level string) *node[K] {
	switch level {
	case "+":
		return st.plus
	case "#":
		return st.hash
	}
	c, _ := st.literal.get(t.hashLevel(level), level)
	return c
}

// addChild creates and publishes the child of parent for a filter level.
func (t *Tree[K]) addChild(parent *node[K], filter, level string) *node[K] {
	c := &node[K]{filter: filter, level: level, parent: parent}
	c.state.Store(&nodeState[K]{})
	next := *parent.state.Load()
	switch level {
	case "+":
		next.plus = c
	case "#":
		next.hash = c
	default:
		next.literal, _ = next.literal.put(t.hashLevel(level), level, c)
	}
	parent.state.Store(&next)
	return c
}

// prune unlinks n and then each ancestor that is left holding nothing.
func (t *Tree[K]) prune(n *node[K]) {
	for n != t.root && n.state.Load().empty() {
		p := n.parent
		next := *p.state.Load()
		switch n.level {
		case "+":
			next.plus = nil
		case "#":
			next.hash = nil
		default:
			next.literal, _ = next.literal.delete(t.hashLevel(n.level), n.level)
		}
		p.state.Store(&next)
		n = p
	}
}

// levelEnd returns the index of the '/' ending the level that starts at
// start, or len(s) for the last level.
func levelEnd(s string, start int) int {
	if i := strings.IndexByte(s[start:], '/'); i >= 0 {
		return start + i
	}
	return len(s)
}
