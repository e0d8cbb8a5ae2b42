package client

import (
	"context"
	"fmt"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// Subscribe subscribes to subs in one SUBSCRIBE and returns the SUBACK:
// one reason code per subscription, which is the granted QoS or a
// failure; failures are not errors. props (nil for none) are the MQTT 5
// SUBSCRIBE properties: one Subscription Identifier (SubscriptionIDs[0])
// and User Properties. Subscriptions are not part of the client's
// session state: after a lost connection whose session the server did
// not keep, subscribe again (Options.OnConnect is the place).
func (c *Client) Subscribe(ctx context.Context, props *Properties, subs ...Subscription) (*Suback, error) {
	p, err := subscribePacket(props, subs)
	if err != nil {
		return nil, err
	}
	resp, err := c.request(ctx, packet.SUBACK, func(id uint16) packet.Packet {
		p.PacketID = id
		return p
	})
	if err != nil {
		return nil, err
	}
	sa := resp.(*packet.Suback)
	if len(sa.ReasonCodes) != len(subs) {
		return nil, fmt.Errorf("%w: SUBACK with %d reason codes for %d subscriptions [MQTT-3.9.3-1]", ErrProtocol, len(sa.ReasonCodes), len(subs))
	}
	return &Suback{ReasonCodes: sa.ReasonCodes, Properties: sa.Properties}, nil
}

// subscribePacket validates subs and builds their SUBSCRIBE (without
// packet identifier).
func subscribePacket(props *Properties, subs []Subscription) (*packet.Subscribe, error) {
	if len(subs) == 0 {
		return nil, fmt.Errorf("%w: no subscriptions [MQTT-3.8.3-2]", ErrInvalid)
	}
	p := &packet.Subscribe{Subscriptions: make([]packet.Subscription, len(subs))}
	for i, s := range subs {
		if err := topic.ValidateFilter(s.Filter); err != nil {
			return nil, fmt.Errorf("%w: filter %q: %w", ErrInvalid, s.Filter, err)
		}
		if s.QoS > 2 || s.RetainHandling > 2 {
			return nil, fmt.Errorf("%w: filter %q: QoS %d, retain handling %d", ErrInvalid, s.Filter, s.QoS, s.RetainHandling)
		}
		p.Subscriptions[i] = packet.Subscription{Filter: s.Filter, QoS: s.QoS,
			NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling}
	}
	if props != nil {
		p.Properties = *props
	}
	return p, nil
}

// Unsubscribe removes the subscriptions to filters in one UNSUBSCRIBE and
// returns the UNSUBACK (MQTT 5: one reason code per filter). props (nil
// for none) carry MQTT 5 User Properties.
func (c *Client) Unsubscribe(ctx context.Context, props *Properties, filters ...string) (*Unsuback, error) {
	if len(filters) == 0 {
		return nil, fmt.Errorf("%w: no topic filters [MQTT-3.10.3-2]", ErrInvalid)
	}
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			return nil, fmt.Errorf("%w: filter %q: %w", ErrInvalid, f, err)
		}
	}
	p := &packet.Unsubscribe{Filters: filters}
	if props != nil {
		p.Properties = *props
	}
	resp, err := c.request(ctx, packet.UNSUBACK, func(id uint16) packet.Packet {
		p.PacketID = id
		return p
	})
	if err != nil {
		return nil, err
	}
	ua := resp.(*packet.Unsuback)
	return &Unsuback{ReasonCodes: ua.ReasonCodes, Properties: ua.Properties}, nil
}

// request sends the packet build makes with a fresh identifier and waits
// for the answer of type kind.
func (c *Client) request(ctx context.Context, kind packet.Type, build func(id uint16) packet.Packet) (packet.Packet, error) {
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return nil, c.endErr()
	}
	cn := c.conn
	if cn == nil {
		c.mu.Unlock()
		return nil, ErrNotConnected
	}
	id, ok := c.sess.allocID()
	if !ok {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: no free packet identifier", ErrInvalid)
	}
	r := &request{conn: cn, kind: kind, done: make(chan struct{})}
	c.sess.requests[id] = r
	maxPacket := c.limits.maxPacket
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.sess.requests[id] == r {
			delete(c.sess.requests, id)
		}
		c.mu.Unlock()
	}()

	p := build(id)
	if n := packet.Size(p, cn.version); maxPacket > 0 && n > maxPacket {
		return nil, fmt.Errorf("%w: %s of %d bytes, server maximum %d", ErrPacketTooLarge, p.Type(), n, maxPacket)
	}
	if err := cn.write(p); err != nil {
		return nil, err
	}
	select {
	case <-r.done:
		return r.resp, nil
	case <-cn.done:
		select {
		case <-r.done: // answered just before the end
			return r.resp, nil
		default:
		}
		return nil, cn.lostErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// handleResponse hands a SUBACK or UNSUBACK to the request waiting for it.
// An answer nobody waits for (its ctx ended) is dropped.
func (c *Client) handleResponse(id uint16, p packet.Packet) {
	c.mu.Lock()
	r := c.sess.requests[id]
	if r != nil && r.kind == p.Type() {
		delete(c.sess.requests, id)
		r.resp = p
		close(r.done)
	}
	c.mu.Unlock()
}
