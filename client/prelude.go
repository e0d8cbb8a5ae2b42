package client

import (
	"errors"
	"fmt"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// errPreludeOver is returned by a Prelude's methods called after
// Options.Prelude returned.
var errPreludeOver = errors.New("client: prelude is over")

// Prelude sends the first packets of a connection (see Options.Prelude).
// Its methods write at once, without waiting for an answer, each with the
// session's next packet identifier; they may only be called while
// Options.Prelude runs.
type Prelude struct {
	c  *Client
	cn *conn // nil once the prelude is over
}

// Publish sends m. A QoS 1 or 2 message becomes part of the session as
// one sent by Client.Publish (resent after a lost connection), taking an
// in-flight slot even if the window is full; nobody waits for its
// acknowledgement.
func (pr *Prelude) Publish(m *Message) error {
	if pr.cn == nil {
		return errPreludeOver
	}
	c := pr.c
	p, err := c.publishPacket(m)
	if err != nil {
		return err
	}
	if m.QoS > 0 {
		c.mu.Lock()
		id, ok := c.sess.allocID()
		if !ok {
			c.mu.Unlock()
			return fmt.Errorf("%w: no free packet identifier", ErrInvalid)
		}
		p.PacketID = id
		c.sess.inflight++
		c.sess.seq++
		c.sess.out[id] = &outbound{pub: p, seq: c.sess.seq, done: make(chan struct{})}
		c.mu.Unlock()
	}
	// A failed write closes the connection; a QoS 1 or 2 message stays
	// in the session for the next one.
	return pr.cn.writeLocked(p)
}

// Subscribe sends a SUBSCRIBE for subs; done, if not nil, receives the
// SUBACK (or the error that ended the wait) on a goroutine of its own.
func (pr *Prelude) Subscribe(done func(*Suback, error), props *Properties, subs ...Subscription) error {
	p, err := subscribePacket(props, subs)
	if err != nil {
		return err
	}
	return pr.request(packet.SUBACK, &p.PacketID, p, func(resp packet.Packet, err error) {
		if done == nil {
			return
		}
		if err != nil {
			done(nil, err)
			return
		}
		sa := resp.(*packet.Suback)
		done(&Suback{ReasonCodes: sa.ReasonCodes, Properties: sa.Properties}, nil)
	})
}

// Unsubscribe sends an UNSUBSCRIBE for filters; done, if not nil,
// receives the UNSUBACK (or the error that ended the wait) on a goroutine
// of its own.
func (pr *Prelude) Unsubscribe(done func(*Unsuback, error), props *Properties, filters ...string) error {
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			return fmt.Errorf("%w: filter %q: %w", ErrInvalid, f, err)
		}
	}
	p := &packet.Unsubscribe{Filters: filters}
	if props != nil {
		p.Properties = *props
	}
	return pr.request(packet.UNSUBACK, &p.PacketID, p, func(resp packet.Packet, err error) {
		if done == nil {
			return
		}
		if err != nil {
			done(nil, err)
			return
		}
		ua := resp.(*packet.Unsuback)
		done(&Unsuback{ReasonCodes: ua.ReasonCodes, Properties: ua.Properties}, nil)
	})
}

// request registers p under a fresh packet identifier (stored through
// id), writes it and hands the answer of type kind to done.
func (pr *Prelude) request(kind packet.Type, id *uint16, p packet.Packet, done func(packet.Packet, error)) error {
	cn := pr.cn
	if cn == nil {
		return errPreludeOver
	}
	c := pr.c
	c.mu.Lock()
	n, ok := c.sess.allocID()
	if !ok {
		c.mu.Unlock()
		return fmt.Errorf("%w: no free packet identifier", ErrInvalid)
	}
	*id = n
	r := &request{conn: cn, kind: kind, done: make(chan struct{})}
	c.sess.requests[n] = r
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		if c.sess.requests[n] == r {
			delete(c.sess.requests, n)
		}
		c.mu.Unlock()
	}
	if err := cn.writeLocked(p); err != nil {
		forget()
		return err
	}
	c.callbacks.Go(func() {
		defer forget()
		select {
		case <-r.done:
			done(r.resp, nil)
		case <-cn.done:
			select {
			case <-r.done:
				done(r.resp, nil)
			default:
				done(nil, cn.lostErr())
			}
		}
	})
	return nil
}
