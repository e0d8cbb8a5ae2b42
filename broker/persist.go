package broker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/topic"
)

// Persistence. With Options.Store set, the broker keeps in the store what
// a restart must not lose, and acknowledges nothing before it is durable:
//   - retained messages (PUBACK/PUBREC after the store has them);
//   - persistent sessions: their record with the subscriptions (SUBACK and
//     UNSUBACK after it is durable), the QoS 1/2 messages queued or in
//     flight to them (stored before the publisher's PUBACK/PUBREC), the
//     inbound QoS 2 messages held until their PUBREL (stored before PUBREC,
//     forgotten after the routed copies and before PUBCOMP), and a will
//     waiting out its delay.
//
// Every change goes through the journal in the order it is made in
// memory. A QoS 2 message stored for a session gets its packet id when it
// is stored, so that after a restart it is resent under the same id and
// the client, which remembers the ids it has received, does not deliver
// it twice; the PUBREC that moves it to "awaiting PUBCOMP" is durable
// before PUBREL goes out for the same reason.

// persist makes durable, before a publish delivers anything, what a
// restart must not lose of it: its retained message and a copy for every
// persistent session that takes it at QoS 1 or 2 (r.targets get their
// store keys). pend may hold more for the same wait (the publisher's QoS 2
// packet id). On error nothing may be delivered or acknowledged.
func (s *Server) persist(r *router, m *message, pend *pending) error {
	p := s.queuePersist(r, m, pend)
	return s.persisted(r, m, p.wait())
}

// matchAndQueue is prepareRoute without the wait, for a message that is
// not retained and was forwarded: it matches m for its n receivers and
// queues its records for the store; awaitStored (or dropStored) ends it.
func (s *Server) matchAndQueue(m *message) (r *router, n int, p pending) {
	r = s.getRouter()
	n = r.match(s, m) + m.remote
	if s.journal != nil {
		p = s.queuePersist(r, m, nil)
	}
	return r, n, p
}

// awaitStored waits for the records matchAndQueue queued. On error r has
// been released, and nothing may be delivered.
func (s *Server) awaitStored(r *router, m *message, p *pending) error {
	if s.journal == nil {
		return nil
	}
	err := s.persisted(r, m, p.wait())
	if err != nil {
		s.putRouter(r)
	}
	return err
}

// dropStored gives up a message matchAndQueue matched, undelivered.
func (s *Server) dropStored(r *router, m *message) {
	_ = s.persisted(r, m, errDropped)
	s.putRouter(r)
}

// errDropped gives up the reservations of a message that will not be
// delivered.
var errDropped = errors.New("not delivered")

// queuePersist is persist's first half: it queues the records and
// returns what to wait for, which persisted is then told of.
func (s *Server) queuePersist(r *router, m *message, pend *pending) pending {
	var p pending
	if pend != nil {
		p = *pend
	}
	if m.retain && !strings.HasPrefix(m.topic, "$SYS") {
		// $SYS topics are the broker's own, published again after a restart.
		op := store.DeleteRetained(m.topic)
		if len(m.payload) > 0 {
			op = store.PutRetained(toStored(m))
		}
		p.add(s.journal.add(op))
	}
	var sm *store.Message
	for i := range r.targets {
		d := &r.targets[i]
		if d.qos == 0 {
			continue
		}
		if sm == nil {
			sm = toStored(m)
		}
		if c := s.reserve(r.owners[i], d, sm); c != nil {
			p.add(c)
		}
	}
	return p
}

// persisted is persist's second half, given the wait's result: on error
// it gives back what queuePersist reserved.
func (s *Server) persisted(r *router, m *message, err error) error {
	if err != nil {
		for i := range r.targets {
			if r.targets[i].key != 0 {
				s.unreserve(r.owners[i], &r.targets[i])
			}
		}
		if m.retain {
			return fmt.Errorf("storing the retained message of %q: %w", m.topic, err)
		}
		return fmt.Errorf("storing a message to %q: %w", m.topic, err)
	}
	return nil
}

// reserve gives a QoS 1/2 delivery to a stored session its place in the
// session's stored queue (d.key) and the packet id it will be sent with
// (d.pid; kept across a restart, as Mosquitto keeps it), and queues the
// record. It returns nil when the
// session is not stored, or has no packet id free.
func (s *Server) reserve(sess *session, d *delivery, sm *store.Message) *commit {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if !sess.stored || sess.ended {
		return nil
	}
	if d.qos > 0 && d.pid == 0 {
		id := sess.allocID()
		if id == 0 {
			return nil
		}
		if sess.reserved == nil {
			sess.reserved = make(map[uint16]struct{})
		}
		sess.reserved[id] = struct{}{}
		d.pid = id
	}
	sess.seq++
	d.key = sess.seq
	o := &store.Outgoing{Seq: d.key, PacketID: d.pid, State: store.StateQueued, QoS: d.qos, Retain: d.retain, SubIDs: d.subIDs, Message: *sm}
	return s.journal.add(store.PutOutgoing(sess.id, o))
}

// unreserve undoes reserve for a delivery that will not be made.
func (s *Server) unreserve(sess *session, d *delivery) {
	sess.mu.Lock()
	s.forget(sess, d)
	sess.mu.Unlock()
}

// forget removes a stored delivery that is done with (acknowledged,
// dropped or expired) from the store, without waiting: losing the removal
// in a crash only means one more delivery of a QoS 1 message, or a PUBREL
// the client answers as unknown. Called with sess.mu held.
func (s *Server) forget(sess *session, d *delivery) {
	if d.pid != 0 {
		// The id reserved for it when it was queued or stored (once sent,
		// the id is the in-flight window's and was never reserved).
		delete(sess.reserved, d.pid)
	}
	if d.key == 0 {
		return
	}
	s.journal.add(store.DeleteOutgoing(sess.id, d.key))
	d.key = 0
}

// persistOne stores a single delivery, waiting for it, for the paths that
// deliver one message at a time (a shared group's member chosen again).
// If the store fails the delivery is made anyway, unstored: whoever
// published it has been answered already.
func (s *Server) persistOne(sess *session, d *delivery) {
	if s.journal == nil || d.qos == 0 {
		return
	}
	c := s.reserve(sess, d, toStored(d.msg))
	if c == nil {
		return
	}
	if err := c.wait(); err != nil {
		s.unreserve(sess, d)
	}
}

// sessionRecord is the stored form of a session. Called with sess.mu held.
func sessionRecord(sess *session) *store.Session {
	r := &store.Session{
		ClientID:        sess.id,
		ProtocolVersion: sess.version,
		ExpiryInterval:  sess.expiry,
		LastPacketID:    sess.nextID,
	}
	if sess.info != nil {
		r.Username = sess.info.Username
	}
	if sess.conn == nil {
		r.DisconnectedAt = sess.disconnectedAt
	}
	if len(sess.subs) > 0 {
		r.Subscriptions = make([]store.Subscription, 0, len(sess.subs))
		for f, o := range sess.subs {
			r.Subscriptions = append(r.Subscriptions, store.Subscription{
				Filter: f, QoS: o.QoS, NoLocal: o.NoLocal, RetainAsPublished: o.RetainAsPublished,
				RetainHandling: o.RetainHandling, ID: o.SubscriptionID,
			})
		}
		slices.SortFunc(r.Subscriptions, func(a, b store.Subscription) int { return strings.Compare(a.Filter, b.Filter) })
	}
	return r
}

// storeSession brings the store's record of a session up to date: written
// while the session is persistent, removed when it no longer is. It
// returns the commit to wait for, nil if there is nothing to store.
// Called with sess.mu held.
func (s *Server) storeSession(sess *session) *commit {
	if s.journal == nil {
		return nil
	}
	if sess.persistent() && !sess.ended {
		sess.stored = true
		return s.journal.add(store.PutSession(sessionRecord(sess)))
	}
	return s.dropStoredSession(sess)
}

// dropStoredSession removes a session and everything stored under it.
// Called with sess.mu held.
func (s *Server) dropStoredSession(sess *session) *commit {
	if !sess.stored {
		return nil
	}
	sess.stored = false
	if sess.pendingWill != nil {
		sess.pendingWill.stored = false
	}
	return s.journal.add(store.DeleteSession(sess.id))
}

// storeWill keeps a will that waits out its delay, if its session is
// stored. Called with sess.mu held.
func (s *Server) storeWill(sess *session, pw *pendingWill, due time.Time) {
	if !sess.stored {
		return
	}
	pw.stored = true
	s.journal.add(store.PutWill(&store.Will{ClientID: sess.id, Message: *toStored(pw.msg), Due: due}))
}

// dropStoredWill forgets a stored will (published, or cancelled by a
// reconnect). Called with sess.mu held.
func (s *Server) dropStoredWill(sess *session, pw *pendingWill) {
	if pw != nil && pw.stored {
		pw.stored = false
		s.journal.add(store.DeleteWill(sess.id))
	}
}

// Restore loads what the store holds: call it once, before Serve.
// Sessions come back disconnected, with their subscriptions, queued and
// in-flight messages and inbound QoS 2 ids; their expiry counts from when
// they were disconnected (from now for those connected at a crash).
// Messages, sessions and wills whose time passed while the broker was
// down are dropped or, for wills, published.
func (s *Server) Restore() error {
	st := s.opts.Store
	if st == nil {
		return nil
	}
	n, err := s.loadSessions(st.Load, false)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Notice(fmt.Sprintf("Restored %d persistent sessions.", n))
	}
	return nil
}

// AdoptStored takes over the persistent sessions another server kept, as
// a cluster node takes those of a node it lost: load hands over their
// records as Store.Load does (Retained is not asked for). They are
// continued here as Restore continues this server's own, disconnected,
// and written to this server's store. A client id with a session here
// already keeps it and its records are skipped. It returns how many
// sessions it took.
func (s *Server) AdoptStored(load func(store.Visitor) error) (int, error) {
	return s.loadSessions(load, true)
}

// loadSessions rebuilds the sessions of stored records (see Restore and
// AdoptStored). Each session is built whole before it is put in place,
// so that routing, which may run meanwhile when adopting, never sees one
// half loaded.
func (s *Server) loadSessions(load func(store.Visitor) error, adopting bool) (int, error) {
	now := time.Now()
	var (
		ops     []store.Op // expired records to drop, or adopted ones to write
		built   = map[string]*session{}
		order   []*session
		orphans = map[string]bool{}
		wills   = map[*session]time.Time{}
	)
	// kept are the adopted records to write here, per session: only
	// those of the sessions put in place are written.
	kept := map[string][]store.Op{}
	keep := func(op store.Op, id string) {
		if adopting && s.journal != nil {
			kept[id] = append(kept[id], op)
		}
	}
	lookup := func(id string) *session {
		sess := built[id]
		if sess == nil && !orphans[id] {
			orphans[id] = true
			if !adopting {
				// Records of a client without a session: a session
				// that ended while a message to it was being stored.
				ops = append(ops, store.DeleteSession(id))
			}
		}
		return sess
	}
	v := store.Visitor{
		Session: func(r store.Session) error {
			if adopting {
				s.mu.Lock()
				here := s.sessions[r.ClientID] != nil
				s.mu.Unlock()
				if here {
					orphans[r.ClientID] = true
					return nil
				}
			}
			sess := s.sessionOf(&r, now)
			sess.stored = s.journal != nil
			built[r.ClientID] = sess
			order = append(order, sess)
			r.DisconnectedAt = sess.disconnectedAt
			keep(store.PutSession(&r), r.ClientID)
			return nil
		},
		Inbound: func(id string, pid uint16) error {
			if sess := lookup(id); sess != nil {
				if sess.inbound == nil {
					sess.inbound = make(map[uint16]*message)
				}
				sess.inbound[pid] = nil // routed when it came
				keep(store.PutInbound(id, pid), id)
			}
			return nil
		},
		InboundMessage: func(id string, pid uint16, m store.Message) error {
			if sess := lookup(id); sess != nil {
				if sess.inbound == nil {
					sess.inbound = make(map[uint16]*message)
				}
				sess.inbound[pid] = fromStored(&m) // routed at its PUBREL
				keep(store.PutInboundMessage(id, pid, &m), id)
			}
			return nil
		},
		Outgoing: func(id string, o store.Outgoing) error {
			sess := lookup(id)
			if sess == nil {
				return nil
			}
			sess.seq = max(sess.seq, o.Seq)
			m := fromStored(&o.Message)
			if o.State != store.StateAwaitPubcomp && m.expired(now) {
				if !adopting {
					ops = append(ops, store.DeleteOutgoing(id, o.Seq))
				}
				return nil
			}
			s.restoreOutgoing(sess, &o, m, sess.stored)
			keep(store.PutOutgoing(id, &o), id)
			return nil
		},
		Will: func(w store.Will) error {
			sess := lookup(w.ClientID)
			if sess == nil {
				return nil
			}
			sess.pendingWill = &pendingWill{msg: fromStored(&w.Message), info: sess.info, stored: sess.stored}
			wills[sess] = w.Due
			keep(store.PutWill(&w), w.ClientID)
			return nil
		},
	}
	if !adopting {
		v.Retained = func(sm store.Message) error {
			m := fromStored(&sm)
			if m.expired(now) {
				ops = append(ops, store.DeleteRetained(m.topic))
				return nil
			}
			s.retained.Set(m.topic, m)
			return nil
		}
	}
	if err := load(v); err != nil {
		return 0, fmt.Errorf("loading the store: %w", err)
	}
	// In place, unless a client connected meanwhile with the same id.
	placed := order[:0]
	for _, sess := range order {
		s.mu.Lock()
		if s.sessions[sess.id] != nil {
			s.mu.Unlock()
			continue
		}
		s.sessions[sess.id] = sess
		s.mu.Unlock()
		for f, o := range sess.subs {
			if !s.indexSubscribe(sess, f, o) {
				s.relaySubscribed(f)
			}
		}
		placed = append(placed, sess)
		ops = append(ops, kept[sess.id]...)
	}
	if len(ops) > 0 {
		if err := s.journal.add(ops...).wait(); err != nil {
			if adopting {
				return len(placed), fmt.Errorf("storing the sessions taken over: %w", err)
			}
			return 0, fmt.Errorf("removing expired records: %w", err)
		}
	}
	// Timers last, once every session is in place: an expiry or a will
	// due already runs at once.
	for _, sess := range placed {
		sess.mu.Lock()
		if pw := sess.pendingWill; pw != nil {
			pw.timer = time.AfterFunc(max(0, wills[sess].Sub(now)), func() { s.fireWill(sess, pw) })
		}
		s.armExpiry(sess)
		sess.mu.Unlock()
	}
	return len(placed), nil
}

// sessionOf rebuilds a session from its record, disconnected, not yet in
// place.
func (s *Server) sessionOf(r *store.Session, now time.Time) *session {
	sess := newSession(r.ClientID)
	sess.version = r.ProtocolVersion
	if sess.version == 0 {
		sess.version = packet.V311
	}
	sess.expiry = r.ExpiryInterval
	sess.nextID = r.LastPacketID
	sess.disconnectedAt = r.DisconnectedAt
	if sess.disconnectedAt.IsZero() || sess.disconnectedAt.After(now) {
		// Connected when the broker stopped: disconnected now.
		sess.disconnectedAt = now
	}
	// Deliveries until the client reconnects are checked against its
	// username; the listener is not known (with per_listener_settings the
	// ACLs then refuse, as Mosquitto's do).
	sess.info = &ClientInfo{ClientID: r.ClientID, Username: r.Username, HasUsername: r.Username != "", ProtocolVersion: sess.version}
	for _, sub := range r.Subscriptions {
		opts := topic.Options{QoS: sub.QoS, NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, SubscriptionID: sub.ID}
		if sess.subs == nil {
			sess.subs = make(map[string]topic.Options)
		}
		sess.subs[sub.Filter] = opts
	}
	return sess
}

// restoreOutgoing puts a stored message back in its session's queue or
// in-flight window; stored says whether it is in the store under o.Seq.
func (s *Server) restoreOutgoing(sess *session, o *store.Outgoing, m *message, stored bool) {
	d := delivery{msg: m, qos: o.QoS, retain: o.Retain, subIDs: o.SubIDs}
	if stored {
		d.key = o.Seq
	}
	if o.State == store.StateQueued {
		_, inUse := sess.inflight[o.PacketID]
		if _, reserved := sess.reserved[o.PacketID]; reserved {
			inUse = true
		}
		// An id another message holds already (an imported file may
		// repeat one) is dropped: the message gets a new one when sent.
		if o.PacketID != 0 && !inUse {
			d.pid = o.PacketID
			if sess.reserved == nil {
				sess.reserved = make(map[uint16]struct{})
			}
			sess.reserved[o.PacketID] = struct{}{}
		}
		sess.queue = append(sess.queue, d)
		sess.queuedBytes += m.size()
		return
	}
	f := &inflight{delivery: d, id: o.PacketID, seq: o.Seq}
	switch o.State {
	case store.StateAwaitPuback:
		f.state = awaitPuback
	case store.StateAwaitPubrec:
		f.state = awaitPubrec
	default:
		f.state = awaitPubcomp
	}
	if sess.inflight == nil {
		sess.inflight = make(map[uint16]*inflight)
	}
	sess.inflight[o.PacketID] = f
	sess.inflightLen += m.size()
}

// toStored converts a message to its stored form.
func toStored(m *message) *store.Message {
	sm := &store.Message{
		Topic:   m.topic,
		Payload: m.payload,
		QoS:     m.qos,
		Retain:  m.retain,
		Expiry:  m.expires(),
		Origin:  m.origin,
	}
	if src := m.source; src != nil {
		sm.HasSource, sm.OriginUsername, sm.OriginHasUsername = true, src.Username, src.HasUsername
		sm.OriginListener = m.sourceListener
		if src.Listener != nil {
			sm.OriginListener = src.Listener.Name
		}
	}
	p := m.properties()
	if p.Has(packet.PropPayloadFormat) {
		sm.HasPayloadFormat, sm.PayloadFormat = true, p.PayloadFormat
	}
	if p.Has(packet.PropContentType) {
		sm.ContentType = p.ContentType
	}
	if p.Has(packet.PropResponseTopic) {
		sm.ResponseTopic = p.ResponseTopic
	}
	if p.Has(packet.PropCorrelationData) {
		sm.CorrelationData = p.CorrelationData
	}
	sm.User = p.User
	return sm
}

// fromStored rebuilds a message from its stored form.
func fromStored(sm *store.Message) *message {
	m := &message{
		topic:   sm.Topic,
		payload: sm.Payload,
		qos:     sm.QoS,
		retain:  sm.Retain,
		expiry:  expiryAt(sm.Expiry),
		origin:  sm.Origin,
	}
	if sm.HasSource {
		m.source = &ClientInfo{ClientID: sm.Origin, Username: sm.OriginUsername, HasUsername: sm.OriginHasUsername}
		m.sourceListener = sm.OriginListener
	}
	p := new(packet.Properties)
	if sm.HasPayloadFormat {
		p.PayloadFormat = sm.PayloadFormat
		p.Set(packet.PropPayloadFormat)
	}
	if sm.ContentType != "" {
		p.ContentType = sm.ContentType
		p.Set(packet.PropContentType)
	}
	if sm.ResponseTopic != "" {
		p.ResponseTopic = sm.ResponseTopic
		p.Set(packet.PropResponseTopic)
	}
	if sm.CorrelationData != nil {
		p.CorrelationData = sm.CorrelationData
		p.Set(packet.PropCorrelationData)
	}
	p.User = sm.User
	m.setProps(p)
	return m
}
