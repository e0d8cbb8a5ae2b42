package broker

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// neverExpires is the v5 Session Expiry Interval meaning "never".
const neverExpires = 0xFFFFFFFF

// outState is where an outgoing QoS 1/2 message is in its handshake.
type outState byte

const (
	awaitPuback  outState = iota // QoS 1 sent
	awaitPubrec                  // QoS 2 sent
	awaitPubcomp                 // QoS 2: PUBREC received, PUBREL sent
)

// inflight is an outgoing QoS 1/2 message awaiting acknowledgement.
type inflight struct {
	delivery
	id    uint16
	state outState
	seq   uint64 // send order, for redelivery in the original order
}

// session is the state the broker keeps for one client id: it outlives
// connections when the client asked for a persistent session.
type session struct {
	id string

	// mu guards everything below. Lock order: Server.mu, then session.mu,
	// then writer.mu.
	mu sync.Mutex
	// conn is the current connection, nil while disconnected.
	conn *conn
	// online mirrors conn != nil for readers that hold no lock (shared
	// subscription member selection).
	online atomic.Bool
	// ended is set when the session is discarded; deliveries to an ended
	// session are dropped (the subscription tree may still hold it for a
	// moment).
	ended bool
	// version is the protocol level of the latest connection.
	version byte
	// nextID is the last packet id given to an outgoing QoS 1/2 message.
	nextID uint16
	// connectedAt is when the latest connection attached (Unix ns).
	connectedAt int64
	// expiry is the Session Expiry Interval in seconds (neverExpires: never).
	expiry uint32
	// indexed counts the session's subscriptions in Server.subs, with
	// severalSubs or'ed in for good once there were two at once (see
	// indexSubscribe). No lock: routing reads it.
	indexed atomic.Int32
	// subs are the session's subscriptions by filter, as subscribed
	// (including any $share prefix).
	subs map[string]topic.Options

	// Outgoing QoS 1/2: the in-flight window and the queue behind it.
	inflight    map[uint16]*inflight
	seq         uint64
	queue       []delivery
	queuedBytes int
	inflightLen int // payload bytes in flight, for MaxInflightBytes

	// Pacing (pacing.go): relief is closed when the queue has drained
	// enough for waiting publishers to go on; stalledUntil (monotime, 0:
	// not stalled) is set when a publisher waited for the session in vain.
	relief       chan struct{}
	stalledUntil int64
	// acked and ackedBytes count the messages (and their bytes) the
	// client has acknowledged, for telling a slow queue from a stuck one.
	acked, ackedBytes int64

	// reserved are the packet ids of queued QoS 1/2 messages: they get
	// their id when they are queued (enqueue), or, for QoS 2 messages the
	// store holds, when they are stored, so that a restart resends them
	// under the same id (see reserve).
	reserved map[uint16]struct{}

	// Incoming QoS 2 packet ids that got PUBREC and await PUBREL.
	// The message is held until the PUBREL (nil: a message routed when
	// it came, which a store written by an older midge remembers by id).
	inbound map[uint16]*message

	// pendingWill is a will waiting out its delay after a disconnect.
	pendingWill *pendingWill
	// expiryTimer ends the session after a disconnect.
	expiryTimer *time.Timer
	// generation counts connections, so timers armed for one disconnect
	// do nothing after a reconnect.
	generation uint32
	// stored is set while the store holds a record of the session (only
	// with a store, for persistent sessions).
	stored bool
	// disconnectedAt is when the last connection ended.
	disconnectedAt time.Time

	// info is what the Authorizer knows about the client.
	info *ClientInfo
}

type pendingWill struct {
	msg    *message
	timer  *time.Timer
	info   *ClientInfo
	stored bool // the store holds it; guarded by the session's mu
}

func newSession(id string) *session {
	// The maps are made on first use: most sessions of idle clients
	// never need some of them.
	return &session{id: id}
}

// persistent reports whether the session outlives its connection.
func (s *session) persistent() bool { return s.expiry > 0 }

// allocID returns a free outgoing packet id, or 0 if all are in use.
// Ids start at 1 per session and increase, as Mosquitto's do.
func (s *session) allocID() uint16 {
	for range 65535 {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if _, used := s.inflight[s.nextID]; used {
			continue
		}
		if _, used := s.reserved[s.nextID]; !used {
			return s.nextID
		}
	}
	return 0
}

// inflightOrdered returns the in-flight messages in the order they were
// first sent.
func (s *session) inflightOrdered() []*inflight {
	out := make([]*inflight, 0, len(s.inflight))
	for _, f := range s.inflight {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// sharedUnacked returns the messages shared groups gave the session that
// the client has not acknowledged, in the order they were sent and then
// queued. A QoS 2 message whose PUBREC arrived is the client's already.
func (s *session) sharedUnacked() []delivery {
	var out []delivery
	if len(s.inflight) > 0 {
		for _, f := range s.inflightOrdered() {
			if f.group != nil && f.state != awaitPubcomp {
				out = append(out, f.delivery)
			}
		}
	}
	for _, d := range s.queue {
		if d.group != nil {
			out = append(out, d)
		}
	}
	return out
}

// clearMessages drops every queued and in-flight message.
func (s *session) clearMessages() {
	clear(s.inflight)
	clear(s.reserved)
	s.queue = nil
	s.queuedBytes = 0
	s.inflightLen = 0
	clear(s.inbound)
}

// stopTimers cancels the expiry timer and a pending will, returning the
// will that was pending (the caller decides whether to publish it).
func (s *session) stopTimers() *pendingWill {
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
		s.expiryTimer = nil
	}
	w := s.pendingWill
	if w != nil {
		w.timer.Stop()
		s.pendingWill = nil
	}
	return w
}

// subscriptionOptions converts a SUBSCRIBE entry to stored options.
func subscriptionOptions(sub packet.Subscription, qos byte, subID uint32) topic.Options {
	return topic.Options{
		QoS:               qos,
		NoLocal:           sub.NoLocal,
		RetainAsPublished: sub.RetainAsPublished,
		RetainHandling:    sub.RetainHandling,
		SubscriptionID:    subID,
	}
}
