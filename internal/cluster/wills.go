package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/midge-mqtt/midge/broker"
)

// The wills of the clients connected to a node are kept by every other
// node (Node is the broker's WillKeeper), so that the will of a client
// connected to a node that is lost (killed, crashed, or silent too long)
// is still published: by one node, the one in reach with the lowest name,
// as the take-over of sessions is, and only with the quorum (a node cut
// off from the majority publishes nothing of the others'). A will with a
// delay waits it out there, and a client connecting again anywhere before
// then deletes it, as on one broker. A node leaving the cluster (stopped)
// publishes its clients' wills itself, as one broker does when it stops;
// the others publish none of them.
//
// A will crosses as the control requests "will" (Client, Seq, Delay,
// Expiry, and the message in Data, encoded as a forwarded message) and
// "unwill" (Client, Seq), in the order the node makes them; a node that
// joins is sent the wills held then, after its subscriptions.

// heldWill is a will a node holds for one of a peer's clients.
type heldWill struct {
	seq  uint64
	data []byte // the message, as forwarded
	// delay and expiry: HeldWill.Delay and Expiry.
	delay, expiry uint32
}

// HoldWill keeps w on the other nodes (broker.WillKeeper).
func (n *Node) HoldWill(w *broker.HeldWill) {
	data, err := n.encode(nil, &w.Message)
	if err != nil || len(data) > maxPayload/2 {
		n.log.Warn(fmt.Sprintf("Cluster %s: the will of client %s is not kept on the other nodes (%d bytes): it is lost if this node is.", n.cfg.Name, w.ClientID, len(w.Message.Payload)))
		return
	}
	hw := &heldWill{seq: w.Seq, data: data, delay: w.Delay, expiry: w.Expiry}
	b := n.willMsg(w.ClientID, hw)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ownWills == nil {
		n.ownWills = make(map[string]*heldWill)
	}
	n.ownWills[w.ClientID] = hw
	for _, p := range n.peers {
		_ = n.nc.Publish(p.subject+"ctl", b)
	}
}

// DropWill forgets the will of a connection that has ended here
// (broker.WillKeeper).
func (n *Node) DropWill(clientID string, seq uint64) {
	c := n.controlMsg("unwill")
	c.Client, c.Seq = clientID, seq
	b, _ := json.Marshal(c)
	n.mu.Lock()
	defer n.mu.Unlock()
	if hw := n.ownWills[clientID]; hw == nil || hw.seq != seq {
		return // a later connection's, or not kept
	}
	delete(n.ownWills, clientID)
	for _, p := range n.peers {
		_ = n.nc.Publish(p.subject+"ctl", b)
	}
}

// willMsg is the "will" request for a will of this node's. It reads
// nothing mu guards.
func (n *Node) willMsg(clientID string, hw *heldWill) []byte {
	c := n.controlMsg("will")
	c.Client, c.Seq, c.Data, c.Delay, c.Expiry = clientID, hw.seq, hw.data, hw.delay, hw.expiry
	b, _ := json.Marshal(c)
	return b
}

// sendWillsLocked sends p, just met, the wills this node holds for its
// clients. Called with n.mu held, after the subscriptions' sync.
func (n *Node) sendWillsLocked(p *peer) {
	for id, hw := range n.ownWills {
		_ = n.nc.Publish(p.subject+"ctl", n.willMsg(id, hw))
	}
}

// handleWillLocked records a peer's will request. Called with n.mu held.
func (n *Node) handleWillLocked(p *peer, c *control) {
	switch c.Op {
	case "will":
		if p.wills == nil {
			p.wills = make(map[string]*heldWill)
		}
		p.wills[c.Client] = &heldWill{seq: c.Seq, data: c.Data, delay: c.Delay, expiry: c.Expiry}
	case "unwill":
		if hw := p.wills[c.Client]; hw != nil && hw.seq == c.Seq {
			delete(p.wills, c.Client)
		}
	}
}

// willsOfLostLocked publishes the wills of p's clients, p lost with their
// connections, if this node is the one to: the lowest name in reach, with
// the quorum, and not just back from a pause of its own (then it is this
// node the others missed). Called with n.mu held, p removed.
func (n *Node) willsOfLostLocked(p *peer) {
	wills := p.wills
	p.wills = nil
	if len(wills) == 0 || !n.started {
		return
	}
	for name := range n.peers {
		if name < n.self {
			return // that one publishes them
		}
	}
	if !n.quorate() {
		n.log.Warn(fmt.Sprintf("Cluster %s: the wills of %d clients of node %s are not published: this node is short of the quorum.", n.cfg.Name, len(wills), p.name))
		return
	}
	if time.Now().Before(n.wokeAt) {
		n.log.Warn(fmt.Sprintf("Cluster %s: the wills of %d clients of node %s are not published: this node was paused itself.", n.cfg.Name, len(wills), p.name))
		return
	}
	n.log.Info(fmt.Sprintf("Cluster %s: publishing the wills of %d clients of node %s, lost with their connections.", n.cfg.Name, len(wills), p.name))
	if n.dueWills == nil {
		n.dueWills = make(map[string]*time.Timer)
	}
	for id, hw := range wills {
		m, err := n.decode(hw.data)
		if err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: the will of client %s: %v.", n.cfg.Name, id, err))
			continue
		}
		w := &broker.HeldWill{ClientID: id, Seq: hw.seq, Message: *m, Delay: hw.delay, Expiry: hw.expiry}
		if old := n.dueWills[id]; old != nil {
			old.Stop()
		}
		var t *time.Timer
		t = time.AfterFunc(w.Due(), func() {
			n.mu.Lock()
			mine := n.dueWills[id] == t && n.started
			if mine {
				delete(n.dueWills, id)
			}
			n.mu.Unlock()
			if !mine {
				return
			}
			if w.Message.QoS > 0 {
				// Like any QoS 1/2 message, it waits for the take-over
				// of the lost node's sessions, which may want it; but
				// with no publisher to refuse it to, not only for the
				// request timeout: until the take-over is done or given
				// up (adoptTimeout).
				if !n.awaitTakeOver(p.name) {
					return // leaving the cluster
				}
			}
			n.srv.PublishWill(w)
		})
		n.dueWills[id] = t
	}
}

// awaitTakeOver waits until the take-over of the sessions of node name,
// lost, is done or no longer waited for (see waitAdoptions); it reports
// false if this node leaves the cluster first.
func (n *Node) awaitTakeOver(name string) bool {
	n.mu.Lock()
	a := n.adopting[name]
	n.mu.Unlock()
	if a == nil {
		return true
	}
	// A moment past adoptTimeout: waitAdoptions then gives it up.
	t := time.NewTimer(time.Until(a.since.Add(adoptTimeout + time.Second)))
	defer t.Stop()
	select {
	case <-a.done:
	case <-t.C:
	case <-n.stop:
		return false
	}
	return true
}

// cancelWill deletes the will of a lost node's client waiting out its
// delay here: the client connected again (MQTT 5.0 section 3.1.2.5).
func (n *Node) cancelWill(clientID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t := n.dueWills[clientID]; t != nil {
		t.Stop()
		delete(n.dueWills, clientID)
	}
}
