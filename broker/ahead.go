package broker

import (
	"sync"

	"github.com/midge-mqtt/midge/internal/packet"
)

// Reading ahead. With a Relay (a cluster), a QoS 1 message is
// acknowledged only once the other servers that deliver it have it: a
// round trip between servers. Waiting for each message before reading
// the next would leave one message in flight per publisher, and a
// system call or two per message at every hop. So a connection forwards
// each QoS 0 and 1 message as it reads it, and routes it here and
// answers it later, in order, when it settles: once the packets that
// had arrived together have been read (the end of a burst), before it
// handles any other packet whose answer or effect must follow them
// (SUBSCRIBE, PUBREL, PINGREQ, a QoS 2 or refused PUBLISH, ...), and
// after aheadMax messages. Acknowledgements keep the order of the
// PUBLISH packets [MQTT-4.6.0-2], and the subscribers here see the
// messages in the order they were published.

// aheadMax bounds the messages a connection has forwarded and not yet
// answered.
const aheadMax = 256

// aheadPublish is a message forwarded and not yet routed here.
type aheadPublish struct {
	m    *message
	qos  byte
	id   uint16
	wait func() error // nil: nobody to wait for
}

// aheadList holds a connection's read-ahead messages; only a connection
// that has some holds one (c.ahead), lent by aheadLists.
type aheadList struct{ items []aheadPublish }

var aheadLists = sync.Pool{New: func() any { return &aheadList{items: make([]aheadPublish, 0, 16)} }}

// forwardAhead forwards m and, unless it can be routed at once (nothing
// to wait for and nothing read ahead of it), queues it to be routed and
// answered when the connection settles: it reports whether it did.
func (c *conn) forwardAhead(qos byte, id uint16, m *message) (bool, error) {
	wait, err := c.srv.forward(m)
	if err != nil {
		wait = func() error { return err }
	}
	if wait == nil && c.ahead == nil {
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

// settleAhead waits for, routes and answers the messages read ahead, in
// order. An error is the connection's end (a 3.x QoS 1 message that
// could not be forwarded or stored): the messages after it are then
// not routed here, and their publisher, not acknowledged, sends them
// again.
func (c *conn) settleAhead() error {
	l := c.ahead
	if l == nil {
		return nil
	}
	c.ahead = nil
	var first error
	for i := range l.items {
		it := &l.items[i]
		var err error
		if it.wait != nil {
			// Meanwhile the client's acknowledgements wait too: nobody
			// should wait for this connection (pacing.go).
			c.pacing.Store(true)
			err = it.wait()
			c.pacing.Store(false)
		}
		if first == nil {
			first = c.routePublish(it.m, it.qos, it.id, err)
		}
	}
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
