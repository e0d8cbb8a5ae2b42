package broker

import (
	"sync"

	"github.com/midge-mqtt/midge/internal/packet"
)

// Reading ahead. With a Relay (a cluster), a QoS 1 message is
// acknowledged only once the other servers that deliver it have it: a
// round trip between servers. With a store, a QoS 1 message a persistent
// session takes is acknowledged only once it is durable: a commit.
// Waiting for each message before reading the next would leave one
// message in flight per publisher, and a system call or two (or a
// commit) per message at every hop. So a connection forwards each QoS 0
// and 1 message as it reads it, and routes it here and answers it later,
// in order, when it settles: once the packets that had arrived together
// have been read (the end of a burst), before it handles any other packet
// whose answer or effect must follow them (SUBSCRIBE, PUBREL, PINGREQ, a
// QoS 2 or refused PUBLISH, ...), and after aheadMax messages. Settling
// matches every message and queues its records for the store first, then
// waits for them, delivers and answers each, so that a burst costs one
// commit. Acknowledgements keep the order of the PUBLISH packets
// [MQTT-4.6.0-2], and the subscribers here see the messages in the order
// they were published.

// aheadMax bounds the messages a connection has forwarded and not yet
// answered.
const aheadMax = 256

// aheadPublish is a message read ahead and not yet routed here.
type aheadPublish struct {
	m    *message
	qos  byte
	id   uint16
	wait func() error // nil: nobody to wait for
	// r holds the match of a message settleAhead has matched and whose
	// records it has queued (p), until they are durable; n is its
	// receivers.
	r *router
	n int
	p pending
}

// aheadList holds a connection's read-ahead messages; only a connection
// that has some holds one (c.ahead), lent by aheadLists.
type aheadList struct{ items []aheadPublish }

var aheadLists = sync.Pool{New: func() any { return &aheadList{items: make([]aheadPublish, 0, 16)} }}

// readAhead forwards m and, unless it can be routed at once (nothing to
// wait for and nothing read ahead of it), queues it to be routed and
// answered when the connection settles: it reports whether it did.
func (c *conn) readAhead(qos byte, id uint16, m *message) (bool, error) {
	wait, err := c.srv.forward(m)
	if err != nil {
		wait = func() error { return err }
	}
	if wait == nil && c.ahead == nil && !c.storesAhead(qos, m) {
		return false, nil
	}
	if c.ahead == nil {
		c.ahead = aheadLists.Get().(*aheadList)
	}
	c.ahead.items = append(c.ahead.items, aheadPublish{m: m, qos: qos, id: id, wait: wait})
	if len(c.ahead.items) >= aheadMax {
		return true, c.settleAhead()
	}
	return true, nil
}

// storesAhead reports whether m is read ahead for the store alone: a QoS
// 1 message (a persistent session may have to keep it) that is not
// retained (a retained message is routed whole, see settleAhead).
func (c *conn) storesAhead(qos byte, m *message) bool {
	return qos == 1 && !m.retain && c.srv.journal != nil
}

// settleAhead routes and answers the messages read ahead, in order: it
// waits for each one's forwarding, matches it and queues its records,
// then waits for those, delivers and answers it. A retained message, or
// any without a store, is routed whole, after those before it are
// answered. An error is the connection's end (a 3.x QoS 1 message that
// could not be forwarded or stored): the messages after it are then not
// routed here, and their publisher, not acknowledged, sends them again.
func (c *conn) settleAhead() error {
	l := c.ahead
	if l == nil {
		return nil
	}
	c.ahead = nil
	s := c.srv
	var first error
	answered := 0 // l.items[:answered] are answered, or given up
	answerUpTo := func(end int) {
		for ; answered < end; answered++ {
			it := &l.items[answered]
			if it.r == nil {
				continue // never matched: an error came first
			}
			if first != nil {
				s.dropStored(it.r, it.m)
				continue
			}
			c.flags.set(flagPacing, true)
			err := s.awaitStored(it.r, it.m, &it.p)
			c.flags.set(flagPacing, false)
			if err != nil {
				it.r = nil // released
			}
			first = c.answerRouted(it.m, it.qos, it.id, it.r, it.n, err)
		}
	}
	for i := range l.items {
		it := &l.items[i]
		var err error
		if it.wait != nil {
			// Meanwhile the client's acknowledgements wait too: nobody
			// should wait for this connection (pacing.go).
			c.flags.set(flagPacing, true)
			err = it.wait()
			c.flags.set(flagPacing, false)
		}
		if first != nil {
			continue
		}
		if err == nil && s.journal != nil && !it.m.retain {
			it.r, it.n, it.p = s.matchAndQueue(it.m)
			continue
		}
		answerUpTo(i)
		answered = i + 1
		if first == nil {
			first = c.routePublish(it.m, it.qos, it.id, err)
		}
	}
	answerUpTo(len(l.items))
	clear(l.items)
	l.items = l.items[:0]
	aheadLists.Put(l)
	return first
}

// settlesAhead reports whether a packet of type t must wait for the
// messages read ahead of it: every packet but a PUBLISH (handlePublish
// decides) and the client's acknowledgements of our own messages.
func settlesAhead(t packet.Type) bool {
	switch t {
	case packet.PUBLISH, packet.PUBACK, packet.PUBREC, packet.PUBCOMP:
		return false
	}
	return true
}
