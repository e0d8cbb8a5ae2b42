package client

import (
	"cmp"
	"slices"

	"github.com/midge-mqtt/midge/internal/packet"
)

// session is the client's side of the MQTT session state (MQTT 5.0
// section 4.1): outgoing QoS 1 and 2 messages not yet completely
// acknowledged, and the identifiers of incoming QoS 2 messages whose
// PUBREL has not come. It lives in memory for the life of the Client and
// is guarded by Client.mu.
type session struct {
	nextID   uint16
	seq      uint64               // send order of outgoing messages
	out      map[uint16]*outbound // by packet identifier
	requests map[uint16]*request  // SUBSCRIBE and UNSUBSCRIBE awaiting answers
	in2      map[uint16]*Message  // incoming QoS 2 by id: kept until PUBREL, then released or handled
	inflight int                  // window slots taken by Publish calls
	// epoch counts sessions the server lost: a handler that returns after
	// one must not complete an identifier the new session reuses.
	epoch uint64
}

// Markers for in2 entries whose message has left the map: released is on
// its way to OnMessage; handled was handed over but its PUBCOMP could not
// be sent, so a PUBREL sent again gets a successful PUBCOMP.
var (
	released = &Message{}
	handled  = &Message{}
)

// outbound is a QoS 1 or 2 message awaiting acknowledgement.
type outbound struct {
	pub  *packet.Publish // as first sent: full topic, no alias, no DUP
	seq  uint64
	rel  bool // PUBREC received, PUBREL sent: awaiting PUBCOMP
	done chan struct{}
	ack  *Ack
	err  error
}

// request is a SUBSCRIBE or UNSUBSCRIBE awaiting its answer on conn.
type request struct {
	conn *conn
	kind packet.Type // SUBACK or UNSUBACK
	done chan struct{}
	resp packet.Packet
}

func newSession() session {
	return session{
		out:      make(map[uint16]*outbound),
		requests: make(map[uint16]*request),
		in2:      make(map[uint16]*Message),
	}
}

// allocID returns a packet identifier not in use by an outgoing message
// or request [MQTT-2.2.1-3], or false if all 65535 are.
func (s *session) allocID() (uint16, bool) {
	for range 65535 {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		_, inOut := s.out[s.nextID]
		_, inReq := s.requests[s.nextID]
		if !inOut && !inReq {
			return s.nextID, true
		}
	}
	return 0, false
}

// resumeLocked adapts the session to a new connection and returns the
// packets to resend, in their original order. With the session present
// on the server, unacknowledged PUBLISH packets go again with DUP set and
// PUBREL packets again as they were [MQTT-4.4.0-1]. Without it the server
// forgot everything: incoming QoS 2 state is dropped, a QoS 2 message the
// server had PUBRECed counts as delivered, and unacknowledged messages
// are sent again as new ones (at least once across a lost session).
func (c *Client) resumeLocked(present bool) []packet.Packet {
	s := &c.sess
	if !present {
		clear(s.in2)
		s.epoch++
	}
	obs := make([]*outbound, 0, len(s.out))
	for _, ob := range s.out {
		obs = append(obs, ob)
	}
	slices.SortFunc(obs, func(a, b *outbound) int { return cmp.Compare(a.seq, b.seq) })
	var resend []packet.Packet
	for _, ob := range obs {
		switch {
		case ob.rel && present:
			resend = append(resend, &packet.Ack{Kind: packet.PUBREL, PacketID: ob.pub.PacketID})
		case ob.rel:
			c.completeLocked(ob, &Ack{}, nil)
		default:
			p := *ob.pub
			p.Dup = present
			resend = append(resend, &p)
		}
	}
	return resend
}

// completeLocked finishes an outgoing message and frees its window slot.
func (c *Client) completeLocked(ob *outbound, ack *Ack, err error) {
	delete(c.sess.out, ob.pub.PacketID)
	ob.ack, ob.err = ack, err
	close(ob.done)
	c.sess.inflight--
	c.signalSlotLocked()
}

// signalSlotLocked wakes Publish calls waiting for a window slot.
func (c *Client) signalSlotLocked() {
	close(c.slotFree)
	c.slotFree = make(chan struct{})
}
