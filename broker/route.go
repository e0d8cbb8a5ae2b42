package broker

import (
	"github.com/midge-mqtt/midge/internal/topic"
)

// router is the per-publish scratch space: pooled, so routing allocates
// nothing in steady state.
type router struct {
	m       topic.Matches[*session]
	idx     map[*session]int
	targets []delivery
	owners  []*session
	forms   wireForms
	// live counts the connected sessions this publish gave a QoS 1/2
	// message; congestedN those of them whose queue it left more than
	// half full, congested one of them (see pacing.go).
	live, congestedN int
	congested        *session
	// congestedQoS0 is set when congested lags only in taking QoS 0
	// messages to its socket: the quickest to drain, so the one to wait
	// for when several lag. congestedConn is then its connection.
	congestedQoS0 bool
	congestedConn *conn
	// sent0 and sentBytes0 count the QoS 0 messages queued (and their
	// payload bytes), added to the server's counters once per publish
	// (putRouter) rather than once per subscriber: in a fan-out those
	// atomic adds, on cache lines every core writes, were a cost of each
	// delivery.
	sent0, sentBytes0 int64
}

func (s *Server) getRouter() *router {
	if r, ok := s.routers.Get().(*router); ok {
		return r
	}
	return &router{idx: make(map[*session]int)}
}

func (s *Server) putRouter(r *router) {
	if r.sent0 > 0 {
		s.addSent(0, r.sent0, r.sentBytes0)
		r.sent0, r.sentBytes0 = 0, 0
	}
	r.forms.release()
	r.congested, r.live, r.congestedN, r.congestedQoS0, r.congestedConn = nil, 0, 0, false, nil
	r.m.Reset()
	clear(r.targets)
	r.targets = r.targets[:0]
	clear(r.owners)
	r.owners = r.owners[:0]
	if len(r.idx) > 0 {
		clear(r.idx)
	}
	s.routers.Put(r)
}

// match finds the sessions m goes to, in r.targets and r.owners. A
// session with several matching subscriptions gets one copy at the
// highest QoS carrying every subscription identifier [MQTT-3.3.4-3,
// 3.3.4-4]; each shared group picks one member for its copy. It returns
// the number of subscriptions that matched.
func (r *router) match(s *Server, m *message) int {
	s.subs.Match(m.topic, &r.m)
	matched := len(r.m.Subs) + len(r.m.Shared)
	if matched == 0 {
		return 0
	}
	for i := range r.m.Subs {
		sub := &r.m.Subs[i]
		sess := sub.Key
		if sub.Options.NoLocal && sess.id == m.origin {
			continue // [MQTT-3.8.3-3]
		}
		qos := s.grantedQoS(m.qos, sub.Options.QoS)
		retain := m.retain && sub.Options.RetainAsPublished // [MQTT-3.3.1-12, 3.3.1-13]
		// Only a session that had several subscriptions at once can be
		// matched twice: the others need no lookup.
		if len(r.m.Subs) > 1 && sess.indexed.Load()&severalSubs != 0 {
			if j, seen := r.idx[sess]; seen {
				t := &r.targets[j]
				t.qos = max(t.qos, qos)
				t.retain = t.retain || retain
				if id := sub.Options.SubscriptionID; id != 0 {
					t.subIDs = append(t.subIDs, id)
				}
				continue
			}
			r.idx[sess] = len(r.targets)
		}
		d := delivery{msg: m, qos: qos, retain: retain}
		if id := sub.Options.SubscriptionID; id != 0 {
			d.subIDs = []uint32{id}
		}
		r.targets = append(r.targets, d)
		r.owners = append(r.owners, sess)
	}
	for _, g := range r.m.Shared {
		if m.sharedHere != nil && !m.sharedHere("$share/"+g.Name()+"/"+g.Filter()) {
			continue
		}
		if sess, d, ok := s.pickShared(g, m); ok {
			r.targets = append(r.targets, d)
			r.owners = append(r.owners, sess)
		}
	}
	return matched
}

// deliver makes the deliveries match found. A shared group's member whose
// session ended after it was picked refuses the message, and the group
// picks again.
func (r *router) deliver(s *Server, m *message) {
	for i := range r.targets {
		d := r.targets[i]
		if s.deliver(r.owners[i], d, r) == deliverEnded && d.group != nil {
			s.deliverShared(d.group, m)
		}
	}
}

// pickShared chooses the member of the shared group g that gets m: one
// that is online if there is one, else one whose session keeps it until
// the member reconnects.
func (s *Server) pickShared(g *topic.SharedGroup[*session], m *message) (*session, delivery, bool) {
	sub, ok := g.Pick(sessionOnline)
	if !ok {
		// Nobody online: queue on a member whose session persists.
		if sub, ok = g.Pick(nil); !ok {
			return nil, delivery{}, false
		}
	}
	d := delivery{msg: m, qos: s.grantedQoS(m.qos, sub.Options.QoS), retain: m.retain && sub.Options.RetainAsPublished, group: g}
	if id := sub.Options.SubscriptionID; id != 0 {
		d.subIDs = []uint32{id}
	}
	return sub.Key, d, true
}

// deliverShared gives m to one member of the shared group g. A member
// whose session ended after it was picked (it is still in the group for a
// moment) refuses the message, and the next member is tried, so that the
// message is not lost while the group has members. Messages a member took
// but had not acknowledged when its session ended come back here too (see
// Server.removeSubscriptions).
func (s *Server) deliverShared(g *topic.SharedGroup[*session], m *message) {
	// Every member may have ended; each attempt moves the rotation on.
	for range g.Len() + 1 {
		sess, d, ok := s.pickShared(g, m)
		if !ok {
			return
		}
		s.persistOne(sess, &d)
		if s.deliver(sess, d, nil) != deliverEnded {
			return
		}
	}
}

func sessionOnline(sess *session) bool { return sess.online.Load() }

// grantedQoS is the QoS a subscriber receives a message at.
func (s *Server) grantedQoS(pub, sub byte) byte {
	if s.opts.UpgradeOutgoingQoS {
		return sub
	}
	return min(pub, sub)
}
