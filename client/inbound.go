package client

import (
	"sync"

	"github.com/midge-mqtt/midge/internal/packet"
)

// inboxQoS0Limit is how many received QoS 0 messages may wait for the
// handler before the reader stops reading (backpressure to the server).
// QoS 1 and 2 messages are bounded by the Receive Maximum instead.
const inboxQoS0Limit = 1024

// delivery is a received message on its way to OnMessage.
type delivery struct {
	msg  *Message
	conn *conn // the connection it came on, for the QoS 1 PUBACK
	// suback, instead of msg, is a SUBACK for Options.OnSuback.
	suback *Suback
	// epoch is the session epoch of an incoming QoS 2 message.
	epoch uint64
}

// inbox is the queue between the reader, which must never wait for the
// application, and the delivery goroutine, which runs OnMessage. Because
// acknowledgements are read by the reader, a handler may itself Publish
// and wait for the PUBACK.
type inbox struct {
	mu     sync.Mutex
	queue  []delivery
	qos0   int           // QoS 0 messages in queue
	wake   chan struct{} // cap 1: a push or close happened
	space  chan struct{} // cap 1: a QoS 0 message left the queue
	closed bool
}

func (b *inbox) init() {
	b.wake = make(chan struct{}, 1)
	b.space = make(chan struct{}, 1)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push queues d, waiting while too many QoS 0 messages are queued and
// block says waiting is safe. It returns false if cancel closes first or
// the inbox is closed.
func (b *inbox) push(d delivery, cancel <-chan struct{}, block func() bool) bool {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return false
		}
		if d.msg == nil || d.msg.QoS > 0 || b.qos0 < inboxQoS0Limit || !block() {
			b.queue = append(b.queue, d)
			if d.msg != nil && d.msg.QoS == 0 {
				b.qos0++
			}
			b.mu.Unlock()
			signal(b.wake)
			return true
		}
		b.mu.Unlock()
		select {
		case <-b.space:
		case <-cancel:
			return false
		}
	}
}

// pop returns the next delivery, waiting for one; false once the inbox is
// closed and empty.
func (b *inbox) pop() (delivery, bool) {
	for {
		b.mu.Lock()
		if len(b.queue) > 0 {
			d := b.queue[0]
			b.queue[0] = delivery{}
			b.queue = b.queue[1:]
			if d.msg != nil && d.msg.QoS == 0 {
				b.qos0--
			}
			b.mu.Unlock()
			signal(b.space)
			return d, true
		}
		closed := b.closed
		b.mu.Unlock()
		if closed {
			return delivery{}, false
		}
		<-b.wake
	}
}

// len returns the number of messages queued.
func (b *inbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, d := range b.queue {
		if d.msg != nil {
			n++
		}
	}
	return n
}

// close stops the inbox; drop discards what is queued.
func (b *inbox) close(drop bool) {
	b.mu.Lock()
	b.closed = true
	if drop {
		b.queue = nil
		b.qos0 = 0
	}
	b.mu.Unlock()
	signal(b.wake)
}

// deliver is the delivery goroutine: it runs OnMessage for each message
// and acknowledges it afterwards.
func (c *Client) deliver() {
	for {
		d, ok := c.inbox.pop()
		if !ok {
			return
		}
		if d.suback != nil {
			c.opts.OnSuback(c, d.suback)
			continue
		}
		f := c.opts.OnMessage
		if f != nil && c.opts.ManualAck && d.msg.QoS > 0 {
			a := &manualAck{d: d}
			d.msg.ack = a
			d.conn.ackMu.Lock()
			d.conn.acks = append(d.conn.acks, a)
			d.conn.ackMu.Unlock()
			f(c, d.msg)
			continue
		}
		if f != nil {
			f(c, d.msg)
		}
		c.acknowledge(d)
	}
}

// manualAck is a received message's acknowledgement waiting for
// Client.Ack.
type manualAck struct {
	d    delivery
	done bool // under d.conn.ackMu
}

// Ack acknowledges a message received with Options.ManualAck: it sends
// the PUBACK (QoS 1) or PUBCOMP (QoS 2) once every message that arrived
// before it on the same connection has been acknowledged too. Acking a
// QoS 0 message, or one twice, does nothing.
func (c *Client) Ack(m *Message) {
	a := m.ack
	if a == nil {
		return
	}
	cn := a.d.conn
	cn.ackMu.Lock()
	defer cn.ackMu.Unlock()
	a.done = true
	n := 0
	for n < len(cn.acks) && cn.acks[n].done {
		// Under ackMu: the order between concurrent Ack calls is the
		// order on the wire.
		c.acknowledge(cn.acks[n].d)
		cn.acks[n] = nil
		n++
	}
	cn.acks = cn.acks[n:]
}

// acknowledge sends the acknowledgement of a handled message: PUBACK on
// the connection it came on (a PUBACK on another would answer nothing
// the server still holds), PUBREC on the current connection as long as
// the session still has the identifier.
func (c *Client) acknowledge(d delivery) {
	m := d.msg
	switch m.QoS {
	case 1:
		d.conn.qos1Pending.Add(-1)
		d.conn.write(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	case 2:
		// The exchange ends here: the identifier is free again and
		// PUBCOMP goes out on the current connection [MQTT-4.3.3-12]. If
		// the server lost the session meanwhile, the identifier may
		// already name a new message: leave it alone.
		c.mu.Lock()
		if d.epoch != c.sess.epoch || c.sess.in2[m.PacketID] != released {
			c.mu.Unlock()
			return
		}
		// Until the PUBCOMP is out, a PUBREL sent again is answered as
		// for a handled message.
		c.sess.in2[m.PacketID] = handled
		cn := c.conn
		c.mu.Unlock()
		if cn == nil || cn.write(&packet.Ack{Kind: packet.PUBCOMP, PacketID: m.PacketID}) != nil {
			return // the server sends PUBREL again after reconnecting
		}
		c.mu.Lock()
		if d.epoch == c.sess.epoch && c.sess.in2[m.PacketID] == handled {
			delete(c.sess.in2, m.PacketID)
		}
		c.mu.Unlock()
	}
}

// handlePublish resolves the topic alias of an incoming PUBLISH, enforces
// the Receive Maximum, records QoS 2 identifiers and queues the message.
func (cn *conn) handlePublish(p *packet.Publish) error {
	c := cn.c
	if p.Properties.Has(PropTopicAlias) {
		a := p.Properties.TopicAlias
		o := &c.opts.Properties
		if a == 0 || !o.Has(PropTopicAliasMaximum) || a > o.TopicAliasMaximum {
			return violated(TopicAliasInvalid, "topic alias %d out of range [MQTT-3.3.2-9]", a)
		}
		if p.Topic == "" {
			t, ok := cn.aliasIn[a]
			if !ok {
				return violated(ProtocolError, "unknown topic alias %d", a)
			}
			p.Topic = t
		} else {
			if cn.aliasIn == nil {
				cn.aliasIn = make(map[uint16]string)
			}
			cn.aliasIn[a] = p.Topic
		}
		p.Properties.Clear(PropTopicAlias)
	}
	m := &Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain,
		Dup: p.Dup, PacketID: p.PacketID, Properties: p.Properties}
	recvMax := 65535
	if cn.version == MQTT5 && c.opts.Properties.Has(PropReceiveMaximum) {
		recvMax = int(c.opts.Properties.ReceiveMaximum)
	}
	switch p.QoS {
	case 1:
		c.mu.Lock()
		pending := int(cn.qos1Pending.Add(1)) + len(c.sess.in2)
		c.mu.Unlock()
		if pending > recvMax {
			return violated(ReceiveMaximumExceeded, "more than %d unacknowledged QoS 1 and 2 messages [MQTT-3.3.4-9]", recvMax)
		}
	case 2:
		// As libmosquitto: keep the message and answer PUBREC now; the
		// application gets it when PUBREL arrives (MQTT 5.0 section 4.3.3
		// allows either moment). A resent PUBLISH with the same
		// identifier is the same message: answered, not kept again
		// [MQTT-4.3.3-10]. But an identifier whose PUBCOMP is written
		// (handled) is free for the server once it reads it: a PUBLISH
		// with it is a new message, which the PUBCOMP's writer then
		// leaves alone.
		c.mu.Lock()
		cur, seen := c.sess.in2[p.PacketID]
		reused := seen && cur == handled
		if reused {
			seen = false
		}
		if !seen {
			n := int(cn.qos1Pending.Load()) + len(c.sess.in2)
			if !reused {
				n++ // a new entry, where a handled one is replaced
			}
			if n > recvMax {
				c.mu.Unlock()
				return violated(ReceiveMaximumExceeded, "more than %d unacknowledged QoS 1 and 2 messages [MQTT-3.3.4-9]", recvMax)
			}
			c.sess.in2[p.PacketID] = m
		}
		c.mu.Unlock()
		cn.write(&packet.Ack{Kind: packet.PUBREC, PacketID: p.PacketID})
		return nil
	}
	c.inbox.push(delivery{msg: m, conn: cn}, cn.done, c.mayBlockReader)
	return nil
}

// handlePubrel releases an incoming QoS 2 message to the application;
// PUBCOMP follows once OnMessage has returned (see acknowledge). A PUBREL
// for an identifier the session does not hold is completed at once
// [MQTT-4.3.3-12], with reason 0x92 for MQTT 5.
func (cn *conn) handlePubrel(a *packet.Ack) error {
	c := cn.c
	c.mu.Lock()
	m, ok := c.sess.in2[a.PacketID]
	epoch := c.sess.epoch
	switch {
	case !ok, m == released:
	case m == handled:
		delete(c.sess.in2, a.PacketID)
	default:
		c.sess.in2[a.PacketID] = released // on its way to OnMessage
	}
	c.mu.Unlock()
	switch {
	case ok && m == released:
		// A PUBREL sent again while the handler runs: its PUBCOMP is
		// on the way.
	case ok && m != handled:
		c.inbox.push(delivery{msg: m, conn: cn, epoch: epoch}, cn.done, c.mayBlockReader)
	default:
		comp := &packet.Ack{Kind: packet.PUBCOMP, PacketID: a.PacketID}
		if !ok && cn.version == MQTT5 && !c.opts.Bridge {
			comp.ReasonCode = PacketIdentifierNotFound
		}
		cn.write(comp)
	}
	return nil
}

// mayBlockReader reports whether the reader may stop reading while the
// handler catches up with QoS 0 messages: not while the client waits for
// an acknowledgement or a SUBACK/UNSUBACK, which only the reader can read
// (a handler that publishes at QoS 1 would otherwise wait for ever).
func (c *Client) mayBlockReader() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sess.out) == 0 && len(c.sess.requests) == 0
}
