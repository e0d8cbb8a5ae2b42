package store

import (
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// UserProperty is a v5 User Property; the same type as in package packet so
// the broker can move them between packets and records without copying.
type UserProperty = packet.UserProperty

// ExpiryNever is the session expiry interval that never expires
// (MQTT 5.0 section 3.1.2.11.2).
const ExpiryNever = 0xFFFFFFFF

// Message is an application message as the broker keeps it: what a
// subscriber needs to receive it later.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte // 0, 1 or 2: the QoS it was published with
	Retain  bool

	// v5 properties. PayloadFormat is meaningful only if HasPayloadFormat.
	HasPayloadFormat bool
	PayloadFormat    byte
	// Expiry is the absolute time the message expires (publish time plus
	// the Message Expiry Interval); zero means it never expires. Absolute,
	// so that it keeps counting while the broker is down.
	Expiry          time.Time
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	User            []UserProperty

	// Origin is the client id of the publisher ("" for the broker itself);
	// it is needed for the no-local option.
	Origin string
	// The publisher's username and the name of the listener it connected
	// to, for check_retain_source: a retained message is sent only while
	// its publisher may still publish it. HasSource reports whether they
	// are known (OriginUsername is then meaningful if OriginHasUsername).
	HasSource         bool
	OriginUsername    string
	OriginHasUsername bool
	OriginListener    string
}

// Subscription is one subscription of a session.
type Subscription struct {
	Filter            string // including a "$share/<group>/" prefix
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte   // 0, 1 or 2
	ID                uint32 // subscription identifier, 0 = none
}

// Session is the persistent state of a client with a session that outlives
// its connection.
type Session struct {
	ClientID        string
	Username        string // for ACL checks on delivery after a restart
	ProtocolVersion byte   // 3, 4 or 5; 0 = unknown (mosquitto.db import)
	// ExpiryInterval is the session expiry interval in seconds;
	// ExpiryNever means never.
	ExpiryInterval uint32
	// DisconnectedAt is when the client disconnected; zero while it is
	// connected. After a restart a session with a zero DisconnectedAt was
	// connected at the crash and should be treated as disconnected at the
	// restart.
	DisconnectedAt time.Time
	Subscriptions  []Subscription
	// LastPacketID is the packet id last given to a message for the
	// client: ids continue from it after a restart, as with Mosquitto.
	LastPacketID uint16
}

// OutState is the delivery state of an outgoing message.
type OutState byte

// Outgoing message states. The numbering is part of the stored format.
const (
	StateQueued       OutState = 0 // not sent yet; PacketID is 0, or the id reserved for it
	StateAwaitPuback  OutState = 1 // QoS 1 PUBLISH sent
	StateAwaitPubrec  OutState = 2 // QoS 2 PUBLISH sent
	StateAwaitPubcomp OutState = 3 // PUBREL sent; Message may be dropped
)

func (s OutState) String() string {
	switch s {
	case StateQueued:
		return "queued"
	case StateAwaitPuback:
		return "awaiting PUBACK"
	case StateAwaitPubrec:
		return "awaiting PUBREC"
	case StateAwaitPubcomp:
		return "awaiting PUBCOMP"
	}
	return "invalid"
}

// Outgoing is a message queued for, or in flight to, one session.
type Outgoing struct {
	// Seq orders a session's outgoing messages; it is the key. The broker
	// assigns it from a per-session counter that only increases (restart
	// it from the highest Seq seen in Load), so deleting acknowledged
	// messages leaves whole key ranges behind that compaction drops.
	Seq uint64
	// PacketID is the id the message is (to be) sent with. The broker fixes
	// it when it stores a QoS 1/2 message, so that it is the same after a
	// restart, as with Mosquitto; 0 for QoS 0, and for a queued message
	// stored without one.
	PacketID uint16
	State    OutState
	QoS      byte // delivery QoS: min(message QoS, subscription QoS)
	Retain   bool // the retain flag to deliver with
	SubIDs   []uint32
	Message  Message
}

// Will is a will message whose publication is delayed (Will Delay
// Interval), so that it must survive a restart.
type Will struct {
	ClientID string
	Message  Message
	Due      time.Time // when to publish it
}
