package broker

import (
	"fmt"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// handleSubscribe grants or refuses each filter, answers SUBACK, then
// sends the retained messages the subscriptions ask for.
func (c *conn) handleSubscribe(p *packet.Subscribe) error {
	s := c.srv
	var subID uint32
	if ids := p.Properties.SubscriptionIDs; len(ids) > 0 {
		subID = ids[0]
	}
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	type retainedReq struct {
		filter string
		opts   topic.Options
		mark   uint64 // see retainedOrder
	}
	var wantRetained []retainedReq
	s.log.Debug("Received SUBSCRIBE from " + c.clientID)
	// Retained messages published before this SUBSCRIBE arrived are in
	// place before it looks them up (order.go).
	s.gate.await(c, ticketRetained)
	for i, sub := range p.Subscriptions {
		if err := topic.ValidateFilter(sub.Filter); err != nil {
			// Mosquitto closes the connection on a malformed filter; the
			// specifications call it a malformed packet [MQTT-4.7.3-?].
			return &packet.Error{Reason: packet.MalformedPacket, Msg: fmt.Sprintf("invalid subscription filter %q: %v", clip(sub.Filter), err)}
		}
		sub.Filter = c.mountFilter(sub.Filter)
		_, _, shared := topic.SplitShared(sub.Filter)
		if shared && sub.NoLocal {
			// [MQTT-3.8.3-4]
			return &packet.Error{Reason: packet.ProtocolError, Msg: "no local on a shared subscription"}
		}
		if !s.authorize(c.info, sub.Filter, AccessSubscribe) {
			codes[i] = refusedSubscription(c.version)
			continue
		}
		qos := min(sub.QoS, c.l.MaxQoS)
		if s.log.debugEnabled() {
			s.log.Debug(fmt.Sprintf("\t%s (QoS %d)", sub.Filter, qos))
		}
		if c.bridge {
			sub.NoLocal, sub.RetainAsPublished = true, true
		}
		opts := subscriptionOptions(sub, qos, subID)
		s.retainMu.Lock()
		existed := s.indexSubscribe(c.sess, sub.Filter, opts)
		mark := s.retainSeq.Load()
		s.retainMu.Unlock()
		if !existed {
			s.relaySubscribed(sub.Filter)
		}
		c.sess.mu.Lock()
		if c.sess.subs == nil {
			c.sess.subs = make(map[string]topic.Options)
		}
		c.sess.subs[sub.Filter] = opts
		c.sess.mu.Unlock()
		codes[i] = packet.ReasonCode(qos)
		s.log.log(LevelSubscribe, fmt.Sprintf("%s %d %s", c.clientID, qos, sub.Filter))
		// [MQTT-3.3.1-9..11] retain handling; never for shared subscriptions.
		if !shared && (sub.RetainHandling == 0 || sub.RetainHandling == 1 && !existed) {
			wantRetained = append(wantRetained, retainedReq{sub.Filter, opts, mark})
		}
	}
	if err := c.storeSubscriptions(); err != nil {
		return err
	}
	c.send(&packet.Suback{PacketID: p.PacketID, ReasonCodes: codes})
	for _, r := range wantRetained {
		s.sendRetained(c.sess, r.filter, r.opts, r.mark)
	}
	return nil
}

// storeSubscriptions makes a persistent session's subscriptions durable
// before SUBACK or UNSUBACK. If the store fails the connection is closed
// unanswered: the client subscribes again when it reconnects.
func (c *conn) storeSubscriptions() error {
	if err := c.srv.storeSubscriptionsOf(c.sess); err != nil {
		return &packet.Error{Reason: packet.UnspecifiedError, Msg: fmt.Sprintf("the store could not keep the subscriptions: %v", err)}
	}
	return nil
}

// storeSubscriptionsOf makes a stored session's subscriptions durable.
func (s *Server) storeSubscriptionsOf(sess *session) error {
	if s.journal == nil {
		return nil
	}
	sess.mu.Lock()
	var stored *commit
	if sess.stored {
		stored = s.storeSession(sess)
	}
	sess.mu.Unlock()
	if stored == nil {
		return nil
	}
	return stored.wait()
}

func refusedSubscription(version byte) packet.ReasonCode {
	if version == packet.V5 {
		return packet.NotAuthorized
	}
	return packet.V3SubackFailure
}

// retainedOrder: a retained PUBLISH and a SUBSCRIBE handled at the same
// time on two connections must look to the subscriber as if one came
// first, as on Mosquitto's single thread: the message arrives once,
// live or retained. A retained publish matches the subscriptions and then
// updates the retained store; a subscription is added to the tree and
// then looks the retained messages up. Without care a subscription added
// between the publish's two steps gets neither the live message nor the
// retained one, and a publish matched after the subscription was added
// but stored before the look-up is sent twice. So the publish's two steps
// hold Server.retainMu for reading, a subscription is added holding it
// for writing, and the look-up skips the retained messages numbered
// after the subscription's mark: those were matched live. (A retained
// message that a later one replaced before the look-up is then not sent:
// the subscriber gets the later one, live.)

// sendRetained delivers the retained messages matching a new subscription
// that were published before mark (see retainedOrder).
func (s *Server) sendRetained(sess *session, filter string, opts topic.Options, mark uint64) {
	now := time.Now()
	var batch []delivery
	if s.journal != nil {
		batch = make([]delivery, 0, 256)
	}
	s.retained.Match(filter, func(_ string, m *message) bool {
		if m.rseq > mark || m.expired(now) || !s.retainSourceAllowed(m) {
			return true
		}
		d := delivery{msg: m, qos: s.grantedQoS(m.qos, opts.QoS), retain: true} // [MQTT-3.3.1-8]
		if opts.SubscriptionID != 0 {
			d.subIDs = []uint32{opts.SubscriptionID}
		}
		if s.journal == nil {
			s.deliver(sess, d, nil)
			return true
		}
		batch = append(batch, d)
		if len(batch) == cap(batch) {
			s.deliverStored(sess, batch)
			batch = batch[:0]
		}
		return true
	})
	if len(batch) > 0 {
		s.deliverStored(sess, batch)
	}
}

// retainSourceAllowed applies check_retain_source: a retained message is
// sent to a new subscriber only while its publisher may still publish it,
// so that taking away a client's write access (a reloaded ACL file) also
// withdraws what it retained. Messages of the broker itself are not
// checked.
func (s *Server) retainSourceAllowed(m *message) bool {
	if !s.opts.CheckRetainSource || m.source == nil {
		return true
	}
	src := m.source
	if src.Listener == nil && m.sourceListener != "" {
		// Restored from the store: the listener by its name, as it is
		// now (a listener that is gone leaves it nil, and the
		// Authorizer decides what an unknown listener may do).
		info := *src
		info.Listener = s.listenerNamed(m.sourceListener)
		src = &info
	}
	return s.authorize(src, m.topic, AccessWrite)
}

// listenerNamed returns the listener being served under name, or nil.
func (s *Server) listenerNamed(name string) *Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// deliverStored delivers retained messages to a session after storing
// those a persistent session takes at QoS 1 or 2, in one commit per batch.
// If the store fails they are delivered unstored.
func (s *Server) deliverStored(sess *session, ds []delivery) {
	var p pending
	for i := range ds {
		if ds[i].qos > 0 {
			if c := s.reserve(sess, &ds[i], toStored(ds[i].msg)); c != nil {
				p.add(c)
			}
		}
	}
	if err := p.wait(); err != nil {
		for i := range ds {
			s.unreserve(sess, &ds[i])
		}
	}
	for _, d := range ds {
		s.deliver(sess, d, nil)
	}
}

// handleUnsubscribe removes each filter and answers UNSUBACK.
func (c *conn) handleUnsubscribe(p *packet.Unsubscribe) error {
	s := c.srv
	codes := make([]packet.ReasonCode, len(p.Filters))
	s.log.Debug("Received UNSUBSCRIBE from " + c.clientID)
	for i, f := range p.Filters {
		if err := topic.ValidateFilter(f); err != nil {
			return &packet.Error{Reason: packet.MalformedPacket, Msg: fmt.Sprintf("invalid unsubscribe filter %q: %v", clip(f), err)}
		}
		f = c.mountFilter(f)
		s.log.Debug("\t" + f)
		s.log.log(LevelUnsubscribe, fmt.Sprintf("%s %s", c.clientID, f))
		if !s.authorize(c.info, f, AccessUnsubscribe) {
			// The subscription stays; 3.x clients get an UNSUBACK all the
			// same, as from Mosquitto.
			codes[i] = packet.NotAuthorized
			continue
		}
		existed := s.indexUnsubscribe(c.sess, f)
		if existed {
			s.relayUnsubscribed(f)
		}
		c.sess.mu.Lock()
		delete(c.sess.subs, f)
		c.sess.mu.Unlock()
		if !existed {
			codes[i] = packet.NoSubscriptionExisted
		}
	}
	if err := c.storeSubscriptions(); err != nil {
		return err
	}
	ack := &packet.Unsuback{PacketID: p.PacketID}
	if c.version == packet.V5 {
		ack.ReasonCodes = codes
	}
	c.send(ack)
	return nil
}

// mount prefixes a topic name with the listener's mount_point, which
// confines the listener's clients to their own part of the topic tree.
func (c *conn) mount(name string) string {
	return c.l.MountPoint + name
}

// mountFilter prefixes a filter with the mount_point; for a shared
// subscription the prefix goes on the filter inside $share/GROUP/.
func (c *conn) mountFilter(filter string) string {
	mp := c.l.MountPoint
	if mp == "" {
		return filter
	}
	if group, f, ok := topic.SplitShared(filter); ok {
		return "$share/" + group + "/" + mp + f
	}
	return mp + filter
}

// severalSubs is or'ed into session.indexed once the session has had two
// subscriptions in the index at the same time; it stays set.
const severalSubs = 1 << 30

// indexSubscribe adds sess's subscription to filter f to Server.subs,
// reporting whether it replaced one. sess.indexed is raised before the
// insert and lowered after a removal (indexUnsubscribe), so a match that
// finds two subscriptions of a session finds severalSubs set: router.match
// merges only the copies of such sessions.
func (s *Server) indexSubscribe(sess *session, f string, o topic.Options) (existed bool) {
	if n := sess.indexed.Add(1); n&^severalSubs > 1 && n&severalSubs == 0 {
		sess.indexed.Or(severalSubs)
	}
	existed = s.subs.Subscribe(sess, f, o)
	if existed {
		sess.indexed.Add(-1)
	}
	return existed
}

// indexUnsubscribe removes sess's subscription to filter f from
// Server.subs, reporting whether it was there.
func (s *Server) indexUnsubscribe(sess *session, f string) (existed bool) {
	existed = s.subs.Unsubscribe(sess, f)
	if existed {
		sess.indexed.Add(-1)
	}
	return existed
}
