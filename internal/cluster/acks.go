package cluster

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Acknowledging QoS 1/2 messages. A node sends a peer each message on
// the peer's msg subject, in order, with the reply subject
// <its own prefix>.ack.<seq>; the peer handles them one at a time, in
// that order, and answers cumulatively: once it has handled all it had
// received (or ackBatch of them), it publishes to <prefix>.ack one
// acknowledgement saying "everything up to seq", with the errors of
// those it could not deliver. One answer per batch instead of one per
// message halves what crosses NATS for QoS 1 traffic.

// ackBatch is the most messages the handler takes before answering.
const ackBatch = 128

// ackMsg is a cumulative acknowledgement.
type ackMsg struct {
	Node string            `json:"node"`
	UpTo uint64            `json:"up_to"`
	Errs map[uint64]string `json:"errs,omitempty"` // seq -> why it was not delivered
}

// answers is what the message handler owes, by reply prefix.
type answers struct {
	owed  map[string]*ackMsg
	count int
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

// answer records that the message whose reply subject is reply (""
// for one that wants no answer) has been handled (err: not delivered),
// and answers everything owed once no more messages are waiting for the
// handler.
func (n *Node) answer(reply string, err error) {
	a := &n.answering
	if reply != "" {
		n.owe(reply, err)
	}
	if a.count == 0 {
		return
	}
	if a.count < ackBatch {
		// Pending counts the message being handled too (nats.go updates
		// it when the handler returns): more than one is more to come.
		if queued, _, qerr := n.msgSub.Pending(); qerr == nil && queued > 1 {
			return
		}
	}
	for to, am := range a.owed {
		b, _ := json.Marshal(am)
		if err := n.nc.Publish(to, b); err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: acknowledging to %s: %v.", n.cfg.Name, to, err))
		}
	}
	clear(a.owed)
	a.count = 0
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
	a.count++
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
