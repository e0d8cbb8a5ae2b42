package topic

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Retained stores one retained message per topic name, indexed by level so
// that a wildcard filter visits only the branches it can match. It is safe
// for concurrent use.
//
// It follows the Tree's design: readers (Get, Match, Range) take no lock and
// see each node's immutable snapshot, writers (Set, Delete) are serialised
// by a mutex. Because no lock is held while callbacks run, a callback may
// itself call Set or Delete.
type Retained[V any] struct {
	mu   sync.Mutex // serialises writers
	root *rnode[V]  // never pruned; holds the first levels
	seed maphash.Seed
	len  atomic.Int64
	seq  uint64 // creation counter for nodes, under mu
}

// rnode is one level of a topic name; its identity is stable while it holds
// anything.
type rnode[V any] struct {
	state atomic.Pointer[rstate[V]]

	// Fixed before the node is published.
	level  string
	parent *rnode[V] // nil for the root
	// seq orders siblings by creation: wildcard matches visit them in
	// that order, depth first, so a new subscriber receives retained
	// messages in the order Mosquitto sends them (the order their topics
	// were first retained).
	seq uint64
}

// rstate is what an rnode holds; never modified once published.
type rstate[V any] struct {
	children pmap[string, *rnode[V]]
	has      bool   // a message is retained on this topic
	name     string // the topic name, when has
	val      V
}

// NewRetained returns an empty store.
func NewRetained[V any]() *Retained[V] {
	r := &Retained[V]{root: &rnode[V]{}, seed: maphash.MakeSeed()}
	r.root.state.Store(&rstate[V]{})
	return r
}

// Len returns the number of retained messages.
func (r *Retained[V]) Len() int { return int(r.len.Load()) }

func (r *Retained[V]) hashLevel(level string) uint64 { return maphash.String(r.seed, level) }

// Set stores v as the retained message of the topic name, replacing any.
func (r *Retained[V]) Set(name string, v V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.root
	for start := 0; ; {
		end := levelEnd(name, start)
		level := name[start:end]
		c, ok := n.state.Load().children.get(r.hashLevel(level), level)
		if !ok {
			c = r.addChild(n, strings.Clone(level))
		}
		n = c
		if end == len(name) {
			break
		}
		start = end + 1
	}
	next := *n.state.Load()
	if !next.has {
		next.has, next.name = true, strings.Clone(name)
		r.len.Add(1)
	}
	next.val = v
	n.state.Store(&next)
}

func (r *Retained[V]) addChild(parent *rnode[V], level string) *rnode[V] {
	r.seq++
	c := &rnode[V]{level: level, parent: parent, seq: r.seq}
	c.state.Store(&rstate[V]{})
	next := *parent.state.Load()
	next.children, _ = next.children.put(r.hashLevel(level), level, c)
	parent.state.Store(&next)
	return c
}

// Delete removes the retained message of the topic name and reports
// whether there was one. Levels left empty are pruned.
func (r *Retained[V]) Delete(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.find(name)
	if n == nil {
		return false
	}
	st := n.state.Load()
	if !st.has {
		return false
	}
	r.len.Add(-1)
	if st.children.Len() > 0 {
		n.state.Store(&rstate[V]{children: st.children})
		return true
	}
	// n is now empty: unlink it and every ancestor left empty.
	for n != r.root {
		p := n.parent
		next := *p.state.Load()
		next.children, _ = next.children.delete(r.hashLevel(n.level), n.level)
		p.state.Store(&next)
		if next.has || next.children.Len() > 0 {
			break
		}
		n = p
	}
	return true
}

// find returns the node for a topic name, or nil.
func (r *Retained[V]) find(name string) *rnode[V] {
	n := r.root
	for start := 0; ; {
		end := levelEnd(name, start)
		level := name[start:end]
		c, ok := n.state.Load().children.get(r.hashLevel(level), level)
		if !ok {
			return nil
		}
		n = c
		if end == len(name) {
			return n
		}
		start = end + 1
	}
}

// Get returns the retained message of the topic name.
func (r *Retained[V]) Get(name string) (V, bool) {
	if n := r.find(name); n != nil {
		if st := n.state.Load(); st.has {
			return st.val, true
		}
	}
	var zero V
	return zero, false
}

// Match calls fn for every retained message whose topic name matches the
// filter, until fn returns false. A filter without wildcards is a direct
// lookup; otherwise only the branches the filter can match are visited.
// As in Match, a filter starting with a wildcard skips names starting with
// '$' [MQTT-4.7.2-1]. The filter is taken literally ("$share/" is the
// caller's business: shared subscriptions get no retained messages).
func (r *Retained[V]) Match(filter string, fn func(name string, v V) bool) {
	if !HasWildcard(filter) {
		if n := r.find(filter); n != nil {
			if st := n.state.Load(); st.has {
				fn(st.name, st.val)
			}
		}
		return
	}
	r.matchLevel(r.root.state.Load(), filter, 0, fn)
}

// matchLevel matches the filter level starting at start against the
// children of the node whose snapshot is st. It returns false when fn
// asked to stop.
func (r *Retained[V]) matchLevel(st *rstate[V], filter string, start int, fn func(string, V) bool) bool {
	end := levelEnd(filter, start)
	level := filter[start:end]
	switch level {
	case "#":
		return eachBelow(st, start == 0, fn)
	case "+":
		for _, c := range st.ordered() {
			if start == 0 && strings.HasPrefix(c.level, "$") {
				continue // [MQTT-4.7.2-1]
			}
			if !r.descend(c, filter, end, fn) {
				return false
			}
		}
		return true
	}
	if c, ok := st.children.get(r.hashLevel(level), level); ok {
		return r.descend(c, filter, end, fn)
	}
	return true
}

// descend continues matching below c, which matched the filter level
// ending at end.
func (r *Retained[V]) descend(c *rnode[V], filter string, end int, fn func(string, V) bool) bool {
	st := c.state.Load()
	if end == len(filter) {
		return !st.has || fn(st.name, st.val)
	}
	// "sport/#" also matches "sport" itself.
	if st.has && filter[end+1:] == "#" && !fn(st.name, st.val) {
		return false
	}
	return r.matchLevel(st, filter, end+1, fn)
}

// eachBelow calls fn for every message strictly below the node whose
// snapshot is st, skipping first levels starting with '$' if skipDollar.
func eachBelow[V any](st *rstate[V], skipDollar bool, fn func(string, V) bool) bool {
	for _, c := range st.ordered() {
		if skipDollar && strings.HasPrefix(c.level, "$") {
			continue // [MQTT-4.7.2-1]
		}
		cst := c.state.Load()
		if cst.has && !fn(cst.name, cst.val) {
			return false
		}
		if !eachBelow(cst, false, fn) {
			return false
		}
	}
	return true
}

// Range calls fn for every retained message, until fn returns false.
func (r *Retained[V]) Range(fn func(name string, v V) bool) {
	eachBelow(r.root.state.Load(), false, fn)
}

// ordered returns the children in creation order.
func (st *rstate[V]) ordered() []*rnode[V] {
	out := make([]*rnode[V], 0, st.children.Len())
	it := st.children.iter()
	for _, c, ok := it.next(); ok; _, c, ok = it.next() {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *rnode[V]) int { return cmp.Compare(a.seq, b.seq) })
	return out
}
