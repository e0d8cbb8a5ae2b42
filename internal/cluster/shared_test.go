package cluster

import (
	"sync"
	"testing"
	"time"
)

// memShared is a Shared kept in memory, recording the notes it adopted
// ("" when catching up).
type memShared struct {
	mu      sync.Mutex
	version int64
	data    string
	notes   []string
}

func (m *memShared) Version() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version
}

func (m *memShared) Snapshot() (int64, []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version, []byte(m.data)
}

func (m *memShared) Adopt(v int64, data, note []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v <= m.version {
		return ErrNotNewer
	}
	m.version, m.data = v, string(data)
	m.notes = append(m.notes, string(note))
	return nil
}

func (m *memShared) set(v int64, data string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.version, m.data = v, data
}

func (m *memShared) state() (int64, string, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version, m.data, append([]string(nil), m.notes...)
}

// A change spread from one node is in force on every other when Spread
// returns, with its note; a node whose state is newer (one that missed a
// change, from the others' view) is caught up through the heartbeats; and
// an older state spread changes nothing.
func TestSharedState(t *testing.T) {
	tc := newCluster(t, 3)
	docs := make([]*memShared, 3)
	for i, m := range tc.members {
		docs[i] = &memShared{}
		m.node.Share("doc", docs[i])
	}

	docs[0].set(10, "one")
	tc.members[0].node.Spread("doc", []byte("first"))
	for i, d := range docs[1:] {
		if v, data, notes := d.state(); v != 10 || data != "one" || len(notes) != 1 || notes[0] != "first" {
			t.Fatalf("n%d after Spread: version %d %q, notes %q", i+2, v, data, notes)
		}
	}

	// n3 changed it and told nobody: the others fetch it.
	docs[2].set(20, "two")
	waitShared(t, docs[:2], 20, "two")
	for i, d := range docs[:2] {
		if _, _, notes := d.state(); notes[len(notes)-1] != "" {
			t.Fatalf("n%d caught up with note %q", i+1, notes[len(notes)-1])
		}
	}

	// An older state spread is refused, and its node catches up.
	docs[1].set(5, "old")
	tc.members[1].node.Spread("doc", []byte("stale"))
	for _, d := range []*memShared{docs[0], docs[2]} {
		if v, data, _ := d.state(); v != 20 || data != "two" {
			t.Fatalf("an older state replaced a newer one: %d %q", v, data)
		}
	}
	waitShared(t, docs[1:2], 20, "two")
}

func waitShared(t *testing.T, docs []*memShared, v int64, data string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range docs {
		for {
			gv, gd, _ := d.state()
			if gv == v && gd == data {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still at version %d %q, want %d %q", gv, gd, v, data)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
