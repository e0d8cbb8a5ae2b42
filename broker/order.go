package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// Order across connections. Mosquitto handles every socket on one thread
// in the order their bytes became readable, so a SUBSCRIBE that reached
// it before another client's PUBLISH is in place when that PUBLISH is
// routed, a retained PUBLISH that reached it before another client's
// SUBSCRIBE is among the retained messages that subscription gets, and
// what a client sent before a new connection took its session over is
// handled before the takeover. midge reads connections in parallel, a
// connection that was quiet is woken by the parker (a hop more than a
// busy one), and a retained message may wait for the store: without care
// a request sent right after a subscription misses its response, and a
// retained message published just before a subscription is missed. Two
// mechanisms keep Mosquitto's order where clients can observe it:
//
//   - the order gate: a SUBSCRIBE or UNSUBSCRIBE, a DISCONNECT (after
//     which messages for a persistent session are queued, not sent), and
//     a retained PUBLISH, that has arrived (its first byte seen, by the
//     parker or by the reader) takes a ticket. A PUBLISH waits for the
//     subscription changes, and a SUBSCRIBE for the retained publishes,
//     whose tickets were issued before its own burst of packets began
//     (and before its own ticket): at most gateWait;
//   - settling before a takeover: a CONNECT that takes over a connected
//     session first lets the old connection handle the bytes it had
//     already received, at most settleWait.
//
// Both waits only happen while such a packet is in progress: otherwise a
// packet costs one atomic load.

// gateWait bounds how long a packet waits for an earlier one of another
// connection; settleWait how long a takeover waits for the old connection.
const (
	gateWait   = 200 * time.Millisecond
	settleWait = 100 * time.Millisecond
)

// ticketKind is what a ticket of the order gate stands for.
type ticketKind uint8

const (
	ticketSubscription ticketKind = 1 + iota // a SUBSCRIBE, UNSUBSCRIBE or DISCONNECT
	ticketRetained                           // a PUBLISH with the retain flag
)

// ticketFor returns the kind of ticket a packet starting with first
// takes, or 0.
func ticketFor(first byte) ticketKind {
	switch t := packet.Type(first >> 4); {
	case t == packet.SUBSCRIBE, t == packet.UNSUBSCRIBE, t == packet.DISCONNECT:
		return ticketSubscription
	case t == packet.PUBLISH && first&0x01 != 0:
		return ticketRetained
	}
	return 0
}

type ticket struct {
	seq  uint64
	kind ticketKind
}

// orderGate holds the packets in progress that later packets of other
// connections must not overtake.
type orderGate struct {
	pending [3]atomic.Int32 // tickets outstanding, by kind
	seq     atomic.Uint64   // tickets issued so far
	mu      sync.Mutex
	tickets map[*conn]ticket
	changed chan struct{} // closed and replaced when a ticket is returned
}

// enter gives c a ticket for the packet it is about to handle. It does
// nothing if c holds one already.
func (g *orderGate) enter(c *conn, kind ticketKind) {
	g.mu.Lock()
	if _, in := g.tickets[c]; !in {
		if g.tickets == nil {
			g.tickets = make(map[*conn]ticket)
		}
		t := ticket{g.seq.Add(1), kind}
		g.tickets[c] = t
		g.pending[kind].Add(1)
		c.ticket.Store(t.seq)
	}
	g.mu.Unlock()
}

// leave returns c's ticket, if it has one.
func (g *orderGate) leave(c *conn) {
	if c.ticket.Swap(0) == 0 {
		return
	}
	g.mu.Lock()
	if t, in := g.tickets[c]; in {
		delete(g.tickets, c)
		g.pending[t.kind].Add(-1)
		if g.changed != nil {
			close(g.changed)
			g.changed = nil
		}
	}
	g.mu.Unlock()
}

// await makes c wait, at most gateWait, for the packets of kind that
// arrived before c's current burst began: those whose tickets were issued
// up to c.burstSeq, and before c's own ticket if it holds one, so that two
// connections never wait for each other.
func (g *orderGate) await(c *conn, kind ticketKind) {
	if g.pending[kind].Load() == 0 {
		return
	}
	bound := c.burstSeq
	if own := c.ticket.Load(); own != 0 && own <= bound {
		bound = own - 1
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		g.mu.Lock()
		earlier := false
		for other, t := range g.tickets {
			if t.kind == kind && t.seq <= bound && other != c {
				earlier = true
				break
			}
		}
		if !earlier {
			g.mu.Unlock()
			return
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		ch := g.changed
		g.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(gateWait)
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		}
	}
}

// settle lets c, the connection a new one is taking the session over
// from, handle the bytes it has already received before the takeover, and
// waits for that (at most settleWait): the packets it is handling now,
// and those still waiting in its socket.
func (c *conn) settle() {
	if _, pending := c.peekByte(); !pending && !c.flags.has(flagHandling|flagAnswering) {
		return
	}
	done := make(chan struct{})
	if !c.settling.CompareAndSwap(nil, &done) {
		return // another takeover is waiting already
	}
	c.wake() // a parked connection needs a reader for its bytes
	t := time.NewTimer(settleWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// settled is called by c's reader when it has handled what it read: a
// takeover waiting for that may go on once nothing more is pending.
func (c *conn) settled() {
	p := c.settling.Load()
	if p == nil {
		return
	}
	if _, pending := c.peekByte(); pending {
		return // the reader goes on with those bytes first
	}
	if c.settling.CompareAndSwap(p, nil) {
		close(*p)
	}
}

// settleOld lets the connection that holds id's session now, if any,
// handle what it has received before a new connection takes over.
func (s *Server) settleOld(id string) {
	s.mu.Lock()
	var old *conn
	if sess := s.sessions[id]; sess != nil {
		sess.mu.Lock()
		old = sess.conn
		sess.mu.Unlock()
	}
	s.mu.Unlock()
	if old != nil {
		old.settle()
	}
}
