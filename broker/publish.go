package broker

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/topic"
)

// handlePublish handles a PUBLISH from the client.
func (c *conn) handlePublish(p *packet.Publish, wire []byte) error {
	s := c.srv
	nth := s.stats.pubRecv[min(p.QoS, 2)].Add(1)
	s.stats.pubBytesRecv[min(p.QoS, 2)].Add(int64(len(p.Payload)))

	if p.QoS > c.l.MaxQoS {
		// [MQTT-3.2.2-11] a QoS above Maximum QoS.
		return &packet.Error{Reason: packet.QoSNotSupported, Msg: fmt.Sprintf("QoS %d above maximum %d", p.QoS, c.l.MaxQoS)}
	}
	if p.Retain && !s.opts.RetainAvailable {
		// [MQTT-3.2.2-14]
		return &packet.Error{Reason: packet.RetainNotSupported, Msg: "retain not available"}
	}
	if c.version == packet.V5 {
		if p.Properties.Has(packet.PropSubscriptionID) {
			// [MQTT-3.3.4-6] only the server sets subscription identifiers.
			return &packet.Error{Reason: packet.ProtocolError, Msg: "PUBLISH from client with a subscription identifier"}
		}
		if err := c.resolveAlias(p); err != nil {
			return err
		}
	}
	if err := topic.ValidateName(p.Topic); err != nil {
		// Beyond the wildcards the codec refuses: Mosquitto's limit of
		// topic levels (topic.MaxLevels).
		return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("invalid topic name: %v", err)}
	}
	// Everything past this point, ACLs included, sees the mounted topic.
	p.Topic = c.mount(p.Topic)
	if p.QoS == 2 {
		// Its PUBREC follows the acknowledgements of what was read
		// ahead of it.
		if err := c.settleAhead(); err != nil {
			return err
		}
		c.sess.mu.Lock()
		held, known := c.sess.inbound[p.PacketID]
		n := len(c.sess.inbound)
		c.sess.mu.Unlock()
		switch {
		case known && (held == nil || held.samePublish(p)):
			// Already received: answer again, keep nothing [MQTT-4.3.3-10].
			// A client may send it once more (it may have missed the
			// PUBREC); a third time on one connection, before PUBREL, it
			// is a protocol error, as Mosquitto counts them.
			if c.inboundRepeats == nil {
				c.inboundRepeats = make(map[uint16]uint8)
			}
			if c.inboundRepeats[p.PacketID]++; c.inboundRepeats[p.PacketID] > 1 {
				return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("QoS 2 PUBLISH %d sent a third time before PUBREL", p.PacketID)}
			}
			c.sendAck(packet.PUBREC, p.PacketID, packet.Success)
			return nil
		case known:
			// A new message under a packet id still awaiting PUBREL: it
			// replaces the one held, as in Mosquitto.
			s.log.Warn(fmt.Sprintf("Reused message ID %d from %s detected. Clearing from storage.", p.PacketID, c.clientID))
			delete(c.inboundRepeats, p.PacketID)
		case c.version == packet.V5 && s.opts.MaxInflightMessages > 0 && n >= s.opts.MaxInflightMessages:
			// [MQTT-3.3.4-9] more unacknowledged QoS 2 than Receive Maximum.
			return &packet.Error{Reason: packet.ReceiveMaximumExceeded, Msg: "receive maximum exceeded"}
		}
	}

	reason := packet.Success
	switch {
	case s.opts.MessageSizeLimit > 0 && len(p.Payload) > s.opts.MessageSizeLimit:
		if err := c.settleAhead(); err != nil {
			return err
		}
		s.log.Debug(fmt.Sprintf("Dropped too large PUBLISH from %s (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))",
			c.clientID, b2i(p.Dup), p.QoS, b2i(p.Retain), p.PacketID, p.Topic, len(p.Payload)))
		reason = packet.PacketTooLarge
	case !s.authorize(c.info, p.Topic, AccessWrite) || isReservedForBroker(p.Topic):
		if err := c.settleAhead(); err != nil {
			return err
		}
		// Denied publishes are acknowledged and dropped, as Mosquitto does.
		s.log.Debug(fmt.Sprintf("Denied PUBLISH from %s (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))",
			c.clientID, b2i(p.Dup), p.QoS, b2i(p.Retain), p.PacketID, p.Topic, len(p.Payload)))
		reason = packet.NotAuthorized
		s.stats.denied.Add(1)
	case isControl(p.Topic):
		if err := c.settleAhead(); err != nil {
			return err
		}
		// A request to a control API, answered on its response topic and
		// never routed. Handled on receipt, QoS 2 included, as Mosquitto.
		c.handleControl(p.Topic, p.Payload)
	default:
		if s.log.debugEnabled() {
			s.log.Debug(fmt.Sprintf("Received PUBLISH from %s (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))",
				c.clientID, b2i(p.Dup), p.QoS, b2i(p.Retain), p.PacketID, p.Topic, len(p.Payload)))
		}
		// The clock is read only for a message expiry interval: for
		// every PUBLISH it was 2% of the CPU of 100 QoS 0 pairs.
		var now time.Time
		if p.Properties.Has(packet.PropMessageExpiry) {
			now = time.Now()
		}
		m := newMessage(p, c.clientID, now)
		m.source = c.info
		if wire != nil && c.l.MountPoint == "" {
			m.wire, m.wireV5 = wire, c.version == packet.V5
		}
		if nth%deliverSample == 0 {
			m.recvAt = monotime()
		}
		if p.QoS == 2 {
			// Held until PUBREL releases it, as Mosquitto delivers QoS 2
			// messages: a message sent again under the same id before
			// then is recognised, and the client may replace it.
			if err := c.holdInbound(p.PacketID, m); err != nil {
				s.log.Error(fmt.Sprintf("Error: %v; PUBLISH from %s refused.", err, c.clientID))
				if c.version != packet.V5 {
					return &packet.Error{Reason: packet.UnspecifiedError, Msg: "the store could not keep the message"}
				}
				reason = storeFailureReason(err)
			}
			break
		}
		s.gate.await(c, ticketSubscription)
		if s.opts.Relay != nil || s.journal != nil {
			if queued, err := c.readAhead(p.QoS, p.PacketID, m); queued || err != nil {
				return err
			}
		}
		return c.routePublish(m, p.QoS, p.PacketID, nil)
	}
	return c.answerPublish(p.QoS, p.PacketID, nil, nil, reason, true)
}

// routePublish routes a QoS 0 or 1 message the client published (unless
// forwarding it to other servers failed with fwdErr) and answers it.
func (c *conn) routePublish(m *message, qos byte, id uint16, fwdErr error) error {
	var r *router
	n, err := 0, fwdErr
	if err == nil {
		r, n, err = c.srv.prepareRoute(m, nil)
	}
	return c.answerRouted(m, qos, id, r, n, err, true)
}

// answerRouted answers a QoS 0 or 1 message r matched for n receivers
// (err: it could not be forwarded or stored, r is nil) and delivers it.
func (c *conn) answerRouted(m *message, qos byte, id uint16, r *router, n int, err error, reader bool) error {
	s := c.srv
	reason := packet.Success
	switch {
	case err != nil:
		s.log.Error(fmt.Sprintf("Error: %v; PUBLISH from %s refused.", err, c.clientID))
		if qos > 0 && c.version != packet.V5 {
			// 3.x cannot refuse a PUBLISH: close without acknowledging,
			// so the client sends it again after reconnecting.
			return &packet.Error{Reason: packet.UnspecifiedError, Msg: "the store could not keep the message"}
		}
		reason = storeFailureReason(err)
	case n == 0:
		reason = packet.NoMatchingSubscribers
	}
	return c.answerPublish(qos, id, r, m, reason, reader)
}

// answerPublish acknowledges a PUBLISH and delivers the message r has
// routed (r nil: it went nowhere).
func (c *conn) answerPublish(qos byte, id uint16, r *router, m *message, reason packet.ReasonCode, reader bool) error {
	s := c.srv
	if c.version != packet.V5 && reason != packet.Success {
		reason = packet.Success
	}
	// A routed QoS 1 message's PUBACK is held until the message has
	// reached every subscriber (see writer.holdWire).
	switch {
	case qos == 1 && r != nil:
		c.holdAck(packet.PUBACK, id, reason)
	case qos == 1:
		c.sendAck(packet.PUBACK, id, reason)
	case qos == 2:
		c.sendAck(packet.PUBREC, id, reason)
	}
	var congested *session
	if r != nil {
		congested = s.finishRoute(r, m)
		if qos == 1 {
			c.w.letGo()
		}
	}
	if congested != nil && s.awaitRelief(c, congested) && c.keepAlive > 0 && reader {
		// The client's packets behind this one were sent in time; the
		// wait must not count against its keep alive. (The answerer's
		// wait holds up no reading; the reader sets its own deadline.)
		_ = c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
	}
	return nil
}

// storeFailureReason is the v5 reason code refusing a PUBLISH the store
// could not keep: 0x97 Quota exceeded when the disk is full, else 0x80.
func storeFailureReason(err error) packet.ReasonCode {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return packet.QuotaExceeded
	}
	return packet.UnspecifiedError
}

// isReservedForBroker reports topics clients may not publish to: the
// $SYS tree is the broker's own.
//
// As Mosquitto's built-in rules: clients never publish to $SYS, except the
// bridge status topics $SYS/broker/connection/+/state, nor to $share/...,
// which names subscriptions, not topics. Like Mosquitto it compares
// prefixes without a separator.
func isReservedForBroker(t string) bool {
	switch {
	case strings.HasPrefix(t, "$SYS"):
		return !topic.Match("$SYS/broker/connection/+/state", t)
	case strings.HasPrefix(t, "$share"):
		return true
	}
	return false
}

// resolveAlias applies and records v5 topic aliases [MQTT-3.3.2-7..12].
func (c *conn) resolveAlias(p *packet.Publish) error {
	if !p.Properties.Has(packet.PropTopicAlias) {
		if p.Topic == "" {
			return &packet.Error{Reason: packet.ProtocolError, Msg: "empty topic without topic alias"}
		}
		return nil
	}
	alias := p.Properties.TopicAlias
	if alias == 0 || alias > c.l.MaxTopicAlias {
		return &packet.Error{Reason: packet.TopicAliasInvalid, Msg: fmt.Sprintf("topic alias %d out of range", alias)}
	}
	if p.Topic == "" {
		t, ok := c.aliasIn[alias]
		if !ok {
			return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("unknown topic alias %d", alias)}
		}
		p.Topic = t
		return nil
	}
	if c.aliasIn == nil {
		c.aliasIn = make(map[uint16]string)
	}
	c.aliasIn[alias] = p.Topic
	return nil
}

// handleAck handles PUBACK, PUBREC, PUBREL and PUBCOMP from the client.
//
// As Mosquitto: an acknowledgement for a packet id the broker does not
// know is logged and otherwise ignored (PUBREC and PUBREL are answered
// with success, since the client may repeat them after a reconnect), but
// one that does not fit the flow of a message in flight, PUBCOMP or PUBREC
// for QoS 1, PUBACK for QoS 2, PUBCOMP before PUBREC, is a protocol error
// that closes the connection.
func (c *conn) handleAck(a *packet.Ack) error {
	sess := c.sess
	s := c.srv
	if s.log.debugEnabled() {
		switch a.Kind {
		case packet.PUBACK, packet.PUBCOMP:
			s.log.Debug(fmt.Sprintf("Received %s from %s (Mid: %d, RC:%d)", a.Kind, c.clientID, a.PacketID, a.ReasonCode))
		default:
			s.log.Debug(fmt.Sprintf("Received %s from %s (Mid: %d)", a.Kind, c.clientID, a.PacketID))
		}
	}
	switch a.Kind {
	case packet.PUBREL:
		delete(c.inboundRepeats, a.PacketID)
		return c.release(a.PacketID)
	case packet.PUBACK, packet.PUBCOMP:
		sess.mu.Lock()
		f := sess.inflight[a.PacketID]
		switch {
		case f == nil:
			sess.mu.Unlock()
			s.log.Warn(fmt.Sprintf("Warning: Received %s from %s for an unknown packet identifier %d.", a.Kind, c.clientID, a.PacketID))
			return nil
		case a.Kind == packet.PUBACK && f.state != awaitPuback,
			a.Kind == packet.PUBCOMP && f.state != awaitPubcomp:
			state := f.state
			sess.mu.Unlock()
			return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("%s for packet id %d, which %s", a.Kind, a.PacketID, state.awaits())}
		}
		s.complete(sess, f)
		sess.drainQueue(time.Now())
		sess.mu.Unlock()
		return nil
	case packet.PUBREC:
		sess.mu.Lock()
		f := sess.inflight[a.PacketID]
		if f == nil {
			sess.mu.Unlock()
			s.log.Warn(fmt.Sprintf("Warning: Received PUBREC from %s for an unknown packet identifier %d.", c.clientID, a.PacketID))
			if !a.ReasonCode.IsError() {
				c.sendAck(packet.PUBREL, a.PacketID, packet.Success)
			}
			return nil
		}
		if f.state == awaitPuback || a.ReasonCode.IsError() && f.state != awaitPubrec {
			state := f.state
			sess.mu.Unlock()
			return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("PUBREC for packet id %d, which %s", a.PacketID, state.awaits())}
		}
		if a.ReasonCode.IsError() {
			// [MQTT-4.3.3-4] the receiver refused the message: done.
			s.complete(sess, f)
			sess.drainQueue(time.Now())
			sess.mu.Unlock()
			return nil
		}
		if f.state == awaitPubcomp {
			// A repeated PUBREC: PUBREL again.
			sess.mu.Unlock()
			c.sendAck(packet.PUBREL, a.PacketID, packet.Success)
			return nil
		}
		f.state = awaitPubcomp
		var released *commit
		if f.key != 0 {
			// The message may go now; its id stays until PUBCOMP.
			released = s.journal.add(store.PutOutgoing(sess.id, &store.Outgoing{
				Seq: f.key, PacketID: f.id, State: store.StateAwaitPubcomp, QoS: 2, Retain: f.retain,
				Message: store.Message{Topic: f.msg.topic, QoS: f.msg.qos},
			}))
		}
		sess.mu.Unlock()
		if released != nil {
			// Durable before PUBREL: once the client has PUBREL it forgets
			// the id, and a restart must not send the PUBLISH again.
			if err := released.wait(); err != nil {
				return &packet.Error{Reason: packet.UnspecifiedError, Msg: fmt.Sprintf("the store failed: %v", err)}
			}
		}
		c.sendAck(packet.PUBREL, a.PacketID, packet.Success)
		return nil
	}
	return nil
}

// holdInbound keeps an inbound QoS 2 message until its PUBREL, durably
// first for a stored session: PUBREC promises it will be delivered.
func (c *conn) holdInbound(id uint16, m *message) error {
	s := c.srv
	sess := c.sess
	sess.mu.Lock()
	if sess.inbound == nil {
		sess.inbound = make(map[uint16]*message)
	}
	sess.inbound[id] = m
	var held *commit
	if sess.stored {
		held = s.journal.add(store.PutInboundMessage(sess.id, id, toStored(m)))
	}
	sess.mu.Unlock()
	if held == nil {
		return nil
	}
	if err := held.wait(); err != nil {
		sess.mu.Lock()
		if sess.inbound[id] == m {
			delete(sess.inbound, id)
			s.journal.add(store.DeleteInbound(sess.id, id))
		}
		sess.mu.Unlock()
		return err
	}
	return nil
}

// release handles PUBREL: the message held under id is routed (a message
// received before a restart of a store that kept only its id was routed
// already), the id is forgotten and PUBCOMP answers. An unknown id is
// answered with success too: the client may repeat PUBREL after a
// reconnect that followed our PUBCOMP.
func (c *conn) release(id uint16) error {
	s := c.srv
	sess := c.sess
	sess.mu.Lock()
	m, ok := sess.inbound[id]
	sess.mu.Unlock()
	var r *router
	if m != nil {
		if m.expired(time.Now()) {
			m = nil // [MQTT-3.3.2-5] it expired while held
		} else {
			s.gate.await(c, ticketSubscription)
			var err error
			if r, _, err = s.prepareRoute(m, nil); err != nil {
				// Unanswered: the client sends PUBREL again after it
				// reconnects, and the message is still held.
				return &packet.Error{Reason: packet.UnspecifiedError, Msg: fmt.Sprintf("the store could not keep the message: %v", err)}
			}
		}
	}
	var forgotten *commit
	if ok {
		sess.mu.Lock()
		delete(sess.inbound, id)
		if sess.stored {
			// After the routed copies: a crash between the two writes
			// makes the message go out twice, never lost.
			forgotten = s.journal.add(store.DeleteInbound(sess.id, id))
		}
		sess.mu.Unlock()
	}
	if forgotten != nil {
		// Durable before PUBCOMP: a stale id after a restart would
		// swallow the client's next QoS 2 message with the same id.
		if err := forgotten.wait(); err != nil {
			if r != nil {
				s.putRouter(r)
			}
			return &packet.Error{Reason: packet.UnspecifiedError, Msg: fmt.Sprintf("the store failed: %v", err)}
		}
	}
	if r == nil {
		c.sendAck(packet.PUBCOMP, id, packet.Success)
		return nil
	}
	// Held until the message has reached every subscriber, as PUBACK.
	c.holdAck(packet.PUBCOMP, id, packet.Success)
	congested := s.finishRoute(r, m)
	c.w.letGo()
	if congested != nil && s.awaitRelief(c, congested) && c.keepAlive > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
	}
	return nil
}

// samePublish reports whether p carries the message m holds (a QoS 2
// PUBLISH sent again), as Mosquitto compares them.
func (m *message) samePublish(p *packet.Publish) bool {
	return m.qos == p.QoS && m.topic == p.Topic && bytes.Equal(m.payload, p.Payload)
}

// awaits says what a message in flight waits for, for error messages.
func (st outState) awaits() string {
	switch st {
	case awaitPuback:
		return "is QoS 1 and awaits PUBACK"
	case awaitPubrec:
		return "is QoS 2 and awaits PUBREC"
	}
	return "is QoS 2 and awaits PUBCOMP"
}

// drainQueue lets queued messages into the window that an acknowledgement
// opened. They go to the session's current connection, which is not the
// one the acknowledgement came on if the client has reconnected since
// (session takeover): sent on the old connection, being closed, they would
// hold the window with messages the client never sees until yet another
// reconnect. Called with s.mu held.
func (s *session) drainQueue(now time.Time) {
	if c := s.conn; c != nil {
		c.drainQueue(s, now)
	}
}

// complete removes a finished in-flight message. Called with sess.mu held.
func (s *Server) complete(sess *session, f *inflight) {
	delete(sess.inflight, f.id)
	sess.inflightLen -= f.msg.size()
	sess.acked++
	sess.ackedBytes += int64(f.msg.size())
	s.forget(sess, &f.delivery)
}

// publish routes a message to every matching subscription and updates
// the retained store. It returns the number of subscriptions it matched.
//
// With a store, what a restart must not lose of the message is durable
// before anything is delivered and before publish returns, together with
// what pend holds (see persist); if the store fails, nothing is delivered
// and the error is returned for the caller to refuse the message.
func (s *Server) publish(m *message, pend *pending) (int, error) {
	n, _, err := s.route(m, pend)
	return n, err
}

// route is publish that also returns a connected session whose queue the
// message left more than half full (nil if none), for the publisher to
// wait for (see pacing.go).
func (s *Server) route(m *message, pend *pending) (int, *session, error) {
	r, n, err := s.prepareRoute(m, pend)
	if err != nil {
		return 0, nil, err
	}
	return n, s.finishRoute(r, m), nil
}

// prepareRoute is the first half of route: it matches the subscriptions,
// makes what must survive a restart durable and updates the retained
// store. The message has gone nowhere yet; finishRoute delivers it. The
// publisher's acknowledgement goes in between, so that a client
// subscribed to its own topic gets PUBACK or PUBREC before the message,
// as from Mosquitto. On error the router has been released.
func (s *Server) prepareRoute(m *message, pend *pending) (*router, int, error) {
	wait, err := s.forward(m)
	if err == nil && wait != nil {
		err = wait()
	}
	if err != nil {
		return nil, 0, err
	}
	if m.retain {
		// From the match to the retained store, no subscription is
		// added (see retainedOrder).
		s.retainMu.RLock()
		defer s.retainMu.RUnlock()
		m.rseq = s.retainSeq.Add(1)
	}
	r := s.getRouter()
	n := r.match(s, m) + m.remote
	if m.retain && testHookRetainedMatched != nil {
		testHookRetainedMatched(m.topic)
	}
	if s.journal != nil {
		if err := s.persist(r, m, pend); err != nil {
			s.putRouter(r)
			return nil, 0, err
		}
	}
	if m.retain {
		if len(m.payload) == 0 {
			// [MQTT-3.3.1-6] an empty retained message clears the topic.
			s.retained.Delete(m.topic)
		} else {
			s.retained.Set(m.topic, m)
		}
	}
	return r, n, nil
}

// testHookRetainedMatched, when set by a test, is called by a retained
// publish between matching the subscriptions and updating the retained
// store.
var testHookRetainedMatched func(topic string)

// finishRoute delivers a message prepareRoute matched, releases the
// router and returns the session to pace the publisher for, if any.
func (s *Server) finishRoute(r *router, m *message) *session {
	defer s.putRouter(r)
	r.deliver(s, m)
	if holdsBack(r.congestedN, r.live) || r.congestedQoS0 && r.congestedConn.writerLate() {
		return r.congested
	}
	return nil
}

// lateBelow is the unsent byte count in a socket below which a connection
// whose writer lags is late through the broker's fault, not its peer's
// (see writerLate).
const lateBelow = 8 << 10

// writerLate reports whether c's QoS 0 messages pile up because its writer
// is late, not because its peer reads slowly: the socket holds (nearly)
// nothing unsent, so the peer has taken what it was given and the flusher
// has not yet run again. Such a receiver paces its publisher even alone
// (pacing.go). Where the send queue cannot be read, it is never late.
func (c *conn) writerLate() bool {
	n, ok := c.unsentBytes()
	return ok && n < lateBelow
}

// holdsBack reports whether a publish whose message left n of its live
// receivers lagging holds its publisher back (pacing.go): when every one
// lags, or more than one and more than a quarter do. Then the broker, or
// its subscribers at large, are behind. One slow receiver among others
// that keep up holds nobody back: that would slow them for its sake.
func holdsBack(n, live int) bool {
	return n > 0 && (n >= live || n >= 2 && 4*n > live)
}

// deliverResult is what became of a delivery.
type deliverResult byte

const (
	delivered    deliverResult = iota // sent or queued
	deliverDrop                       // dropped: not authorised, over a limit, or QoS 0 to nobody
	deliverEnded                      // the session had ended: nothing was done
)

// deliver puts one delivery on its way to a session: straight to the
// connection when the in-flight window allows, else into the session's
// bounded queue.
//
// r, when not nil, is the router of the publish making the delivery: its
// cache of shared encodings is used and it learns of a congested session.
func (s *Server) deliver(sess *session, d delivery, r *router) deliverResult {
	// The clock is only needed for a message expiry interval to forward:
	// reading it for every subscriber of a fan-out cost 6% of the CPU.
	var now time.Time
	if d.msg.expiry != 0 {
		now = time.Now()
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	res := s.deliverLocked(sess, d, now, r)
	if res != delivered {
		s.forget(sess, &d)
	}
	return res
}

func (s *Server) deliverLocked(sess *session, d delivery, now time.Time, r *router) deliverResult {
	if sess.ended {
		return deliverEnded
	}
	if sess.info != nil && !s.authorize(sess.info, d.msg.topic, AccessRead) {
		return deliverDrop
	}
	c := sess.conn
	if r != nil && c != nil && !sess.stalledLocked() {
		// A receiver that may hold the publisher back (pacing.go); one
		// that keeps up spares it. congestedN counts those that lag.
		r.live++
	}
	if d.qos == 0 {
		if c != nil {
			ok, congested := c.sendQoS0(d, now, r)
			if congested && r != nil && d.group == nil && !sess.stalledLocked() {
				// Its socket does not take QoS 0 messages as fast as
				// they come (pacing.go).
				r.congestedN++
				r.congested, r.congestedQoS0, r.congestedConn = sess, true, c
			}
			return result(ok)
		}
		if !s.opts.QueueQoS0Messages || !sess.persistent() {
			return deliverDrop
		}
		return result(s.enqueue(sess, d))
	}
	if c == nil || len(sess.queue) > 0 || !c.windowOpen(sess, d.msg) {
		ok := s.enqueue(sess, d)
		if r != nil && d.group == nil && s.congestedLocked(sess) {
			// (A shared group's member that lags does not hold the
			// publisher back: the group has others to share the load.)
			r.congestedN++
			if !r.congestedQoS0 {
				r.congested = sess
			}
		}
		return result(ok)
	}
	c.sendInflight(sess, d, now)
	return delivered
}

func result(ok bool) deliverResult {
	if ok {
		return delivered
	}
	return deliverDrop
}

// enqueue appends to the session queue within Mosquitto's limits.
func (s *Server) enqueue(sess *session, d delivery) bool {
	if max := s.opts.MaxQueuedMessages; max > 0 && len(sess.queue) >= max ||
		s.opts.MaxQueuedBytes > 0 && sess.queuedBytes+d.msg.size() > s.opts.MaxQueuedBytes {
		s.stats.pubDropped.Add(1)
		s.stats.dropQueue.Add(1)
		return false
	}
	if d.qos > 0 && d.pid == 0 {
		// The packet id is given when the message is queued, as Mosquitto
		// does: a queued message that expires before it is sent has used
		// one, and the next message has the next id. With every id in
		// use the message gets one when it is sent.
		if id := sess.allocID(); id != 0 {
			if sess.reserved == nil {
				sess.reserved = make(map[uint16]struct{})
			}
			sess.reserved[id] = struct{}{}
			d.pid = id
		}
	}
	sess.queue = append(sess.queue, d)
	sess.queuedBytes += d.msg.size()
	return true
}

// windowOpen reports whether another QoS 1/2 message may be sent now.
// Called with sess.mu held.
func (c *conn) windowOpen(sess *session, m *message) bool {
	if len(sess.inflight) >= int(c.window) {
		return false
	}
	if max := c.srv.opts.MaxInflightBytes; max > 0 && sess.inflightLen > 0 && sess.inflightLen+m.size() > max {
		return false
	}
	return true
}

// sendQoS0 encodes (or takes from forms, when not nil) and queues a QoS 0
// PUBLISH, and reports whether it was queued and whether the connection's
// QoS 0 packets waiting for the socket are more than half the limit.
// Called with sess.mu held.
func (c *conn) sendQoS0(d delivery, now time.Time, r *router) (ok, congested bool) {
	s := c.srv
	var forms *wireForms
	if r != nil {
		forms = &r.forms
	}
	var wb *wireBuf
	var err error
	var alias uint16
	var sendTopic bool
	shared := d.cacheable() && c.aliasMaxOut == 0 && c.l.MountPoint == ""
	if b := d.msg.plainWire(c.version); shared && !d.retain && b != nil {
		// The message as its publisher sent it: no encoding, no buffer.
		return c.queueQoS0(d, b, nil, r)
	}
	if forms != nil && shared {
		wb, err = d.encodeShared(forms, c.version)
	} else {
		alias, sendTopic = c.topicAlias(d.msg.topic)
		wb, err = d.encode(c.version, 0, false, alias, sendTopic, c.l.MountPoint, now)
	}
	if err != nil {
		s.log.Error("encoding PUBLISH failed", "client", c.clientID, "error", err)
		return false, false
	}
	if c.tooLarge(wb.b) {
		c.unaliasNew(d.msg.topic, alias, sendTopic) // queueQoS0 discards it
	}
	return c.queueQoS0(d, wb.b, wb, r)
}

// queueQoS0 queues the encoded QoS 0 PUBLISH b of d on c's writer; wb,
// when not nil, is the wire buffer holding b, whose reference the writer
// takes over (or which is released). r, when not nil, is the router of
// the publish, which counts the message sent.
func (c *conn) queueQoS0(d delivery, b []byte, wb *wireBuf, r *router) (ok, congested bool) {
	s := c.srv
	if c.tooLarge(b) {
		// [MQTT-3.1.2-25] too large for the client: discard.
		if wb != nil {
			wb.release()
		}
		s.stats.dropTooLarge.Add(1)
		s.log.Debug(fmt.Sprintf("Dropping too large PUBLISH for %s (%d bytes).", c.clientID, len(b)))
		return false, false
	}
	if ok, congested = c.w.writeQoS0(b, wb, s.opts.MaxQueuedMessages); !ok {
		s.stats.pubDropped.Add(1)
		s.stats.dropBuffer.Add(1)
		return false, congested
	}
	if r != nil && d.msg.recvAt == 0 {
		r.sent0++
		r.sentBytes0 += int64(len(d.msg.payload))
	} else {
		s.countSent(d)
	}
	if s.log.debugEnabled() {
		c.logPublishSent(d, 0, false)
	}
	return true, congested
}

// logPublishSent writes Mosquitto's debug line for a PUBLISH sent.
func (c *conn) logPublishSent(d delivery, id uint16, dup bool) {
	t := d.msg.topic
	if mp := c.l.MountPoint; mp != "" {
		t = strings.TrimPrefix(t, mp)
	}
	c.srv.log.Debug(fmt.Sprintf("Sending PUBLISH to %s (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))",
		c.clientID, b2i(dup), d.qos, b2i(d.retain), id, t, len(d.msg.payload)))
}

// addSent counts n PUBLISH packets of QoS qos sent, with bytes of
// payload.
func (s *Server) addSent(qos byte, n, bytes int64) {
	s.stats.pubSent[min(qos, 2)].Add(n)
	s.stats.msgsSent.Add(n)
	s.stats.pubBytesSent[min(qos, 2)].Add(bytes)
}

func (s *Server) countSent(d delivery) {
	if t := d.msg.recvAt; t != 0 {
		s.stats.deliverLatency.observe(monotime() - t)
	}
	s.addSent(d.qos, 1, int64(len(d.msg.payload)))
}

// sendInflight assigns a packet id and sends a QoS 1/2 delivery. Called
// with sess.mu held and the window open.
func (c *conn) sendInflight(sess *session, d delivery, now time.Time) {
	id := d.pid // given when it was stored
	if id != 0 {
		delete(sess.reserved, id)
	} else if id = sess.allocID(); id == 0 {
		if !c.srv.enqueue(sess, d) {
			c.srv.forget(sess, &d)
		}
		return
	}
	sess.seq++
	f := &inflight{delivery: d, id: id, seq: sess.seq, state: awaitPuback}
	if d.qos == 2 {
		f.state = awaitPubrec
	}
	if sess.inflight == nil {
		sess.inflight = make(map[uint16]*inflight)
	}
	sess.inflight[id] = f
	sess.inflightLen += d.msg.size()
	c.writeInflight(sess, f, false, now)
}

// writeInflight encodes and queues an in-flight PUBLISH (dup on resend).
func (c *conn) writeInflight(sess *session, f *inflight, dup bool, now time.Time) {
	alias, sendTopic := c.topicAlias(f.msg.topic)
	wb, err := f.encode(c.version, f.id, dup, alias, sendTopic, c.l.MountPoint, now)
	if err != nil {
		c.srv.log.Error("encoding PUBLISH failed", "client", c.clientID, "error", err)
		c.srv.complete(sess, f)
		return
	}
	if c.tooLarge(wb.b) {
		// [MQTT-3.1.2-25] discard, and behave as if it had been delivered.
		wb.release()
		c.unaliasNew(f.msg.topic, alias, sendTopic)
		c.srv.stats.dropTooLarge.Add(1)
		c.srv.complete(sess, f)
		return
	}
	if c.w.writeWire(wb) {
		c.srv.countSent(f.delivery)
	}
	if c.srv.log.debugEnabled() {
		c.logPublishSent(f.delivery, f.id, dup)
	}
}

// tooLarge reports whether an encoded packet is over the client's Maximum
// Packet Size. Like Mosquitto, which the clients written against it and
// its test suite expect, the first byte of the fixed header is not
// counted: a packet one byte over the size the client named still goes.
func (c *conn) tooLarge(wire []byte) bool {
	return c.maxPacketOut > 0 && len(wire)-1 > int(c.maxPacketOut)
}

// unaliasNew forgets a topic alias topicAlias had just set up for a packet
// that is not sent after all, so that the next one names the topic again.
// Called with sess.mu held.
func (c *conn) unaliasNew(t string, alias uint16, sendTopic bool) {
	if alias != 0 && sendTopic {
		delete(c.aliasOut, t)
	}
}

// topicAlias picks the outgoing topic alias for a topic on this
// connection: an existing one (send no topic), a new one while aliases are
// left (send topic and alias), or none. Called with sess.mu held.
func (c *conn) topicAlias(t string) (alias uint16, sendTopic bool) {
	if c.aliasMaxOut == 0 {
		return 0, true
	}
	if a, ok := c.aliasOut[t]; ok {
		return a, false
	}
	if len(c.aliasOut) >= int(c.aliasMaxOut) {
		return 0, true
	}
	if c.aliasOut == nil {
		c.aliasOut = make(map[string]uint16)
	}
	a := uint16(len(c.aliasOut) + 1)
	c.aliasOut[t] = a
	return a, true
}

// drainQueue moves queued messages into the in-flight window. Called with
// sess.mu held.
func (c *conn) drainQueue(sess *session, now time.Time) {
	defer c.srv.relieveIfDrained(sess)
	for len(sess.queue) > 0 {
		d := sess.queue[0]
		if d.qos > 0 && !c.windowOpen(sess, d.msg) {
			return
		}
		sess.queue[0] = delivery{}
		sess.queue = sess.queue[1:]
		sess.queuedBytes -= d.msg.size()
		if len(sess.queue) == 0 {
			sess.queue = nil
		}
		if d.msg.expired(now) {
			c.srv.stats.dropExpired.Add(1)
			c.srv.forget(sess, &d)
			continue // [MQTT-3.3.2-5]
		}
		if d.qos == 0 {
			c.sendQoS0(d, now, nil)
			continue
		}
		c.sendInflight(sess, d, now)
	}
}

// resend redelivers, after a session resumes, every unacknowledged
// PUBLISH (with DUP) and PUBREL in the original order [MQTT-4.4.0-1], then
// what was queued. Called with sess.mu held.
//
// As Mosquitto, messages the client may no longer receive (the ACL file
// changed while it was away) are dropped first.
func (c *conn) resend(sess *session) {
	now := time.Now()
	c.dropUnreadable(sess)
	for _, f := range sess.inflightOrdered() {
		if f.state == awaitPubcomp {
			c.sendAck(packet.PUBREL, f.id, packet.Success)
			continue
		}
		c.writeInflight(sess, f, true, now)
	}
	c.drainQueue(sess, now)
}

// dropUnreadable removes the queued and in-flight messages of a resumed
// session whose topics the client may not read now. A QoS 2 message whose
// PUBREC came is the client's already and stays. Called with sess.mu held.
func (c *conn) dropUnreadable(sess *session) {
	s := c.srv
	for id, f := range sess.inflight {
		if f.state != awaitPubcomp && !s.authorize(c.info, f.msg.topic, AccessRead) {
			s.complete(sess, sess.inflight[id])
		}
	}
	kept := sess.queue[:0]
	for _, d := range sess.queue {
		if s.authorize(c.info, d.msg.topic, AccessRead) {
			kept = append(kept, d)
			continue
		}
		sess.queuedBytes -= d.msg.size()
		s.forget(sess, &d)
	}
	clear(sess.queue[len(kept):])
	sess.queue = kept
	if len(sess.queue) == 0 {
		sess.queue = nil
	}
}
