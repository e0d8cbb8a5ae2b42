package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
)

// ErrNotNewer is what Shared.Adopt returns for a state that is not newer
// than the node's own: nothing to do.
var ErrNotNewer = errors.New("not newer than this node's")

// Shared is state that every node keeps a copy of and that any node may
// change, such as the dynamic security configuration: after a change the
// node that made it spreads the whole state to the others (Spread), and a
// node that missed changes (it was away, or cut off) fetches the latest
// state from a peer that has it, which heartbeats tell by its version.
type Shared interface {
	// Version is the state's version. It grows with every change, and
	// across nodes the higher version is the later state.
	Version() int64
	// Snapshot returns the version and the state, encoded.
	Snapshot() (version int64, data []byte)
	// Adopt installs another node's state if its version is higher
	// than this node's, else returns ErrNotNewer. note is what the node that made the change sent
	// with it (Spread); nil when this node catches up.
	Adopt(version int64, data, note []byte) error
}

// sharedState is a Shared with what the node does with it.
type sharedState struct {
	s        Shared
	fetching bool // a fetch from a peer is under way (guarded by Node.mu)
}

// Share makes s shared by the nodes under name, which the other nodes
// must give theirs.
func (n *Node) Share(name string, s Shared) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.shared == nil {
		n.shared = make(map[string]*sharedState)
	}
	n.shared[name] = &sharedState{s: s}
}

// sharedVersions are the versions a heartbeat carries.
func (n *Node) sharedVersions() map[string]int64 {
	n.mu.Lock()
	list := maps.Clone(n.shared)
	n.mu.Unlock()
	if len(list) == 0 {
		return nil
	}
	v := make(map[string]int64, len(list))
	for name, st := range list {
		v[name] = st.s.Version()
	}
	return v
}

// Spread sends the state shared under name, just changed here, to every
// node alive, with note, and returns once each has adopted it, or failed
// to, or was lost, or did not answer in the request timeout (logged: such
// a node fetches the state when its heartbeats next meet this node's).
func (n *Node) Spread(name string, note []byte) {
	n.mu.Lock()
	st := n.shared[name]
	n.mu.Unlock()
	if st == nil {
		return
	}
	c := n.controlMsg("adopt")
	c.Name, c.Note = name, note
	c.Version, c.Data = st.s.Snapshot()
	b, _ := json.Marshal(c)
	if len(b) > maxPayload {
		n.log.Warn(fmt.Sprintf("Cluster %s: %s (%d bytes) is too large to send to the other nodes: they keep theirs.", n.cfg.Name, name, len(b)))
		return
	}
	n.mu.Lock()
	ws := make([]*waiter, 0, len(n.peers))
	for _, p := range n.peers {
		ws = append(ws, n.requestLocked(p, "ctl", b))
	}
	n.mu.Unlock()
	for _, w := range ws {
		if _, err := decodeReply(w.wait()); err != nil && err.Error() != ErrNotNewer.Error() {
			n.log.Warn(fmt.Sprintf("Cluster %s: node %s did not take the change of %s: %v.", n.cfg.Name, w.p.name, name, err))
		}
	}
}

// ask sends p the control request c and returns its reply; an error if p
// does not answer, or answers with one.
func (n *Node) ask(p *peer, c *control) (*controlReply, error) {
	b, _ := json.Marshal(c)
	n.mu.Lock()
	w := n.requestLocked(p, "ctl", b)
	n.mu.Unlock()
	return decodeReply(w.wait())
}

// decodeReply reads the reply to a control request.
func decodeReply(b []byte, err error) (*controlReply, error) {
	if err != nil {
		return nil, err
	}
	var r controlReply
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.Err != "" {
		return &r, errors.New(r.Err)
	}
	return &r, nil
}

// compareSharedLocked starts a fetch from p of each shared state whose version
// there, from p's heartbeat, is higher than here. Called with n.mu held.
func (n *Node) compareSharedLocked(p *peer, versions map[string]int64) {
	for name, v := range versions {
		st := n.shared[name]
		if st == nil || st.fetching || !n.started || v <= st.s.Version() {
			continue
		}
		st.fetching = true
		n.wg.Go(func() {
			n.fetchShared(p, name, st)
			n.mu.Lock()
			st.fetching = false
			n.mu.Unlock()
		})
	}
}

// fetchShared asks p for the state shared under name and adopts it.
func (n *Node) fetchShared(p *peer, name string, st *sharedState) {
	c := n.controlMsg("shared")
	c.Name = name
	r, err := n.ask(p, c)
	if err == nil {
		err = st.s.Adopt(r.Version, r.Data, nil)
	}
	if errors.Is(err, ErrNotNewer) {
		return // it came meanwhile
	}
	if err != nil {
		n.log.Warn(fmt.Sprintf("Cluster %s: fetching %s from node %s: %v.", n.cfg.Name, name, p.name, err))
		return
	}
	n.log.Info(fmt.Sprintf("Cluster %s: %s taken from node %s, whose copy is later than this node's.", n.cfg.Name, name, p.name))
}

// handleShared serves the two shared-state requests: adopt (a change made
// on c.Node) and shared (a node catching up).
func (n *Node) handleShared(c *control, r *controlReply) {
	n.mu.Lock()
	st := n.shared[c.Name]
	n.mu.Unlock()
	if st == nil {
		r.Err = c.Name + " is not shared by this node"
		return
	}
	switch c.Op {
	case "adopt":
		if err := st.s.Adopt(c.Version, c.Data, c.Note); err != nil {
			r.Err = err.Error()
		}
	case "shared":
		r.Version, r.Data = st.s.Snapshot()
	}
}
