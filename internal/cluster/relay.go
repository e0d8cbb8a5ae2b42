package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/topic"
)

// control is a request between nodes, on n.<node>.ctl.
type control struct {
	Op     string `json:"op"` // sub, unsub, sync, claim, retained, adopted, adopt, shared, will, unwill
	Node   string `json:"node"`
	Epoch  uint64 `json:"epoch"`
	Filter string `json:"filter,omitempty"`
	// Filters are every filter of the sender (sync), and Want asks the
	// receiver to send its own back.
	Filters []string `json:"filters,omitempty"`
	Want    bool     `json:"want,omitempty"`
	// Client and Resume claim a session.
	Client string `json:"client,omitempty"`
	Resume bool   `json:"resume,omitempty"`
	// Page asks for the retained messages from the Page-th on.
	Page int `json:"page,omitempty"`
	// Lost names the node whose sessions the sender took over (adopted):
	// Taken are their filters, and Unsure says the take-over failed.
	Lost   string   `json:"lost,omitempty"`
	Taken  []string `json:"taken,omitempty"`
	Unsure bool     `json:"unsure,omitempty"`
	// Name names a shared state (adopt, shared; see shared.go); Version
	// and Data are the state, Note what goes with a change.
	Name    string `json:"name,omitempty"`
	Version int64  `json:"version,omitempty"`
	Data    []byte `json:"data,omitempty"`
	Note    []byte `json:"note,omitempty"`
	// Seq, Delay and Expiry go with a will (will, unwill; see wills.go),
	// the message in Data.
	Seq    uint64 `json:"seq,omitempty"`
	Delay  uint32 `json:"delay,omitempty"`
	Expiry uint32 `json:"expiry,omitempty"`
}

// controlReply answers a control request.
type controlReply struct {
	Err      string        `json:"err,omitempty"`
	Session  *sessionState `json:"session,omitempty"`
	Retained [][]byte      `json:"retained,omitempty"`
	More     bool          `json:"more,omitempty"`
	// Version and Data are a shared state (shared).
	Version int64  `json:"version,omitempty"`
	Data    []byte `json:"data,omitempty"`
}

// sessionState is a broker.SessionState on the wire.
type sessionState struct {
	Version  byte                         `json:"version"`
	Username string                       `json:"username,omitempty"`
	Expiry   uint32                       `json:"expiry"`
	Subs     []broker.SessionSubscription `json:"subs,omitempty"`
	Messages [][]byte                     `json:"messages,omitempty"`
	Delivery []broker.SessionDelivery     `json:"delivery,omitempty"` // one per message
	LastID   uint16                       `json:"last_id,omitempty"`
}

// retainedPage bounds the payload bytes of one page of retained messages.
const retainedPage = 512 << 10

func (n *Node) controlMsg(op string) *control {
	return &control{Op: op, Node: n.self, Epoch: n.epoch}
}

// syncMsg lists every filter of this node. Called with n.mu held.
func (n *Node) syncMsg(want bool) []byte {
	c := n.controlMsg("sync")
	c.Want = want
	for f := range n.local {
		c.Filters = append(c.Filters, f)
	}
	b, _ := json.Marshal(c)
	return b
}

// Subscribed is part of broker.Relay: the first subscription here to a
// filter is announced to every peer, and SUBACK waits for them.
func (n *Node) Subscribed(filter string) {
	n.mu.Lock()
	n.local[filter]++
	if n.local[filter] > 1 {
		n.mu.Unlock()
		return
	}
	if _, _, shared := topic.SplitShared(filter); shared {
		n.remote.Subscribe(n.self, filter, topic.Options{})
	}
	var ws []*waiter
	if n.started {
		c := n.controlMsg("sub")
		c.Filter = filter
		b, _ := json.Marshal(c)
		for _, p := range n.peers {
			ws = append(ws, n.requestLocked(p, "ctl", b))
		}
	}
	n.mu.Unlock()
	for _, w := range ws {
		if _, err := w.wait(); err != nil && !errors.Is(err, errPeerLost) {
			n.log.Warn(fmt.Sprintf("Cluster %s: announcing the subscription %s: %v.", n.cfg.Name, filter, err))
		}
	}
}

// Unsubscribed is part of broker.Relay: the last subscription here to a
// filter gone, the peers stop sending for it. It does not wait.
func (n *Node) Unsubscribed(filter string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.local[filter]--; n.local[filter] > 0 {
		return
	}
	delete(n.local, filter)
	if _, _, shared := topic.SplitShared(filter); shared {
		n.remote.Unsubscribe(n.self, filter)
	}
	if !n.started {
		return
	}
	c := n.controlMsg("unsub")
	c.Filter = filter
	b, _ := json.Marshal(c)
	for _, p := range n.peers {
		if err := n.nc.Publish(p.subject+"ctl", b); err != nil {
			n.log.Warn(fmt.Sprintf("Cluster: sending to node %s: %v.", p.name, err))
		}
	}
}

// handleControl answers the peers' control requests, one at a time.
func (n *Node) handleControl(m *nats.Msg) {
	var c control
	if err := json.Unmarshal(m.Data, &c); err != nil || !ValidName(c.Node) || c.Node == n.self {
		n.log.Warn(fmt.Sprintf("Cluster %s: ignoring a malformed control request.", n.cfg.Name))
		return
	}
	p := n.seen(c.Node, c.Epoch)
	var r controlReply
	switch c.Op {
	case "sub", "unsub", "sync":
		n.mu.Lock()
		if n.peers[p.name] == p {
			n.applyInterestLocked(p, &c)
		}
		if c.Op == "sync" && c.Want {
			// Sent holding the lock, as every announcement: ahead of
			// any later change of this node's filters.
			_ = n.nc.PublishMsg(&nats.Msg{Subject: p.subject + "ctl", Data: n.syncMsg(false)})
		}
		n.mu.Unlock()
	case "will", "unwill":
		n.mu.Lock()
		if n.peers[p.name] == p {
			n.handleWillLocked(p, &c)
		}
		n.mu.Unlock()
	case "claim":
		n.cancelWill(c.Client)
		if st := n.srv.Handover(c.Client, c.Resume); st != nil {
			ws, err := encodeSession(st)
			if err != nil {
				r.Err = err.Error()
			}
			r.Session = ws
		}
	case "retained":
		r.Retained, r.More = n.retainedFrom(c.Page)
	case "adopted":
		n.adopted(c.Lost, takeOver{filters: c.Taken, unsure: c.Unsure}, false)
	case "adopt", "shared":
		n.handleShared(&c, &r)
	default:
		r.Err = "unknown request " + c.Op
	}
	if m.Reply == "" {
		return
	}
	b, _ := json.Marshal(&r)
	if err := m.Respond(b); err != nil {
		n.log.Warn(fmt.Sprintf("Cluster: answering node %s: %v.", c.Node, err))
	}
}

// applyInterestLocked changes what this node knows of p's filters.
// Called with n.mu held.
func (n *Node) applyInterestLocked(p *peer, c *control) {
	switch c.Op {
	case "sub":
		if _, ok := p.filters[c.Filter]; !ok && topic.ValidateFilter(c.Filter) == nil {
			p.filters[c.Filter] = struct{}{}
			n.remote.Subscribe(p.name, c.Filter, topic.Options{})
		}
	case "unsub":
		if _, ok := p.filters[c.Filter]; ok {
			delete(p.filters, c.Filter)
			n.remote.Unsubscribe(p.name, c.Filter)
		}
	case "sync":
		want := make(map[string]struct{}, len(c.Filters))
		for _, f := range c.Filters {
			if topic.ValidateFilter(f) == nil {
				want[f] = struct{}{}
			}
		}
		for f := range p.filters {
			if _, ok := want[f]; !ok {
				delete(p.filters, f)
				n.remote.Unsubscribe(p.name, f)
			}
		}
		for f := range want {
			if _, ok := p.filters[f]; !ok {
				p.filters[f] = struct{}{}
				n.remote.Subscribe(p.name, f, topic.Options{})
			}
		}
	}
}

// target is a peer a message goes to, with the shared groups it serves.
type target struct {
	p      *peer
	shared []string
	match  bool // it has subscribers for the message, beyond retaining it
}

// Forward is part of broker.Relay.
func (n *Node) Forward(rm *broker.RelayedMessage) (int, func(string) bool, func() error, error) {
	if (rm.QoS > 0 || rm.Retain) && !n.quorate() {
		return 0, nil, nil, n.errNoQuorum()
	}
	if rm.QoS > 0 {
		// The filters of a lost node's sessions are gone from here until
		// the node taking them over announces them: a message for them
		// waits for that rather than finding no subscriber, and is
		// refused if it is not done in time.
		if err := n.waitAdoptions(); err != nil {
			return 0, nil, nil, err
		}
	}
	if n.live.Load() == 0 {
		return 0, nil, nil, nil
	}
	mt := n.matches.Get().(*topic.Matches[string])
	defer func() { mt.Reset(); n.matches.Put(mt) }()
	n.remote.Match(rm.Topic, mt)
	if len(mt.Subs) == 0 && len(mt.Shared) == 0 && !rm.Retain {
		return 0, nil, nil, nil
	}
	var targets []target
	n.mu.Lock()
	at := func(name string) *target {
		for i := range targets {
			if targets[i].p.name == name {
				return &targets[i]
			}
		}
		p := n.peers[name]
		if p == nil {
			return nil
		}
		targets = append(targets, target{p: p})
		return &targets[len(targets)-1]
	}
	for _, s := range mt.Subs {
		if t := at(s.Key); t != nil {
			t.match = true
		}
	}
	var elsewhere []string
	for _, g := range mt.Shared {
		s, ok := g.Pick(func(name string) bool { return name == n.self || n.peers[name] != nil })
		if !ok || s.Key == n.self {
			continue
		}
		if t := at(s.Key); t != nil {
			key := "$share/" + g.Name() + "/" + g.Filter()
			t.shared = append(t.shared, key)
			t.match = true
			elsewhere = append(elsewhere, key)
		}
	}
	if rm.Retain {
		// Every node keeps every retained message.
		for name := range n.peers {
			at(name)
		}
	}
	var ws []*waiter
	var err error
	for i := range targets {
		t := &targets[i]
		m := *rm
		m.Shared = t.shared
		b, e := n.encode(nil, &m)
		if e != nil {
			err = e
			break
		}
		n.forwarded.Add(1)
		if rm.QoS == 0 {
			// MQTT orders messages per topic and QoS: QoS 0 ones go
			// apart, where they may be dropped. Retained ones, which
			// every node keeps, go with the others.
			subject := t.p.subject + "msg0"
			if rm.Retain {
				subject = t.p.subject + msgSubject
			}
			if e := n.nc.Publish(subject, b); e != nil {
				n.log.Warn(fmt.Sprintf("Cluster: sending to node %s: %v.", t.p.name, e))
			}
			continue
		}
		ws = append(ws, n.sendAckedLocked(t.p, b))
	}
	n.mu.Unlock()
	if err != nil {
		for _, w := range ws {
			w.abandon()
		}
		return 0, nil, nil, err
	}
	matched := 0
	for _, t := range targets {
		if t.match {
			matched++
		}
	}
	var local func(string) bool
	if len(elsewhere) > 0 {
		local = func(g string) bool { return !slices.Contains(elsewhere, g) }
	}
	var wait func() error
	if len(ws) > 0 {
		name := rm.Topic
		wait = func() error { return waitAll(ws, name) }
	}
	return matched, local, wait, nil
}

// waitAll waits for the answers of every node a QoS 1/2 message on
// topic name went to. A node lost meanwhile is no refusal (its
// subscribers went with it) while this node keeps its quorum, unless
// persistent sessions taken over from it may have wanted the message:
// they may have missed it, and the publisher is told.
func waitAll(ws []*waiter, name string) error {
	var err error
	for _, w := range ws {
		b, e := w.wait()
		switch {
		case errors.Is(e, errPeerLost):
			if !w.n.quorate() {
				// Cut off rather than gone, maybe: its subscribers
				// may be there still.
				err = w.n.errNoQuorum()
			} else if w.n.rep != nil && w.n.lostMayHaveWanted(w.p.name, name) {
				err = fmt.Errorf("node %s was lost before it took the message, which its persistent sessions may want", w.p.name)
			}
		case e != nil:
			err = e
		case len(b) > 0:
			err = fmt.Errorf("node %s: %s", w.p.name, b)
		}
	}
	return err
}

// handleMessage delivers the QoS 1/2 and retained messages a peer
// forwarded, in the order it sent them, each answered once delivered
// (and durable here, with persistence on), cumulatively (acks.go).
func (n *Node) handleMessage(m *nats.Msg) {
	if strings.HasPrefix(m.Subject[len(n.own):], replySubject) {
		// A reply comes after what its sender forwarded before it.
		n.settle()
		n.handleReply(m)
		return
	}
	if testHookRelayed != nil && !testHookRelayed(n) {
		return
	}
	rm, err := n.decode(m.Data)
	if err != nil {
		n.took(m.Reply, nil, err)
		return
	}
	n.relayed.Add(1)
	n.took(m.Reply, n.srv.PrepareRelayed(rm), nil)
}

// testHookRelayed, when set by a test, is asked before node n delivers
// a QoS 1/2 or retained message a peer forwarded; false drops it
// unanswered, as a node that dies then would.
var testHookRelayed func(n *Node) bool

// handleMessage0 delivers the QoS 0 messages a peer forwarded, in order.
func (n *Node) handleMessage0(m *nats.Msg) { _ = n.deliverRelayed(m) }

func (n *Node) deliverRelayed(m *nats.Msg) error {
	rm, err := n.decode(m.Data)
	if err == nil {
		n.relayed.Add(1)
		_, err = n.srv.DeliverRelayed(rm)
	}
	if err != nil {
		n.log.Warn(fmt.Sprintf("Cluster %s: a message from another node was not delivered: %v.", n.cfg.Name, err))
	}
	return err
}

// Claim is part of broker.Relay: every peer ends its session of the
// client id; the one that had it sends it along when resume is set. A
// peer that cannot be asked in time refuses the connection: two sessions
// of one client id would diverge.
func (n *Node) Claim(clientID string, resume bool) (*broker.SessionState, error) {
	return n.claim(clientID, resume, true)
}

func (n *Node) claim(clientID string, resume, again bool) (*broker.SessionState, error) {
	if !n.quorate() {
		return nil, n.errNoQuorum()
	}
	n.cancelWill(clientID)
	if n.live.Load() == 0 {
		return nil, nil
	}
	// A session that was on a lost node is where its take-over put it.
	if err := n.waitAdoptions(); err != nil {
		return nil, err
	}
	c := n.controlMsg("claim")
	c.Client, c.Resume = clientID, resume
	b, _ := json.Marshal(c)
	n.mu.Lock()
	var ws []*waiter
	for _, p := range n.peers {
		ws = append(ws, n.requestLocked(p, "ctl", b))
	}
	n.mu.Unlock()
	var st *broker.SessionState
	var err error
	lost := false
	for _, w := range ws {
		b, e := w.wait()
		if errors.Is(e, errPeerLost) {
			lost = true
			continue
		}
		if e != nil {
			err = fmt.Errorf("cluster: claiming the session: %w", e)
			continue
		}
		var r controlReply
		if e := json.Unmarshal(b, &r); e != nil {
			err = fmt.Errorf("cluster: claiming the session: node %s: %w", w.p.name, e)
			continue
		}
		if r.Err != "" {
			n.log.Warn(fmt.Sprintf("Cluster %s: the session of %s from node %s: %s.", n.cfg.Name, clientID, w.p.name, r.Err))
		}
		if r.Session != nil {
			s, e := decodeSession(r.Session)
			if e != nil {
				n.log.Warn(fmt.Sprintf("Cluster %s: the session of %s from node %s: %v.", n.cfg.Name, clientID, w.p.name, e))
				continue
			}
			st = s
		}
	}
	if err != nil {
		return nil, err
	}
	if st == nil && lost && n.rep != nil && again {
		// The node lost while it was asked may have held the session:
		// ask again once it was taken over.
		return n.claim(clientID, resume, false)
	}
	return st, nil
}

func encodeSession(st *broker.SessionState) (*sessionState, error) {
	ws := &sessionState{Version: st.Version, Username: st.Username, Expiry: st.ExpiryInterval, Subs: st.Subscriptions, LastID: st.LastPacketID}
	var err error
	for i := range st.Messages {
		b, e := appendMessage(nil, &st.Messages[i])
		if e != nil {
			err = e
			continue
		}
		ws.Messages = append(ws.Messages, b)
		if i < len(st.Delivery) {
			ws.Delivery = append(ws.Delivery, st.Delivery[i])
		}
	}
	return ws, err
}

func decodeSession(ws *sessionState) (*broker.SessionState, error) {
	st := &broker.SessionState{Version: ws.Version, Username: ws.Username, ExpiryInterval: ws.Expiry, Subscriptions: ws.Subs, Delivery: ws.Delivery, LastPacketID: ws.LastID}
	for _, b := range ws.Messages {
		m, err := decodeMessage(b)
		if err != nil {
			return nil, err
		}
		st.Messages = append(st.Messages, *m)
	}
	return st, nil
}

// retainedFrom returns a page of the retained messages here, from the
// page-th message on, and whether more follow.
func (n *Node) retainedFrom(page int) ([][]byte, bool) {
	var out [][]byte
	size, i, more := 0, 0, false
	_ = n.srv.Retained("#", func(r broker.RetainedMessage) bool {
		if i++; i <= page {
			return true
		}
		if size >= retainedPage {
			more = true
			return false
		}
		m := &broker.RelayedMessage{Topic: r.Topic, Payload: r.Payload, QoS: r.QoS, Retain: true, Properties: r.Properties, Origin: r.Publisher, Source: r.Source}
		if !r.Expires.IsZero() {
			m.Properties.MessageExpiry = uint32(max(1, (time.Until(r.Expires)+time.Second-1)/time.Second))
		}
		b, err := n.encode(nil, m)
		if err != nil {
			return true
		}
		out = append(out, b)
		size += len(b)
		return true
	})
	return out, more
}

// fetchRetained copies a peer's retained messages that this node lacks
// (replace: and those that differ), when it first joins a peer and
// when it rejoins after losing quorum.
func (n *Node) fetchRetained(p *peer, replace bool) {
	added, page := 0, 0
	for {
		c := n.controlMsg("retained")
		c.Page = page
		r, err := n.ask(p, c)
		if err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: fetching the retained messages from node %s: %v.", n.cfg.Name, p.name, err))
			return
		}
		for _, mb := range r.Retained {
			page++
			m, err := n.decode(mb)
			if err != nil {
				continue
			}
			if ok, err := n.srv.AddRetained(m, replace); err != nil {
				n.log.Warn(fmt.Sprintf("Cluster %s: %v.", n.cfg.Name, err))
			} else if ok {
				added++
			}
		}
		if !r.More || len(r.Retained) == 0 {
			break
		}
	}
	n.log.Info(fmt.Sprintf("Cluster %s: %d retained messages from node %s.", n.cfg.Name, added, p.name))
}
