package topic

import "strings"

// Matches collects the result of Tree.Match. Reuse one per goroutine (Reset
// between publishes) so that matching allocates nothing.
type Matches[K comparable] struct {
	// Subs has one entry per matching ordinary subscription. A subscriber
	// with overlapping filters ("a/+" and "a/#") appears once per filter.
	Subs []Subscriber[K]
	// Shared has one entry per matching (group, filter) with members.
	Shared []*SharedGroup[K]
}

// Reset empties m and keeps its capacity. It clears the old entries so that
// a pooled Matches does not keep subscribers reachable.
func (m *Matches[K]) Reset() {
	clear(m.Subs)
	clear(m.Shared)
	m.Subs = m.Subs[:0]
	m.Shared = m.Shared[:0]
}

// Match appends to m every ordinary subscription whose filter matches the
// topic name, and every shared group with at least one member whose filter
// matches it. It takes no lock and allocates nothing once m's slices have
// grown large enough.
func (t *Tree[K]) Match(name string, m *Matches[K]) {
	t.matchLevel(t.root.state.Load(), name, 0, m)
}

// matchLevel matches the level of name that starts at start against the
// children of the node whose snapshot is st.
func (t *Tree[K]) matchLevel(st *nodeState[K], name string, start int, m *Matches[K]) {
	end := levelEnd(name, start)
	last := end == len(name)
	// [MQTT-4.7.2-1] a wildcard in the first level of a filter does not
	// match a name starting with '$'.
	if start > 0 || !strings.HasPrefix(name, "$") {
		if st.hash != nil {
			// '#' matches this level and everything below it.
			collect(st.hash.state.Load(), m)
		}
		if st.plus != nil {
			t.descend(st.plus, name, end, last, m)
		}
	}
	if st.literal.Len() > 0 {
		level := name[start:end]
		if c, ok := st.literal.get(t.hashLevel(level), level); ok {
			t.descend(c, name, end, last, m)
		}
	}
}

// descend continues matching below child c, which matched the level of
// name ending at end.
func (t *Tree[K]) descend(c *node[K], name string, end int, last bool, m *Matches[K]) {
	st := c.state.Load()
	if !last {
		t.matchLevel(st, name, end+1, m)
		return
	}
	collect(st, m)
	if st.hash != nil {
		// "sport/#" also matches "sport" itself.
		collect(st.hash.state.Load(), m)
	}
}

// collect appends the subscriptions held by a matching node.
func collect[K comparable](st *nodeState[K], m *Matches[K]) {
	m.Subs = st.subs.root.appendValues(m.Subs)
	for _, g := range st.groups {
		if g.Len() > 0 {
			m.Shared = append(m.Shared, g)
		}
	}
}
