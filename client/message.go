package client

// Message is an application message: one to Publish, or one delivered to
// Options.OnMessage.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte // 0, 1 or 2
	Retain  bool
	// Dup and PacketID describe the PUBLISH that brought an incoming
	// message; Publish ignores them.
	Dup      bool
	PacketID uint16
	// Properties are the MQTT 5 message properties: Payload Format
	// Indicator, Message Expiry Interval, Content Type, Response Topic,
	// Correlation Data, User Properties and, on incoming messages, the
	// Subscription Identifiers that matched. Topic aliases are resolved
	// by the client and never appear here.
	Properties Properties

	// ack is the acknowledgement Client.Ack sends (Options.ManualAck).
	ack *manualAck
}

// Subscription is one topic filter of a Subscribe call with its options.
type Subscription struct {
	Filter string
	QoS    byte // maximum QoS to receive
	// MQTT 5 subscription options (section 3.8.3.1).
	NoLocal           bool // do not receive own publications
	RetainAsPublished bool // keep the retain flag of forwarded messages
	RetainHandling    byte // 0 send retained, 1 only for new subscriptions, 2 never
}

// Connack is the server's answer to CONNECT.
type Connack struct {
	// SessionPresent reports that the server resumed a session.
	SessionPresent bool
	// ReasonCode is 0 on an accepted connection.
	ReasonCode ReasonCode
	// Properties are the MQTT 5 CONNACK properties: Assigned Client
	// Identifier, Server Keep Alive, Receive Maximum, Maximum QoS, Retain
	// Available, Maximum Packet Size, Topic Alias Maximum, Session Expiry
	// Interval, Response Information ...
	Properties Properties
}

// Ack is the server's acknowledgement of a QoS 1 (PUBACK) or QoS 2
// (PUBCOMP, or a failing PUBREC) message. For MQTT 3.x it is always
// Success without properties.
type Ack struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Suback is the server's answer to Subscribe: one reason code per
// subscription, in order. Codes below 0x80 are the granted QoS; 0x80 and
// above are failures (3.x: 0x80 only).
type Suback struct {
	ReasonCodes []ReasonCode
	Properties  Properties
}

// Unsuback is the server's answer to Unsubscribe. ReasonCodes is empty
// for MQTT 3.x, which has none.
type Unsuback struct {
	ReasonCodes []ReasonCode
	Properties  Properties
}
