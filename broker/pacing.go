package broker

import (
	"time"
)

// Pacing: holding back the publisher of subscribers that fall behind.
//
// A QoS 1 or 2 message beyond a subscriber's in-flight window waits in the
// session's queue, and beyond max_queued_messages (or max_queued_bytes) it
// is dropped and counted, as in Mosquitto. Mosquitto's one thread
// interleaves reading publishers with reading subscribers' acknowledgements,
// so a publisher rarely outruns a subscriber that keeps up. midge reads
// connections in parallel and acknowledges a publisher as soon as its
// message is routed, so a publisher can fill the queue of a subscriber
// that keeps up on the whole faster than that subscriber's window lets
// the queue drain, and messages would be dropped that the subscriber could
// have taken.
//
// So when a publish leaves the queue of every connected receiver more than
// half full, or of more than one and more than a quarter of them (see
// holdsBack), the publisher's reader waits, at most reliefWait, until one
// of those queues is down to three eighths: the publisher is paced to its
// subscribers. One slow subscriber does not slow the publisher for the
// others, and gets Mosquitto's behaviour (drops at the limit); but when a
// quarter of them lag, it is the broker, or the subscribers at large,
// that are behind, and the others' messages would be dropped too. (In a
// 1 -> 50 QoS 0 fan-out waiting only when every receiver lagged dropped
// 6-8% of the messages; this drops 0.1%, and delivers more.) Shared
// groups' members never hold a publisher back.
//
// QoS 0 messages have no session queue: they wait for the socket in the
// connection's writer, up to max_queued_messages of them, and beyond
// that are dropped. A QoS 0 receiver with more than half of that waiting
// counts as one that lags, and a publisher that waits for it goes on when
// the writer next takes its queue to the socket (when every receiver
// lags, a publisher waits for such a one rather than for a session queue:
// it drains first). Such a receiver is stalled only if its socket took
// nothing during a whole wait while holding bytes its peer had not taken:
// one that reads slowly paces its publishers, one that stopped reading
// does not, and one whose writer is late because the broker is busy (its
// socket empty) paces them too, as a busy broker needs. So a publisher of
// QoS 0 messages is paced to the socket of its subscriber instead of
// flooding it (nats-server stops reading a fast producer in the same
// way), while a subscriber that stops reading is stalled after one wait
// and has its messages dropped, as in Mosquitto. A QoS 0 receiver that
// lags while its socket holds (nearly) nothing unsent holds the publisher
// back even alone (writerLate): its peer took everything it was given, so
// it is the broker that is behind, and dropping would lose messages the
// receiver could take. (In a 1 -> 50 QoS 0 fan-out on two cores, the
// flushers falling behind the publisher's reader lost 0.08% of the
// messages; with this, 0.003-0.012%, all to subscribers whose sockets
// were full.)
//
// A subscriber whose queue does not drain that far within a whole wait,
// and whose client acknowledged less than an eighth of the limit
// meanwhile (a queue that several publishers fill again as it drains is
// not stalled), is marked stalled for stallFor: it holds nobody back and
// counts as no receiver, until its queue has drained or the time is up
// (or its connection goes). So a subscriber that stopped reading, or reads far
// slower than it is sent to, costs its publishers at most one wait in
// stallFor, and a healthy one that hiccupped is paced again soon.
//
// Messages other servers forward (DeliverRelayed) are paced the same way:
// their handler waits before taking the next, so the other servers'
// publishers, whose acknowledgements wait for it, are held back in turn
// instead of the subscriber's queue overflowing. A reader waiting for
// the other servers' acknowledgements (ahead.go) counts as pacing.
//
// A reader that waits cannot handle its own client's acknowledgements, so
// a publisher never waits for its own session, nor for a session whose
// connection's reader is itself waiting: two clients publishing to each
// other cannot hold each other back.

// reliefWait bounds one wait of a publisher for a congested subscriber;
// stallFor is how long a subscriber that did not drain within a wait
// holds nobody back.
const (
	reliefWait = 250 * time.Millisecond
	stallFor   = 2 * time.Second
)

// stalledLocked reports whether sess is stalled. Called with sess.mu held.
func (sess *session) stalledLocked() bool {
	return sess.stalledUntil != 0 && monotime() < sess.stalledUntil
}

// congestedLocked reports whether a publisher should wait for sess: it is
// connected, not stalled, and its queue is more than half full. Called
// with sess.mu held.
func (s *Server) congestedLocked(sess *session) bool {
	if sess.conn == nil || sess.ended || sess.stalledLocked() {
		return false
	}
	maxMsgs, maxBytes := s.opts.MaxQueuedMessages, s.opts.MaxQueuedBytes
	return maxMsgs > 0 && len(sess.queue) > maxMsgs/2 || maxBytes > 0 && sess.queuedBytes > maxBytes/2
}

// relieveIfDrained wakes the publishers waiting for sess, and ends a
// stall, once its queue is down to three eighths of the limits. Called
// with sess.mu held.
func (s *Server) relieveIfDrained(sess *session) {
	if sess.relief == nil && sess.stalledUntil == 0 {
		return
	}
	maxMsgs, maxBytes := s.opts.MaxQueuedMessages, s.opts.MaxQueuedBytes
	if (maxMsgs <= 0 || len(sess.queue) <= maxMsgs*3/8) && (maxBytes <= 0 || sess.queuedBytes <= maxBytes*3/8) {
		sess.stalledUntil = 0
		sess.relieve()
	}
}

// relieve wakes every publisher waiting for sess; it is called when the
// queue has drained and when the connection goes (a new one starts
// unstalled). Called with sess.mu held.
func (sess *session) relieve() {
	if sess.relief != nil {
		close(sess.relief)
		sess.relief = nil
	}
	if sess.conn == nil {
		sess.stalledUntil = 0
	}
}

// awaitRelief holds the reader of the publishing connection c back while
// sess is congested, at most reliefWait, and reports whether it waited.
// It is called with no lock held, after the publisher's message has been
// routed and acknowledged.
func (s *Server) awaitRelief(c *conn, sess *session) bool {
	if sess == c.sess {
		return false
	}
	return s.pace(&c.flags, sess)
}

// pace is awaitRelief for whoever waits: flagPacing is set in mark while
// it waits (a connection's flags, or the server's relayPacing for the
// messages other servers forward, see DeliverRelayed).
func (s *Server) pace(mark *connFlags, sess *session) bool {
	// Marked before looking at the other side, which does the same: of
	// two readers about to wait for each other, at least one sees the
	// other's mark and goes on.
	mark.set(flagPacing, true)
	defer mark.set(flagPacing, false)
	sess.mu.Lock()
	other := sess.conn
	var relief <-chan struct{}
	writerWait, progress := false, uint64(0)
	var acked, ackedBytes int64 // sess's acknowledgements so far
	switch {
	case other == nil || sess.ended || sess.stalledLocked():
	case s.congestedLocked(sess):
		if other.flags.has(blocked) {
			break // it could not handle its client's acknowledgements
		}
		if sess.relief == nil {
			sess.relief = make(chan struct{})
		}
		relief = sess.relief
		acked, ackedBytes = sess.acked, sess.ackedBytes
	default:
		// QoS 0 messages waiting for the socket: they drain whatever
		// the subscriber's reader does.
		if congested, shrunk := other.w.qos0Congested(s.opts.MaxQueuedMessages); congested {
			relief, writerWait = shrunk, true
			progress = other.w.progress.Load()
		}
	}
	sess.mu.Unlock()
	if relief == nil {
		return false
	}
	s.stats.paced.Add(1)
	var unsent int
	if writerWait {
		unsent, _ = other.unsentBytes()
	}

	t := time.NewTimer(reliefWait)
	relieved := true
	select {
	case <-relief:
	case <-t.C:
		relieved = false
	}
	t.Stop()

	if !relieved {
		sess.mu.Lock()
		// Not drained in a whole wait: stalled, unless relief came just
		// now (relief was closed and reset), the connection changed, or
		// its own reader started waiting meanwhile (then it could not
		// handle its client's acknowledgements).
		// A queue that took an eighth of its limit meanwhile drains,
		// though others filled it again (several publishers): not
		// stalled.
		still := sess.relief == relief && !other.flags.has(blocked) && !s.drainedSince(sess, acked, ackedBytes)
		if writerWait {
			// A socket that took some of the queue meanwhile belongs
			// to a slow reader, which paces; one that took nothing to
			// a reader that stopped. What the socket took shows as a
			// completed write or, while a write waits for room, as a
			// shrinking send queue (see unsentBytes). A send queue
			// that is empty means the peer has room: the writer is
			// late because the broker is busy, which pacing is for.
			still, _ = other.w.qos0Congested(s.opts.MaxQueuedMessages)
			still = still && other.w.progress.Load() == progress
			if now, ok := other.unsentBytes(); still && ok && (now == 0 || now < unsent) {
				still = false
			}
		}
		if still && sess.conn == other && !sess.ended {
			sess.stalledUntil = monotime() + int64(stallFor)
			s.stats.stalled.Add(1)
		}
		sess.mu.Unlock()
	}
	return true
}

// drainedSince reports whether sess's client acknowledged an eighth of the
// queue limits since it had acked messages of ackedBytes bytes. Called
// with sess.mu held.
func (s *Server) drainedSince(sess *session, acked, ackedBytes int64) bool {
	maxMsgs, maxBytes := s.opts.MaxQueuedMessages, s.opts.MaxQueuedBytes
	msgs := maxMsgs <= 0 || sess.acked-acked >= int64(maxMsgs/8)
	bytes := maxBytes <= 0 || sess.ackedBytes-ackedBytes >= int64(maxBytes/8)
	return msgs && bytes
}
