package client

import (
	"context"
	"fmt"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// Publish sends m and returns when the protocol is done with it: a QoS 0
// message once written, QoS 1 on PUBACK, QoS 2 on PUBCOMP. The Ack
// carries the MQTT 5 reason code and properties of that acknowledgement;
// a failure code (0x80 and above, in PUBACK or PUBREC) returns the Ack
// together with a *ReasonError.
//
// A QoS 1 or 2 message first waits for a slot in the in-flight window
// (Options.MaxInflight lowered to the server's Receive Maximum). Once
// sent it belongs to the session: if ctx ends first Publish returns
// ctx.Err() but the exchange still completes in the background, and on a
// lost connection the message is resent after reconnecting. A QoS 0
// message while reconnecting fails with ErrNotConnected.
//
// Publish checks what the server announced before sending: Maximum QoS
// (ErrQoSNotSupported), Retain Available (ErrRetainNotSupported) and
// Maximum Packet Size (ErrPacketTooLarge).
func (c *Client) Publish(ctx context.Context, m *Message) (*Ack, error) {
	p, err := c.Send(ctx, m)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

// Pending is a message Send has sent, whose acknowledgement is awaited.
type Pending struct {
	c  *Client
	ob *outbound // nil for QoS 0
}

// Send sends m as Publish does but returns once it is written (or, while
// reconnecting, held by the session for the next connection): the
// returned Pending waits for the acknowledgement. Messages sent one after
// another by Send go out in that order, and several may be in flight at
// once, up to the window, so a relay passes messages on at the rate of
// the link rather than one per round trip. ctx bounds only the wait for a
// window slot.
func (c *Client) Send(ctx context.Context, m *Message) (*Pending, error) {
	p, err := c.publishPacket(m)
	if err != nil {
		return nil, err
	}
	if m.QoS == 0 {
		c.mu.Lock()
		cn := c.conn
		c.mu.Unlock()
		if err := c.ctx.Err(); err != nil {
			return nil, c.endErr()
		}
		if cn == nil {
			return nil, ErrNotConnected
		}
		if err := cn.writePublish(p); err != nil {
			return nil, err
		}
		return &Pending{c: c}, nil
	}
	if err := c.acquireSlot(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	id, ok := c.sess.allocID()
	if !ok {
		c.sess.inflight--
		c.signalSlotLocked()
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: no free packet identifier", ErrInvalid)
	}
	p.PacketID = id
	c.sess.seq++
	ob := &outbound{pub: p, seq: c.sess.seq, done: make(chan struct{})}
	c.sess.out[id] = ob
	cn := c.conn
	c.mu.Unlock()
	if cn != nil {
		// A failed write closes the connection; the message stays in
		// the session and is resent on the next one.
		cn.writePublish(p)
	}
	return &Pending{c: c, ob: ob}, nil
}

// Wait returns the acknowledgement as Publish does: at once for QoS 0.
// If ctx ends first it returns ctx.Err() and the exchange goes on.
func (p *Pending) Wait(ctx context.Context) (*Ack, error) {
	if p.ob == nil {
		return &Ack{}, nil
	}
	select {
	case <-p.ob.done:
		return p.ob.ack, p.ob.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.c.ctx.Done():
		select {
		case <-p.ob.done:
			return p.ob.ack, p.ob.err
		default:
		}
		return nil, p.c.endErr()
	}
}

// publishPacket validates m against the protocol and the server's limits
// and builds its PUBLISH (without packet identifier).
func (c *Client) publishPacket(m *Message) (*packet.Publish, error) {
	if err := topic.ValidateName(m.Topic); err != nil {
		return nil, fmt.Errorf("%w: topic %q: %w", ErrInvalid, m.Topic, err)
	}
	if m.QoS > 2 {
		return nil, fmt.Errorf("%w: QoS %d", ErrInvalid, m.QoS)
	}
	p := &packet.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
	if c.opts.ProtocolVersion == MQTT5 {
		p.Properties = m.Properties
		// Aliases are the client's to choose, and a client never sends
		// a Subscription Identifier [MQTT-3.3.4-6].
		p.Properties.Clear(PropTopicAlias)
		p.Properties.Clear(PropSubscriptionID)
	}
	c.mu.Lock()
	l := c.limits
	c.mu.Unlock()
	if m.QoS > l.maxQoS {
		return nil, fmt.Errorf("%w: QoS %d, server maximum %d", ErrQoSNotSupported, m.QoS, l.maxQoS)
	}
	if m.Retain && !l.retain {
		return nil, ErrRetainNotSupported
	}
	if l.maxPacket > 0 {
		// Measure with a packet identifier, as it will be sent.
		q := *p
		if q.QoS > 0 {
			q.PacketID = 1
		}
		if n := packet.Size(&q, c.opts.ProtocolVersion); n == 0 || n > l.maxPacket {
			return nil, fmt.Errorf("%w: %d bytes, server maximum %d", ErrPacketTooLarge, n, l.maxPacket)
		}
	}
	return p, nil
}

// acquireSlot takes a slot of the in-flight window, waiting for one.
func (c *Client) acquireSlot(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.sess.inflight < c.limits.window {
			c.sess.inflight++
			c.mu.Unlock()
			return nil
		}
		free := c.slotFree
		c.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return c.endErr()
		}
	}
}

// handleAck handles PUBACK, PUBREC and PUBCOMP for outgoing messages.
func (c *Client) handleAck(cn *conn, a *packet.Ack) error {
	ack := &Ack{ReasonCode: a.ReasonCode, Properties: a.Properties}
	c.mu.Lock()
	ob := c.sess.out[a.PacketID]
	switch a.Kind {
	case packet.PUBACK:
		if ob != nil && ob.pub.QoS == 1 {
			c.completeLocked(ob, ack, reasonErr("PUBACK", ack))
		}
		// An unknown identifier is an answer to a message ctx gave up
		// on after a session was lost; nothing waits for it.
		c.mu.Unlock()
		return nil
	case packet.PUBREC:
		if ob == nil || ob.pub.QoS != 2 {
			c.mu.Unlock()
			rel := &packet.Ack{Kind: packet.PUBREL, PacketID: a.PacketID}
			if cn.version == MQTT5 && !c.opts.Bridge {
				rel.ReasonCode = PacketIdentifierNotFound
			}
			cn.write(rel) // a failed write closes the connection
			return nil
		}
		if a.ReasonCode.IsError() {
			// The server refused the message: the exchange ends here,
			// without PUBREL (MQTT 5.0 section 4.3.3).
			c.completeLocked(ob, ack, reasonErr("PUBREC", ack))
			c.mu.Unlock()
			return nil
		}
		ob.rel = true
		c.mu.Unlock()
		// [MQTT-4.3.3-4] PUBREL answers PUBREC, with the same identifier.
		cn.write(&packet.Ack{Kind: packet.PUBREL, PacketID: a.PacketID})
		return nil
	case packet.PUBCOMP:
		if ob != nil && ob.rel {
			c.completeLocked(ob, ack, reasonErr("PUBCOMP", ack))
		}
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return violated(ProtocolError, "unexpected %s", a.Kind)
}

func reasonErr(name string, ack *Ack) error {
	if !ack.ReasonCode.IsError() {
		return nil
	}
	return &ReasonError{Packet: name, ReasonCode: ack.ReasonCode, Properties: ack.Properties}
}
