package broker

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/topic"
)

// A Relay joins this server's routing to other servers': a program that
// makes several servers act as one broker (a cluster) learns of the
// local subscriptions, sees every message routed here before its
// publisher is answered, and hands what other servers route to
// DeliverRelayed. Set it with Options.Relay; without one the server
// routes to its own sessions only.
//
// Topics starting with '$' ($SYS, $CONTROL) are this server's own and
// never pass through a Relay.
type Relay interface {
	// Subscribed is called when a session gains a subscription to
	// filter ($share/group/... for a shared one) and Unsubscribed when
	// it loses one: a count per filter, not per session, is the relay's
	// to keep. SUBACK waits for Subscribed, so that a message published
	// anywhere after it reaches the new subscription. Unsubscribed must
	// not block: it is called with the server's locks held.
	Subscribed(filter string)
	Unsubscribed(filter string)

	// Forward takes a message published here (by a client, a will or
	// Publish) to the other servers, before anything is delivered here.
	// It sends at once and does not wait: for QoS 1 and 2, wait (nil when
	// no server must answer) returns once every server that must deliver
	// the message has it, and the publisher is acknowledged only then, so
	// that its acknowledgement means what it does on one server. An error
	// from Forward or wait refuses the message as a failing store would.
	// Messages forwarded one after another reach every server in that
	// order, whether or not the earlier ones' waits have returned: a
	// connection forwards what it has read before waiting for any of it.
	// Forward returns how many servers have matching subscriptions (for
	// v5's No matching subscribers) and, when some shared groups are
	// served elsewhere, which ones stay here: local reports whether the
	// group named by its $share/group/filter string gets its copy on this
	// server (nil: every group does).
	Forward(m *RelayedMessage) (remote int, local func(shared string) bool, wait func() error, err error)

	// Claim is called when a client connects, before its session is
	// looked up here: a session of the same client id elsewhere ends (its
	// connection is told the session was taken over), and what it held
	// comes back to be continued here when the client asked to resume
	// it (nil if there was nothing to resume).
	Claim(clientID string, resume bool) (*SessionState, error)
}

// WillKeeper is a Relay that keeps the wills of this server's connected
// clients on the other servers, so that one of them publishes a will if
// this server is lost with the client's connection, as this server would
// have published it had only the connection been lost. HoldWill is called
// once a client with a will is connected (Seq numbers the connection's
// will, growing), DropWill once that connection has ended and this server
// has done what it does with the will (published it, kept it for its
// delay, or deleted it). Neither may block.
type WillKeeper interface {
	HoldWill(w *HeldWill)
	DropWill(clientID string, seq uint64)
}

// HeldWill is the will of a client connected to a server, as another
// server keeps it.
type HeldWill struct {
	ClientID string
	Seq      uint64
	// Message is the will, with Origin the client id and Source who
	// connected (for the right to publish it).
	Message RelayedMessage
	// Delay is the Will Delay Interval and Expiry the Session Expiry
	// Interval, in seconds: the will is due after the shorter of the two.
	Delay, Expiry uint32
}

// Due is how long after the loss of its connection the will is published
// (MQTT 5.0 section 3.1.3.2.2).
func (w *HeldWill) Due() time.Duration {
	return time.Duration(min(w.Delay, w.Expiry)) * time.Second
}

// holdWill gives the will of c, just connected, to the WillKeeper if the
// Relay is one. Called on c's reader.
func (s *Server) holdWill(c *conn) {
	k, ok := s.opts.Relay.(WillKeeper)
	w := c.will.Load()
	if !ok || w == nil {
		return
	}
	c.heldWill = s.heldWills.Add(1)
	c.sess.mu.Lock()
	expiry := s.effectiveExpiry(c.sess)
	c.sess.mu.Unlock()
	m := w.msg // its source is the connection's ClientInfo
	k.HoldWill(&HeldWill{
		ClientID: c.clientID,
		Seq:      c.heldWill,
		Message:  RelayedMessage{Topic: m.topic, Payload: m.payload, QoS: m.qos, Retain: m.retain, Properties: *m.properties(), Origin: m.origin, Source: publisherOf(m)},
		Delay:    w.delay,
		Expiry:   expiry,
	})
}

// dropHeldWill tells the WillKeeper that c's connection has ended.
func (s *Server) dropHeldWill(c *conn) {
	if c.heldWill == 0 {
		return
	}
	if k, ok := s.opts.Relay.(WillKeeper); ok {
		k.DropWill(c.clientID, c.heldWill)
	}
	c.heldWill = 0
}

// PublishWill publishes the will of a client that was connected to
// another server, lost with its connection, as publishWill does here:
// not to a topic reserved for the broker, and only if the client may
// publish it (its listener by name, as on the server it was connected to).
func (s *Server) PublishWill(w *HeldWill) {
	m := relayedMessage(&w.Message, time.Now())
	var info *ClientInfo
	if src := w.Message.Source; src != nil {
		info = &ClientInfo{ClientID: w.ClientID, Username: src.Username, HasUsername: src.HasUsername, Listener: s.listenerNamed(src.Listener)}
		m.source = info
	}
	s.publishWill(m, info)
}

// RelayedMessage is a message as it passes between servers.
type RelayedMessage struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties are the v5 properties forwarded to subscribers; the
	// Message Expiry Interval is the time left when it was forwarded.
	Properties packet.Properties
	// Origin is the client id of the publisher, for No Local.
	Origin string
	// Shared, when set on a message handed to DeliverRelayed, names the
	// shared subscriptions ($share/group/filter) this server delivers
	// to: the sending server chose this one for them. Other shared
	// groups here get nothing from this copy.
	Shared []string
	// Source, on a retained message whose publisher is known, is who
	// published it, for check_retain_source where it is delivered.
	Source *MessageSource
}

// MessageSource is the publisher of a retained message as another server
// knows it: its listener by name, as after a restart.
type MessageSource struct {
	Username    string
	HasUsername bool
	Listener    string
}

// sourceOf is the MessageSource of a retained message, nil if unknown.
func sourceOf(m *message) *MessageSource {
	if !m.retain {
		return nil
	}
	return publisherOf(m)
}

// publisherOf is the MessageSource of m's publisher, nil if unknown.
func publisherOf(m *message) *MessageSource {
	src := m.source
	if src == nil {
		return nil
	}
	ms := &MessageSource{Username: src.Username, HasUsername: src.HasUsername, Listener: m.sourceListener}
	if src.Listener != nil {
		ms.Listener = src.Listener.Name
	}
	return ms
}

// relayedMessage builds the message of rm, from another server, as
// received at now.
func relayedMessage(rm *RelayedMessage, now time.Time) *message {
	p := &packet.Publish{Topic: rm.Topic, Payload: rm.Payload, QoS: rm.QoS, Retain: rm.Retain, Properties: rm.Properties}
	m := newMessage(p, rm.Origin, now)
	if src := rm.Source; src != nil {
		m.source = &ClientInfo{ClientID: rm.Origin, Username: src.Username, HasUsername: src.HasUsername}
		m.sourceListener = src.Listener
	}
	return m
}

// SessionState is what a session held when it moved between servers:
// its subscriptions and the messages it had not delivered or that were
// awaiting acknowledgement, in order.
type SessionState struct {
	Version        byte
	Username       string
	ExpiryInterval uint32
	Subscriptions  []SessionSubscription
	// Messages are those in flight, in the order they were sent, then
	// those queued. Delivery says where each stands (a message without
	// its entry is queued without a packet id).
	Messages []RelayedMessage
	Delivery []SessionDelivery
	// LastPacketID is the packet id the session gave last: the next
	// message gets the one after it, as on one server.
	LastPacketID uint16
}

// SessionDelivery is where one message of a moving session stands.
type SessionDelivery struct {
	// PacketID is the id the message was sent with, or is to be sent
	// with (given when it was queued); 0 for none yet.
	PacketID uint16
	State    DeliveryState
}

// DeliveryState is a message's step in its QoS handshake with the client.
type DeliveryState byte

const (
	DeliveryQueued   DeliveryState = iota // not sent yet
	DeliverySent                          // PUBLISH sent, not acknowledged: sent again with DUP when the session resumes
	DeliveryReleased                      // QoS 2: PUBREC received and PUBREL sent: the PUBREL is sent again
)

// SessionSubscription is one subscription of a moving session.
type SessionSubscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	SubscriptionID    uint32
}

// relayable reports whether a topic passes between servers.
func relayable(name string) bool { return !strings.HasPrefix(name, "$") }

// forward passes a message published here to the Relay, once: it
// records how many servers elsewhere deliver it and returns what waits
// for their acknowledgement (nil: nothing to wait for). prepareRoute
// forwards and waits for a message not forwarded yet; a connection
// forwards what it reads ahead and waits later (see conn.settleAhead).
func (s *Server) forward(m *message) (func() error, error) {
	rl := s.opts.Relay
	if m.forwarded {
		return nil, nil
	}
	m.forwarded = true
	if rl == nil || m.relayed || !relayable(m.topic) {
		return nil, nil
	}
	rm := &RelayedMessage{Topic: m.topic, Payload: m.payload, QoS: m.qos, Retain: m.retain, Properties: *m.properties(), Origin: m.origin, Source: sourceOf(m)}
	if m.expiry != 0 {
		rm.Properties.MessageExpiry = m.remainingExpiry(time.Now())
	}
	n, local, wait, err := rl.Forward(rm)
	if err != nil {
		return nil, fmt.Errorf("forwarding to the cluster: %w", err)
	}
	m.remote, m.sharedHere = n, local
	if wait == nil {
		return nil, nil
	}
	return wrapForwardWait(wait), nil
}

// wrapForwardWait says where a wait's error comes from.
func wrapForwardWait(wait func() error) func() error {
	return func() error {
		if err := wait(); err != nil {
			return fmt.Errorf("forwarding to the cluster: %w", err)
		}
		return nil
	}
}

// DeliverRelayed routes a message another server forwarded to the
// subscriptions here (and the retained store), without forwarding it
// again. With a store, what the local sessions must not lose of it is
// durable when it returns, as for a message published here. When the
// message leaves its receivers' queues congested it returns only once
// one drains (at most a quarter second, see pacing.go), so that the
// caller, taking one message after another, paces the servers it
// relays for.
func (s *Server) DeliverRelayed(rm *RelayedMessage) (int, error) {
	return s.PrepareRelayed(rm).Finish()
}

// toRelayed checks a relayed message and makes it the broker's.
func toRelayed(rm *RelayedMessage) (*message, error) {
	if err := topic.ValidateName(rm.Topic); err != nil {
		return nil, fmt.Errorf("relayed message to %q: %w", rm.Topic, err)
	}
	if rm.QoS > 2 {
		return nil, fmt.Errorf("relayed message to %q: QoS %d out of range", rm.Topic, rm.QoS)
	}
	m := relayedMessage(rm, time.Now())
	m.relayed = true
	if rm.Shared != nil {
		only := make(map[string]bool, len(rm.Shared))
		for _, g := range rm.Shared {
			only[g] = true
		}
		m.sharedHere = func(g string) bool { return only[g] }
	} else {
		m.sharedHere = func(string) bool { return false }
	}
	return m, nil
}

// RelayedDelivery is a message another server forwarded, matched by
// PrepareRelayed and delivered by its Finish.
type RelayedDelivery struct {
	s   *Server
	m   *message // nil after an error
	r   *router  // nil: Finish routes m whole (a retained message)
	p   pending
	n   int
	err error
}

// PrepareRelayed is DeliverRelayed in two halves, for a stream of
// messages from another server: it matches the message and queues what
// the local sessions must not lose of it for the store, without waiting
// for the store; Finish waits, then delivers it and returns what
// DeliverRelayed would. Messages prepared one after the other and
// finished in the same order are stored together, where DeliverRelayed
// waits for each before the caller can take the next: so the store's
// round trip is paid once per burst, not once per message. Nothing is
// delivered or durable before Finish returns; every delivery prepared
// must be finished, in order. A retained message is routed whole by its
// Finish (the retained store is updated in the order of the matches):
// finish it before preparing the next.
func (s *Server) PrepareRelayed(rm *RelayedMessage) *RelayedDelivery {
	d := &RelayedDelivery{s: s}
	d.m, d.err = toRelayed(rm)
	if d.err != nil || d.m.retain {
		return d
	}
	d.r, d.n, d.p = s.matchAndQueue(d.m)
	return d
}

// Retained reports whether the message prepared is a retained one,
// which Finish routes whole.
func (d *RelayedDelivery) Retained() bool { return d.m != nil && d.m.retain }

// Finish waits until what PrepareRelayed queued for the store is
// durable, then delivers the message, pacing as DeliverRelayed does.
func (d *RelayedDelivery) Finish() (int, error) {
	s := d.s
	if d.err != nil {
		return 0, d.err
	}
	var congested *session
	if d.r == nil {
		var err error
		if d.n, congested, err = s.route(d.m, nil); err != nil {
			return 0, err
		}
	} else {
		if err := s.awaitStored(d.r, d.m, &d.p); err != nil {
			return 0, err
		}
		congested = s.finishRoute(d.r, d.m)
	}
	if congested != nil {
		s.pace(&s.relayPacing, congested)
	}
	return d.n, nil
}

// relaySubscribed and relayUnsubscribed tell the Relay of a session's
// subscription change.
func (s *Server) relaySubscribed(filter string) {
	if rl := s.opts.Relay; rl != nil {
		rl.Subscribed(filter)
	}
}

func (s *Server) relayUnsubscribed(filter string) {
	if rl := s.opts.Relay; rl != nil {
		rl.Unsubscribed(filter)
	}
}

// Handover ends the session of client id here because the client is
// connecting to another server: its connection, if any, is closed as a
// takeover closes it (5.0: DISCONNECT 0x8E Session taken over). When
// resume is set and the session was to outlive its connection, what it
// held is returned for the other server to continue (see SessionState):
// its subscriptions, and the messages queued for it or in flight and not
// yet acknowledged at the PUBLISH level. Otherwise its will is published
// as a takeover here would publish it, and nil is returned.
func (s *Server) Handover(id string, resume bool) *SessionState {
	s.mu.Lock()
	sess := s.sessions[id]
	if sess == nil {
		s.mu.Unlock()
		return nil
	}
	sess.mu.Lock()
	old := sess.conn
	var oldWill *willMsg
	if old != nil {
		oldWill = old.will.Swap(nil)
	}
	sess.conn = nil
	sess.online.Store(false)
	sess.relieve()
	s.dropStoredWill(sess, sess.stopTimers())
	keep := resume && !sess.ended && sess.expiry != 0
	var st *SessionState
	if keep {
		st = exportSession(sess)
	}
	if !sess.ended {
		sess.ended = true
		s.dropStoredSession(sess)
	}
	sess.mu.Unlock()
	delete(s.sessions, id)
	orphans := s.removeSubscriptions(sess)
	s.mu.Unlock()
	if old != nil {
		if oldWill != nil && !keep && oldWill.delay == 0 {
			s.publishWill(oldWill.msg, old.info)
		}
		s.log.Notice(fmt.Sprintf("Client %s is connecting to another node, closing its connection here.", id))
		s.wg.Go(func() { old.kick(packet.SessionTakenOver) })
	}
	if !keep {
		// The shared groups' messages the session held go to other
		// members; a kept session takes its own along.
		s.redeliverShared(orphans)
	}
	return st
}

// exportSession is the SessionState of sess. Called with sess.mu held.
func exportSession(sess *session) *SessionState {
	st := &SessionState{Version: sess.version, ExpiryInterval: sess.expiry}
	if sess.info != nil {
		st.Username = sess.info.Username
	}
	for f, o := range sess.subs {
		st.Subscriptions = append(st.Subscriptions, SessionSubscription{
			Filter: f, QoS: o.QoS, NoLocal: o.NoLocal, RetainAsPublished: o.RetainAsPublished,
			RetainHandling: o.RetainHandling, SubscriptionID: o.SubscriptionID,
		})
	}
	st.LastPacketID = sess.nextID
	now := time.Now()
	add := func(d delivery, id uint16, state DeliveryState) {
		m := d.msg
		if state != DeliveryReleased && m.expired(now) {
			return
		}
		rm := RelayedMessage{Topic: m.topic, Payload: m.payload, QoS: d.qos, Retain: d.retain, Properties: *m.properties(), Origin: m.origin}
		if state == DeliveryReleased {
			rm.Payload, rm.Properties = nil, packet.Properties{} // only the PUBREL is left to send
		} else if m.expiry != 0 {
			rm.Properties.MessageExpiry = m.remainingExpiry(now)
		}
		rm.Properties.SubscriptionIDs = d.subIDs
		st.Messages = append(st.Messages, rm)
		st.Delivery = append(st.Delivery, SessionDelivery{PacketID: id, State: state})
	}
	for _, f := range sess.inflightOrdered() {
		if f.state == awaitPubcomp {
			add(f.delivery, f.id, DeliveryReleased)
		} else {
			add(f.delivery, f.id, DeliverySent)
		}
	}
	for _, d := range sess.queue {
		add(d, d.pid, DeliveryQueued)
	}
	return st
}

// adopt continues here a session another server handed over, as a
// disconnected session the connecting client then resumes. A session of
// the same id here already wins.
func (s *Server) adopt(id string, st *SessionState) {
	now := time.Now()
	s.mu.Lock()
	if s.sessions[id] != nil {
		s.mu.Unlock()
		return
	}
	sess := newSession(id)
	sess.version = st.Version
	sess.expiry = st.ExpiryInterval
	sess.disconnectedAt = now
	sess.info = &ClientInfo{ClientID: id, Username: st.Username, HasUsername: st.Username != "", ProtocolVersion: st.Version}
	sess.subs = make(map[string]topic.Options, len(st.Subscriptions))
	for _, sub := range st.Subscriptions {
		sess.subs[sub.Filter] = topic.Options{QoS: sub.QoS, NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, SubscriptionID: sub.SubscriptionID}
	}
	s.sessions[id] = sess
	s.mu.Unlock()
	for f, o := range sess.subs {
		if !s.indexSubscribe(sess, f, o) {
			s.relaySubscribed(f)
		}
	}
	sess.mu.Lock()
	stored := s.storeSession(sess)
	sess.mu.Unlock()
	if stored != nil {
		if err := stored.wait(); err != nil {
			s.log.Error(fmt.Sprintf("Error: persistence: storing the session of %s taken over from another node: %v.", id, err))
		}
	}
	// The messages take the places they had: the session resumes here as
	// it would have resumed there (the in-flight ones sent again with
	// DUP, the PUBRELs sent again, the queued ones with their ids).
	var commits []*commit
	sess.mu.Lock()
	sess.nextID = st.LastPacketID
	for i := range st.Messages {
		rm := &st.Messages[i]
		var dl SessionDelivery
		if i < len(st.Delivery) {
			dl = st.Delivery[i]
		}
		m := relayedMessage(rm, now)
		sess.seq++
		o := store.Outgoing{Seq: sess.seq, PacketID: dl.PacketID, State: store.StateQueued, QoS: rm.QoS, Retain: rm.Retain, SubIDs: rm.Properties.SubscriptionIDs}
		if dl.PacketID != 0 && rm.QoS > 0 && sess.inflight[dl.PacketID] == nil {
			switch {
			case dl.State == DeliveryReleased && rm.QoS == 2:
				o.State = store.StateAwaitPubcomp
			case dl.State == DeliverySent && rm.QoS == 1:
				o.State = store.StateAwaitPuback
			case dl.State == DeliverySent:
				o.State = store.StateAwaitPubrec
			}
		}
		stored := sess.stored && rm.QoS > 0
		s.restoreOutgoing(sess, &o, m, stored)
		if stored {
			o.Message = *toStored(m)
			commits = append(commits, s.journal.add(store.PutOutgoing(id, &o)))
		}
	}
	sess.mu.Unlock()
	for _, c := range commits {
		if err := c.wait(); err != nil {
			s.log.Error(fmt.Sprintf("Error: persistence: storing the messages of %s taken over from another node: %v.", id, err))
			break
		}
	}
}

// AddRetained keeps rm as the retained message of its topic without
// publishing it, unless the topic has one already and replace is false:
// it is how a server joining others learns the retained messages set
// before it joined (replace: while it was cut off from them). With a
// store, the message is durable when it returns true.
func (s *Server) AddRetained(rm *RelayedMessage, replace bool) (bool, error) {
	if err := topic.ValidateName(rm.Topic); err != nil {
		return false, fmt.Errorf("retained message to %q: %w", rm.Topic, err)
	}
	if len(rm.Payload) == 0 || !relayable(rm.Topic) {
		return false, nil
	}
	m := relayedMessage(rm, time.Now())
	m.retain = true
	s.retainMu.Lock()
	defer s.retainMu.Unlock()
	if old, ok := s.retained.Get(rm.Topic); ok && (!replace || old.qos == m.qos && bytes.Equal(old.payload, m.payload)) {
		return false, nil
	}
	if s.journal != nil {
		if err := s.journal.add(store.PutRetained(toStored(m))).wait(); err != nil {
			return false, fmt.Errorf("storing the retained message of %q: %w", rm.Topic, err)
		}
	}
	s.retained.Set(rm.Topic, m)
	return true, nil
}
