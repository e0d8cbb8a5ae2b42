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

// Answering behind the reader. With a store, what a burst costs is
// mostly the wait for its commit; a reader that waited would read the
// packets that arrived meanwhile only after it, and they would wait for
// a whole commit more. So at the end of a busy connection's burst (one the
// parker watches: a quiet one is parked after it, and TLS and WebSocket
// connections keep the reader's own answers) whose messages only wait for
// the store, the reader matches them and queues their records, hands
// them to the connection's answerer goroutine, and reads on: the next
// burst's records go to the store while the commit before is on its way
// (store.Pipeliner). The answerer waits for each message's records,
// delivers and answers it, in order, and exits once it has nothing left.
// At most one handed burst waits for the answerer: a reader with another
// waits for it, which holds back a client that publishes faster than its
// messages are answered, and keeps pacing (pacing.go) in force.
//
// Whatever must follow those answers waits for the answerer first
// (awaitAnswers): a packet that settles what was read ahead, a message
// routed whole, the end of the connection, a takeover, and parking, so a
// parked connection never has an answerer. When the answerer fails (a
// 3.x QoS 1 message the store could not keep), it drops what it was
// handed after the failure and closes the connection; the reader ends
// with its error.

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
// that has some, or whose answerer has some, holds one (c.ahead), lent by
// aheadLists.
type aheadList struct {
	items []aheadPublish // read ahead, reader-only

	// The answerer's side, under mu: next is a burst handed over and not
	// yet taken, spare a list the answerer is done with, for the reader
	// to fill again. cond is signalled when next is taken and when the
	// answerer stops; err is the first error of an answer, which ends
	// the connection.
	mu      sync.Mutex
	cond    sync.Cond
	next    []aheadPublish
	spare   []aheadPublish
	running bool
	err     error
}

var aheadLists = sync.Pool{New: func() any {
	l := &aheadList{items: make([]aheadPublish, 0, 16)}
	l.cond.L = &l.mu
	return l
}}

// readAhead forwards m and, unless it can be routed at once (nothing to
// wait for and nothing read ahead of it), queues it to be routed and
// answered when the connection settles: it reports whether it did.
func (c *conn) readAhead(qos byte, id uint16, m *message) (bool, error) {
	wait, err := c.srv.forward(m)
	if err != nil {
		wait = func() error { return err }
	}
	if wait == nil && !c.storesAhead(qos, m) {
		if l := c.ahead; l != nil && len(l.items) == 0 && l.idle() {
			// Nothing waits to be answered: m need not wait either.
			c.ahead = nil
			c.releaseAhead(l)
		}
		if c.ahead == nil {
			return false, nil
		}
	}
	if c.ahead == nil {
		c.ahead = aheadLists.Get().(*aheadList)
	}
	c.ahead.items = append(c.ahead.items, aheadPublish{m: m, qos: qos, id: id, wait: wait})
	if len(c.ahead.items) >= aheadMax {
		return true, c.settleRead(!c.flags.has(flagAnswerHere))
	}
	return true, nil
}

// storesAhead reports whether m is read ahead for the store alone: a QoS
// 1 message (a persistent session may have to keep it) that is not
// retained (a retained message is routed whole, see settleAhead).
func (c *conn) storesAhead(qos byte, m *message) bool {
	return qos == 1 && !m.retain && c.srv.journal != nil
}

// settleAhead routes and answers the messages read ahead, in order, once
// the answerer has answered those handed to it: it waits for each one's
// forwarding, matches it and queues its records, then waits for those,
// delivers and answers it. A retained message, or any without a store,
// is routed whole, after those before it are answered. An error is the
// connection's end (a 3.x QoS 1 message that could not be forwarded or
// stored): the messages after it are then not routed here, and their
// publisher, not acknowledged, sends them again.
func (c *conn) settleAhead() error { return c.settleRead(false) }

// settleRead is settleAhead; with handOver, messages that only wait for the
// store are matched and handed to the answerer instead of waited for.
func (c *conn) settleRead(handOver bool) error {
	l := c.ahead
	if l == nil {
		return nil
	}
	if handOver && c.canHandOver(l) {
		s := c.srv
		for i := range l.items {
			it := &l.items[i]
			it.r, it.n, it.p = s.matchAndQueue(it.m)
		}
		return c.handOver(l)
	}
	c.ahead = nil
	if err := c.awaitAnswers(l); err != nil {
		// The answerer failed: the connection ends, and nothing read
		// after the failure is routed.
		c.releaseAhead(l)
		return err
	}
	s := c.srv
	var first error
	answered := 0 // l.items[:answered] are answered, or given up
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
		first = c.answerItems(l.items[answered:i], first, true)
		answered = i + 1
		if first == nil {
			first = c.routePublish(it.m, it.qos, it.id, err)
		}
	}
	first = c.answerItems(l.items[answered:], first, true)
	c.releaseAhead(l)
	return first
}

// canHandOver reports whether every message in l only waits for the store
// (see settleRead).
func (c *conn) canHandOver(l *aheadList) bool {
	if c.srv.journal == nil {
		return false
	}
	for i := range l.items {
		if it := &l.items[i]; it.wait != nil || it.m.retain {
			return false
		}
	}
	return true
}

// answerItems waits for the records of matched messages, then delivers
// and answers each, in order; after an error (first, or one of theirs)
// the rest are given up. reader tells whether c's reader is the caller
// (else the answerer). It returns the first error.
func (c *conn) answerItems(items []aheadPublish, first error, reader bool) error {
	s := c.srv
	for i := range items {
		it := &items[i]
		if it.r == nil {
			continue // never matched: an error came first
		}
		if first != nil {
			s.dropStored(it.r, it.m)
			continue
		}
		if reader {
			c.flags.set(flagPacing, true)
		}
		err := s.awaitStored(it.r, it.m, &it.p)
		if reader {
			c.flags.set(flagPacing, false)
		}
		if err != nil {
			it.r = nil // released
		}
		first = c.answerRouted(it.m, it.qos, it.id, it.r, it.n, err, reader)
	}
	return first
}

// handOver gives the matched messages of l to the answerer, starting it
// if it is not running, and returns at once unless a burst handed before
// still waits to be taken (then it waits for that).
func (c *conn) handOver(l *aheadList) error {
	l.mu.Lock()
	if l.next != nil {
		c.flags.set(flagAwaiting, true)
		for l.next != nil {
			l.cond.Wait()
		}
		c.flags.set(flagAwaiting, false)
	}
	if err := l.err; err != nil {
		l.mu.Unlock()
		c.answerItems(l.items, err, true) // gives them up
		clear(l.items)
		l.items = l.items[:0]
		return err
	}
	l.next, l.items = l.items, l.spare
	l.spare = nil
	if l.items == nil {
		l.items = make([]aheadPublish, 0, len(l.next))
	}
	if !l.running {
		l.running = true
		c.flags.set(flagAnswering, true)
		go c.answer(l)
	}
	l.mu.Unlock()
	return nil
}

// answer is the answerer: it answers the bursts handed to it until there
// are none.
func (c *conn) answer(l *aheadList) {
	failed := false
	l.mu.Lock()
	for l.next != nil {
		work := l.next
		l.next = nil
		first := l.err
		l.cond.Broadcast()
		l.mu.Unlock()
		err := c.answerItems(work, first, false)
		clear(work)
		l.mu.Lock()
		l.spare = work[:0]
		if err != nil && l.err == nil {
			l.err, failed = err, true
		}
	}
	l.running = false
	c.flags.set(flagAnswering, false)
	l.cond.Broadcast()
	l.mu.Unlock()
	if !c.flags.has(flagHandling) {
		c.settled() // a takeover waiting for these answers may go on
	}
	if failed {
		// The reader learns of it when its socket closes.
		c.close(true)
	}
}

// idle reports whether l's answerer has nothing to answer and did not fail.
func (l *aheadList) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.running && l.next == nil && l.err == nil
}

// awaitAnswers waits until the answerer has answered everything handed to
// it and returns its error, if any.
func (c *conn) awaitAnswers(l *aheadList) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running || l.next != nil {
		c.flags.set(flagAwaiting, true)
		for l.running || l.next != nil {
			l.cond.Wait()
		}
		c.flags.set(flagAwaiting, false)
	}
	return l.err
}

// answered is called by the reader where nothing may stay with the
// answerer (parking, a takeover, the end): it waits for the answerer,
// gives the list back if nothing is read ahead, and returns the
// answerer's error.
func (c *conn) answered() error {
	l := c.ahead
	if l == nil {
		return nil
	}
	err := c.awaitAnswers(l)
	if len(l.items) == 0 || err != nil {
		c.ahead = nil
		if err != nil {
			c.answerItems(l.items, err, true) // gives them up
		}
		c.releaseAhead(l)
	}
	return err
}

// releaseAhead gives l, whose answerer is not running, back to the pool.
func (c *conn) releaseAhead(l *aheadList) {
	clear(l.items)
	l.items = l.items[:0]
	l.err = nil
	aheadLists.Put(l)
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
