package topic

import "math/bits"

// pmap is a persistent hash map (a hash array mapped trie). Updates return
// a new map and leave the old one untouched, sharing every part the update
// did not change. That lets the trees publish immutable snapshots to
// lock-free readers while an update costs O(log32 n) small copies instead of
// copying a whole map: a node with 100k children (one level per device, say)
// stays cheap to change.
//
// The caller supplies the hash of every key, so that the map needs no hasher
// of its own and the same hash can be reused. The zero value is empty.
type pmap[K comparable, V any] struct {
	root *pnode[K, V]
	len  int
}

const (
	pBits     = 5            // hash bits consumed per trie level
	pMask     = 1<<pBits - 1 // selects one level's bits
	pMaxDepth = 13           // ceil(64 / pBits): deeper levels have no bits left
)

// pnode is one trie level. bitmap has bit i set when the slot for hash
// chunk i exists; slots holds the existing slots in chunk order.
type pnode[K comparable, V any] struct {
	bitmap uint32
	slots  []pslot[K, V]
}

// pslot is either a subtree (sub != nil) or an entry. Entries whose 64-bit
// hashes are identical, which is astronomically rare but must still be
// correct, are chained through next.
type pslot[K comparable, V any] struct {
	sub  *pnode[K, V]
	hash uint64
	key  K
	val  V
	next *pslot[K, V]
}

// Len returns the number of entries.
func (m pmap[K, V]) Len() int { return m.len }

// chunk returns the slot bit and index in n for hash h at the given shift.
func (n *pnode[K, V]) chunk(h uint64, shift uint) (bit uint32, i int) {
	bit = 1 << ((h >> shift) & pMask)
	return bit, bits.OnesCount32(n.bitmap & (bit - 1))
}

// get returns the value stored under key, whose hash is h.
func (m pmap[K, V]) get(h uint64, key K) (V, bool) {
	n := m.root
	for shift := uint(0); n != nil; shift += pBits {
		bit, i := n.chunk(h, shift)
		if n.bitmap&bit == 0 {
			break
		}
		s := &n.slots[i]
		if s.sub != nil {
			n = s.sub
			continue
		}
		if s.hash == h {
			for e := s; e != nil; e = e.next {
				if e.key == key {
					return e.val, true
				}
			}
		}
		break
	}
	var zero V
	return zero, false
}

// put returns a map with key set to val and whether key was present before.
func (m pmap[K, V]) put(h uint64, key K, val V) (pmap[K, V], bool) {
	root, replaced := m.root.put(0, pslot[K, V]{hash: h, key: key, val: val})
	if !replaced {
		m.len++
	}
	return pmap[K, V]{root: root, len: m.len}, replaced
}

func (n *pnode[K, V]) put(shift uint, e pslot[K, V]) (*pnode[K, V], bool) {
	if n == nil {
		return &pnode[K, V]{bitmap: 1 << ((e.hash >> shift) & pMask), slots: []pslot[K, V]{e}}, false
	}
	bit, i := n.chunk(e.hash, shift)
	if n.bitmap&bit == 0 {
		slots := make([]pslot[K, V], len(n.slots)+1)
		copy(slots, n.slots[:i])
		slots[i] = e
		copy(slots[i+1:], n.slots[i:])
		return &pnode[K, V]{bitmap: n.bitmap | bit, slots: slots}, false
	}
	old := &n.slots[i]
	var repl pslot[K, V]
	replaced := false
	switch {
	case old.sub != nil:
		var sub *pnode[K, V]
		sub, replaced = old.sub.put(shift+pBits, e)
		repl = pslot[K, V]{sub: sub}
	case old.hash == e.hash:
		repl, replaced = chainPut(old, e)
	default:
		repl = pslot[K, V]{sub: pair(shift+pBits, *old, e)}
	}
	return n.withSlot(i, repl), replaced
}

// pair builds the subtree holding two entries with different hashes.
func pair[K comparable, V any](shift uint, a, b pslot[K, V]) *pnode[K, V] {
	ia, ib := (a.hash>>shift)&pMask, (b.hash>>shift)&pMask
	switch {
	case ia == ib:
		return &pnode[K, V]{bitmap: 1 << ia, slots: []pslot[K, V]{{sub: pair(shift+pBits, a, b)}}}
	case ia > ib:
		a, b = b, a
		ia, ib = ib, ia
	}
	return &pnode[K, V]{bitmap: 1<<ia | 1<<ib, slots: []pslot[K, V]{a, b}}
}

// withSlot returns a copy of n with slot i replaced.
func (n *pnode[K, V]) withSlot(i int, s pslot[K, V]) *pnode[K, V] {
	slots := make([]pslot[K, V], len(n.slots))
	copy(slots, n.slots)
	slots[i] = s
	return &pnode[K, V]{bitmap: n.bitmap, slots: slots}
}

// chainPut returns the chain headed by head with e added or replacing the
// entry with the same key.
func chainPut[K comparable, V any](head *pslot[K, V], e pslot[K, V]) (pslot[K, V], bool) {
	entries := chainEntries(head)
	for i := range entries {
		if entries[i].key == e.key {
			entries[i] = e
			return chain(entries), true
		}
	}
	return chain(append(entries, e)), false
}

// chainEntries copies the chain headed by head into a slice.
func chainEntries[K comparable, V any](head *pslot[K, V]) []pslot[K, V] {
	var entries []pslot[K, V]
	for e := head; e != nil; e = e.next {
		entries = append(entries, pslot[K, V]{hash: e.hash, key: e.key, val: e.val})
	}
	return entries
}

// chain links entries (at least one) into a new chain.
func chain[K comparable, V any](entries []pslot[K, V]) pslot[K, V] {
	for i := len(entries) - 1; i > 0; i-- {
		entries[i-1].next = &entries[i]
	}
	return entries[0]
}

// delete returns a map without key and whether key was present.
func (m pmap[K, V]) delete(h uint64, key K) (pmap[K, V], bool) {
	root, found := m.root.delete(0, h, key)
	if !found {
		return m, false
	}
	return pmap[K, V]{root: root, len: m.len - 1}, true
}

// delete returns n without key, or nil when nothing is left in it.
func (n *pnode[K, V]) delete(shift uint, h uint64, key K) (*pnode[K, V], bool) {
	if n == nil {
		return nil, false
	}
	bit, i := n.chunk(h, shift)
	if n.bitmap&bit == 0 {
		return n, false
	}
	old := &n.slots[i]
	var repl pslot[K, V]
	switch {
	case old.sub != nil:
		sub, found := old.sub.delete(shift+pBits, h, key)
		switch {
		case !found:
			return n, false
		case sub == nil:
			return n.withoutSlot(i, bit), true
		case len(sub.slots) == 1 && sub.slots[0].sub == nil:
			// A lone entry moves up: lookups reach it through the same
			// chunks, and the trie stays as shallow as its contents need.
			repl = sub.slots[0]
		default:
			repl = pslot[K, V]{sub: sub}
		}
	case old.hash == h:
		entries := chainEntries(old)
		k := -1
		for j := range entries {
			if entries[j].key == key {
				k = j
			}
		}
		switch {
		case k < 0:
			return n, false
		case len(entries) == 1:
			return n.withoutSlot(i, bit), true
		}
		repl = chain(append(entries[:k], entries[k+1:]...))
	default:
		return n, false
	}
	return n.withSlot(i, repl), true
}

// withoutSlot returns a copy of n without slot i (whose bitmap bit is bit),
// or nil if that was the last slot.
func (n *pnode[K, V]) withoutSlot(i int, bit uint32) *pnode[K, V] {
	if len(n.slots) == 1 {
		return nil
	}
	slots := make([]pslot[K, V], len(n.slots)-1)
	copy(slots, n.slots[:i])
	copy(slots[i:], n.slots[i+1:])
	return &pnode[K, V]{bitmap: n.bitmap &^ bit, slots: slots}
}

// appendValues appends every value to dst. It is recursive rather than
// callback based so that matching allocates nothing.
func (n *pnode[K, V]) appendValues(dst []V) []V {
	if n == nil {
		return dst
	}
	for i := range n.slots {
		s := &n.slots[i]
		if s.sub != nil {
			dst = s.sub.appendValues(dst)
			continue
		}
		for e := s; e != nil; e = e.next {
			dst = append(dst, e.val)
		}
	}
	return dst
}

// pIter walks the entries of a pmap without allocating. Obtain one with
// pmap.iter and call next until it reports false.
type pIter[K comparable, V any] struct {
	stack [pMaxDepth]struct {
		n *pnode[K, V]
		i int
	}
	depth int
	chain *pslot[K, V] // rest of the collision chain being walked
}

func (m pmap[K, V]) iter() pIter[K, V] {
	var it pIter[K, V]
	if m.root != nil {
		it.stack[0].n = m.root
		it.depth = 1
	}
	return it
}

func (it *pIter[K, V]) next() (key K, val V, ok bool) {
	for {
		if e := it.chain; e != nil {
			it.chain = e.next
			return e.key, e.val, true
		}
		if it.depth == 0 {
			return key, val, false
		}
		top := &it.stack[it.depth-1]
		if top.i == len(top.n.slots) {
			it.depth--
			continue
		}
		s := &top.n.slots[top.i]
		top.i++
		if s.sub != nil {
			it.stack[it.depth].n, it.stack[it.depth].i = s.sub, 0
			it.depth++
			continue
		}
		it.chain = s.next
		return s.key, s.val, true
	}
}
