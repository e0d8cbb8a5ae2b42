package cluster

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/midge-mqtt/midge/broker"
)

// Acknowledging QoS 1/2 messages. A node sends a peer each message on
// the peer's msg subject, in order, with the reply subject
// <its own prefix>.ack.<seq>; the peer handles them one at a time, in
// that order, and answers cumulatively: once it has handled all it had
// received (or ackBatch of them), it publishes to <prefix>.ack one
// acknowledgement saying "everything up to seq", with the errors of
// those it could not deliver. One answer per batch instead of one per
// message halves what crosses NATS for QoS 1 traffic.
//
// Handling a message is two steps (broker.PrepareRelayed): matching it
// and queueing its records for the store as it arrives, then, for the
// whole batch at once, waiting for the store and delivering. So a batch
// bound for persistent sessions costs one commit, not one per message.

// ackBatch is the most messages the handler takes before answering.
const ackBatch = 128

// ackMsg is a cumulative acknowledgement.
type ackMsg struct {
	Node string            `json:"node"`
	UpTo uint64            `json:"up_to"`
	Errs map[uint64]string `json:"errs,omitempty"` // seq -> why it was not delivered
}

// answers is what the message handler has prepared and not yet
// delivered, in order, and what it owes, by reply prefix.
type answers struct {
	prepared []preparedMsg
	owed     map[string]*ackMsg
}

// preparedMsg is a message the handler took: d to finish (nil after
// err), then reply ("" for one that wants no answer) to answer.
type preparedMsg struct {
	reply string
	d     *broker.RelayedDelivery
	err   error
}

// sendAckedLocked sends a QoS 1/2 message to p and returns what waits
// for its acknowledgement. Called with n.mu held, so that p.acks is in
// the order of the sequence numbers.
func (n *Node) sendAckedLocked(p *peer, data []byte) *waiter {
	n.reqMu.Lock()
	n.reqSeq++
	seq := n.reqSeq
	n.reqMu.Unlock()
	w := &waiter{n: n, p: p, seq: seq, ch: make(chan []byte, 1), acked: true}
	reply := n.prefix + "n." + n.self + ".ack." + strconv.FormatUint(seq, 36)
	if err := n.nc.PublishMsg(&nats.Msg{Subject: p.subject + msgSubject, Reply: reply, Data: data}); err != nil {
		w.err = fmt.Errorf("sending to node %s: %w", p.name, err)
		return w
	}
	p.acks = append(p.acks, w)
	return w
}

// took queues a message the handler took, and settles everything
// queued unless more messages are waiting for the handler: then they
// are delivered and answered together.
func (n *Node) took(reply string, d *broker.RelayedDelivery, err error) {
	a := &n.answering
	a.prepared = append(a.prepared, preparedMsg{reply: reply, d: d, err: err})
	if len(a.prepared) < ackBatch && (d == nil || !d.Retained()) && !n.stopping() {
		// Pending counts the message being handled too (nats.go updates
		// it when the handler returns): more than one is more to come.
		if queued, _, qerr := n.msgSub.Pending(); qerr == nil && queued > 1 {
			return
		}
	}
	n.settle()
}

// settle delivers the messages the handler took, in order, and answers
// them.
func (n *Node) settle() {
	a := &n.answering
	for i := range a.prepared {
		pm := &a.prepared[i]
		err := pm.err
		if pm.d != nil {
			_, err = pm.d.Finish()
		}
		if err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: a message from another node was not delivered: %v.", n.cfg.Name, err))
		}
		if pm.reply != "" {
			n.owe(pm.reply, err)
		}
	}
	clear(a.prepared)
	a.prepared = a.prepared[:0]
	for to, am := range a.owed {
		b, _ := json.Marshal(am)
		if err := n.nc.Publish(to, b); err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: acknowledging to %s: %v.", n.cfg.Name, to, err))
		}
	}
	clear(a.owed)
}

// owe records the acknowledgement a message's reply subject asks for.
func (n *Node) owe(reply string, err error) {
	i := strings.LastIndexByte(reply, '.')
	if i < 0 {
		return
	}
	seq, perr := strconv.ParseUint(reply[i+1:], 36, 64)
	if perr != nil {
		return
	}
	a := &n.answering
	if a.owed == nil {
		a.owed = make(map[string]*ackMsg)
	}
	to := reply[:i]
	am := a.owed[to]
	if am == nil {
		am = &ackMsg{Node: n.self}
		a.owed[to] = am
	}
	am.UpTo = seq
	if err != nil {
		if am.Errs == nil {
			am.Errs = make(map[uint64]string)
		}
		am.Errs[seq] = err.Error()
	}
}

// handleAcks completes the waits a peer's cumulative acknowledgement
// answers.
func (n *Node) handleAcks(m *nats.Msg) {
	var am ackMsg
	if err := json.Unmarshal(m.Data, &am); err != nil {
		n.log.Warn(fmt.Sprintf("Cluster %s: ignoring a malformed acknowledgement.", n.cfg.Name))
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[am.Node]
	if p == nil {
		return // lost meanwhile: its waiters were told
	}
	k := 0
	for ; k < len(p.acks) && p.acks[k].seq <= am.UpTo; k++ {
		w := p.acks[k]
		var reply []byte
		if why, ok := am.Errs[w.seq]; ok {
			reply = []byte(why)
		}
		w.ch <- reply // buffered, and answered once
	}
	clear(p.acks[:k])
	p.acks = p.acks[k:]
}
