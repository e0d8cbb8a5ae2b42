package broker

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/topic"
)

// This file is the broker's introspection API, for admin tools: what
// clients and sessions there are, what they subscribed to, the retained
// messages, and the few actions an operator takes on them. Every call
// takes a snapshot under the usual locks and returns copies.

// Subscription is one subscription of a session.
type Subscription struct {
	// Filter is the topic filter as subscribed, "$share/group/..." for
	// a shared subscription.
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	SubscriptionID    uint32
}

// SessionDetail describes one session and, while one is connected, its
// client.
type SessionDetail struct {
	ClientID string
	// Connected reports whether a client is connected now; the fields
	// from Username to ConnectedAt describe the latest connection.
	Connected       bool
	Username        string
	RemoteAddr      string
	Listener        string
	ProtocolVersion byte
	KeepAlive       time.Duration
	ConnectedAt     time.Time
	// Expiry is the Session Expiry Interval: how long the session
	// outlives its connection (-1: forever).
	Expiry time.Duration
	// Queued messages waiting behind the in-flight window (QueuedBytes
	// their payload bytes); Inflight the QoS 1 and 2 messages sent and not
	// acknowledged yet.
	Queued, QueuedBytes, Inflight int
	Subscriptions                 []Subscription
}

// sessionList returns the sessions, in no order.
func (s *Server) sessionList() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, ss)
	}
	return out
}

// Sessions returns a snapshot of every session, sorted by client id.
func (s *Server) Sessions() []SessionDetail {
	list := s.sessionList()
	out := make([]SessionDetail, 0, len(list))
	for _, ss := range list {
		if d, ok := ss.detail(); ok {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out
}

// SessionDetail returns a snapshot of the session of client id id, and
// false if there is none.
func (s *Server) SessionDetail(id string) (SessionDetail, bool) {
	ss := s.lookupSession(id)
	if ss == nil {
		return SessionDetail{}, false
	}
	return ss.detail()
}

// lookupSession returns the session of client id id, nil if none.
func (s *Server) lookupSession(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

func (ss *session) detail() (SessionDetail, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return SessionDetail{}, false
	}
	d := SessionDetail{
		ClientID:        ss.id,
		Connected:       ss.conn != nil,
		ProtocolVersion: ss.version,
		Expiry:          -1,
		Queued:          len(ss.queue),
		QueuedBytes:     ss.queuedBytes,
		Inflight:        len(ss.inflight),
		Subscriptions:   make([]Subscription, 0, len(ss.subs)),
	}
	if ss.expiry != neverExpires {
		d.Expiry = time.Duration(ss.expiry) * time.Second
	}
	if ss.connectedAt != 0 {
		d.ConnectedAt = time.Unix(0, ss.connectedAt)
	}
	if info := ss.info; info != nil {
		d.Username = info.Username
		if info.RemoteAddr != nil {
			d.RemoteAddr = info.RemoteAddr.String()
		}
		if info.Listener != nil {
			d.Listener = info.Listener.Name
		}
	}
	if c := ss.conn; c != nil {
		// Set before the connection was attached, under ss.mu.
		d.KeepAlive = c.keepAlive
		if d.RemoteAddr == "" {
			d.RemoteAddr = c.remote()
		}
	}
	for f, o := range ss.subs {
		d.Subscriptions = append(d.Subscriptions, Subscription{
			Filter: f, QoS: o.QoS, NoLocal: o.NoLocal, RetainAsPublished: o.RetainAsPublished,
			RetainHandling: o.RetainHandling, SubscriptionID: o.SubscriptionID,
		})
	}
	sort.Slice(d.Subscriptions, func(i, j int) bool { return d.Subscriptions[i].Filter < d.Subscriptions[j].Filter })
	return d, true
}

// Disconnect closes the connection of client id, as if the broker had
// decided to: a 5.0 client gets DISCONNECT with reason 0x98
// (Administrative action), its will is published and its session is kept
// as its expiry interval says. It reports whether the client was
// connected.
func (s *Server) Disconnect(id string) bool {
	ss := s.lookupSession(id)
	if ss == nil {
		return false
	}
	ss.mu.Lock()
	c := ss.conn
	ss.mu.Unlock()
	// A connection the broker is already closing (its session detaches
	// once its reader ends) is not connected any more.
	if c == nil || !c.kickReason.CompareAndSwap(0, uint32(packet.AdministrativeAction)|0x100) {
		return false
	}
	s.log.Notice(fmt.Sprintf("Client %s has been disconnected by an administrator.", id))
	c.kick(packet.AdministrativeAction)
	return true
}

// Redirect closes every client connection, as a server does that cannot
// serve its clients as it should while other servers can (a cluster node
// cut off from the others): a 5.0 client gets DISCONNECT 0x9C (Use
// another server). Wills and sessions fare as when a connection is
// lost. It returns how many connections it closed.
func (s *Server) Redirect() int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		// kick may wait for the writer to drain: not on the caller's
		// goroutine.
		go c.kick(packet.UseAnotherServer)
	}
	return len(conns)
}

// RetainedMessage is a retained message as the broker holds it.
type RetainedMessage struct {
	Topic   string
	Payload []byte
	QoS     byte
	// Expires is when the message expires (zero: never).
	Expires time.Time
	// Publisher is the client id of its publisher ("" for the broker's
	// own, or unknown after a restart).
	Publisher string
	// Properties are the v5 properties it is delivered with (the Message
	// Expiry Interval as published; Expires says what is left).
	Properties packet.Properties
	// Source is its publisher as check_retain_source knows it (nil:
	// unknown).
	Source *MessageSource
}

// Retained calls fn for every retained message whose topic matches the
// filter, in topic order, until fn returns false. As for a subscription,
// a filter starting with a wildcard does not match topics starting with
// '$'. The payload passed to fn must not be modified.
func (s *Server) Retained(filter string, fn func(RetainedMessage) bool) error {
	if err := topic.ValidateFilter(filter); err != nil {
		return fmt.Errorf("topic filter %q: %w", filter, err)
	}
	now := time.Now()
	s.retained.Match(filter, func(name string, m *message) bool {
		if m.expired(now) {
			return true
		}
		return fn(RetainedMessage{Topic: name, Payload: m.payload, QoS: m.qos, Expires: m.expires(), Publisher: m.origin, Properties: *m.properties(), Source: sourceOf(m)})
	})
	return nil
}

// ErrNoRetained is returned by DeleteRetained for a topic with no
// retained message.
var ErrNoRetained = errors.New("broker: no retained message on the topic")

// DeleteRetained removes the retained message of a topic without
// publishing anything: unlike an empty retained PUBLISH, no subscriber
// hears of it. With a store, the removal is durable when it returns nil.
func (s *Server) DeleteRetained(name string) error {
	if err := topic.ValidateName(name); err != nil {
		return fmt.Errorf("topic %q: %w", name, err)
	}
	// Exclusive: no retained publish may come between the store and the
	// memory (retained publishes hold retainMu for reading meanwhile).
	s.retainMu.Lock()
	defer s.retainMu.Unlock()
	if _, ok := s.retained.Get(name); !ok {
		return ErrNoRetained
	}
	if s.journal != nil {
		if err := s.journal.add(store.DeleteRetained(name)).wait(); err != nil {
			return fmt.Errorf("removing the retained message of %q: %w", name, err)
		}
	}
	s.retained.Delete(name)
	return nil
}

// ListenerDetail describes a listener Serve is accepting on.
type ListenerDetail struct {
	Name    string
	Address string
	Port    int
	// Network is "tcp" or "unix"; TLS and WebSocket are not known to
	// the broker: the embedding program wraps them around the sockets.
	Network string
}

// Listeners returns the listeners being served, sorted by address.
func (s *Server) Listeners() []ListenerDetail {
	s.mu.Lock()
	out := make([]ListenerDetail, 0, len(s.listeners))
	for ln, l := range s.listeners {
		a := ln.Addr()
		out = append(out, ListenerDetail{Name: l.Name, Address: a.String(), Port: l.Port, Network: a.Network()})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// QueueTotals adds up, over every session, the messages queued behind the
// in-flight windows (and their payload bytes) and the messages in flight.
// It locks each session in turn, copying nothing.
func (s *Server) QueueTotals() (queued, queuedBytes, inflight int) {
	for _, ss := range s.sessionList() {
		ss.mu.Lock()
		if !ss.ended {
			queued += len(ss.queue)
			queuedBytes += ss.queuedBytes
			inflight += len(ss.inflight)
		}
		ss.mu.Unlock()
	}
	return queued, queuedBytes, inflight
}

// Uptime is the time since the broker was created.
func (s *Server) Uptime() time.Duration { return time.Since(s.started) }

// DisconnectUsername closes every connection of clients that logged in
// with the username (hasUsername false: those that gave none), without
// waiting for them to close, as
// Mosquitto's plugins kick clients whose rights changed: a 5.0 client gets
// DISCONNECT 0x98 (administrative action), and its will is published only
// if withWill. It returns how many were disconnected.
func (s *Server) DisconnectUsername(username string, hasUsername, withWill bool) int {
	s.mu.Lock()
	conns := make([]*conn, 0, 4)
	for c := range s.conns {
		info := c.authInfo.Load()
		if info != nil && info.HasUsername == hasUsername && (!hasUsername || info.Username == username) {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		if !withWill {
			c.will.Store(nil)
		}
		s.dropDeniedSubscriptions(c)
		// kick may wait for the writer to drain: not on the caller's
		// goroutine, which may be a connection's reader.
		s.wg.Go(func() { c.kick(packet.AdministrativeAction) })
	}
	return len(conns)
}

// dropDeniedSubscriptions removes, from the session that outlives the
// connection c (an expiry interval above 0), the subscriptions the
// Authorizer no longer allows, as Mosquitto does when a plugin kicks a
// client: the session would otherwise go on receiving what its user may
// no longer subscribe to.
func (s *Server) dropDeniedSubscriptions(c *conn) {
	info := c.authInfo.Load()
	sess := s.lookupSession(info.ClientID)
	if sess == nil {
		return
	}
	sess.mu.Lock()
	if sess.conn != c || sess.expiry == 0 {
		sess.mu.Unlock()
		return
	}
	filters := make([]string, 0, len(sess.subs))
	for f := range sess.subs {
		filters = append(filters, f)
	}
	sess.mu.Unlock()
	removed := false
	for _, f := range filters {
		if s.authorize(info, f, AccessSubscribe) {
			continue
		}
		if s.indexUnsubscribe(sess, f) {
			s.relayUnsubscribed(f)
		}
		sess.mu.Lock()
		delete(sess.subs, f)
		sess.mu.Unlock()
		removed = true
		s.log.Info(fmt.Sprintf("Removed subscription %s of %s: no longer allowed.", f, info.ClientID))
	}
	if removed {
		if err := s.storeSubscriptionsOf(sess); err != nil {
			s.log.Error(fmt.Sprintf("Error: persistence: storing the subscriptions of %s: %v.", info.ClientID, err))
		}
	}
}
