// Package packet is the MQTT wire codec: every control packet and property
// of MQTT 3.1 (protocol name "MQIsdp", level 3), 3.1.1 (level 4) and 5.0
// (level 5), with the validation the specifications require of a receiver.
//
// Decoding is split so that a caller can manage its own buffers: ParseHeader
// reads the fixed header from the bytes at hand, Decode turns one complete
// packet body into a typed value. Encoding appends to a caller-supplied
// slice, so a PUBLISH can be encoded once and its bytes shared.
//
// The package imports only the standard library.
package packet

// Type is an MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "INVALID"
}

// Protocol levels carried in CONNECT.
const (
	V31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 byte = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   byte = 5 // MQTT 5.0, protocol name "MQTT"
)

// MaxRemainingLength is the largest remaining length a variable byte integer
// can carry (268,435,455 bytes, 256 MB).
const MaxRemainingLength = 268435455

// Packet is any decoded control packet.
type Packet interface {
	Type() Type
}

// Connect is a CONNECT packet.
type Connect struct {
	ProtocolName    string // "MQTT" or "MQIsdp"
	ProtocolVersion byte   // V31, V311 or V5 (bridge bit removed)
	Bridge          bool   // the 0x80 bit of the protocol level (Mosquitto's try_private)
	CleanStart      bool   // Clean Session in 3.x
	KeepAlive       uint16
	Properties      Properties
	ClientID        string
	Will            *Will // nil when the Will Flag is 0
	UsernameFlag    bool
	Username        string
	PasswordFlag    bool
	Password        []byte
}

// Will is the will message carried in CONNECT.
type Will struct {
	Properties Properties // v5 will properties
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
}

// Connack is a CONNACK packet. ReasonCode is the 3.x return code (0..5) for
// 3.x and the v5 reason code for 5.0.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties
}

// Publish is a PUBLISH packet. PacketID is zero at QoS 0.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string
	PacketID   uint16
	Properties Properties
	Payload    []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP: they share one layout.
type Ack struct {
	Kind       Type // PUBACK, PUBREC, PUBREL or PUBCOMP
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool // v5
	RetainAsPublished bool // v5
	RetainHandling    byte // v5: 0, 1 or 2
}

// Subscribe is a SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties
	Subscriptions []Subscription
}

// Suback is a SUBACK packet: one reason code (v5) or return code (3.x:
// 0, 1, 2 or 0x80) per subscription.
type Suback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is an UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string
}

// Unsuback is an UNSUBACK packet. ReasonCodes is empty for 3.x.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Pingreq is a PINGREQ packet.
type Pingreq struct{}

// Pingresp is a PINGRESP packet.
type Pingresp struct{}

// Disconnect is a DISCONNECT packet. In 3.x it carries nothing.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Auth is a v5 AUTH packet.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

func (*Connect) Type() Type     { return CONNECT }
func (*Connack) Type() Type     { return CONNACK }
func (*Publish) Type() Type     { return PUBLISH }
func (a *Ack) Type() Type       { return a.Kind }
func (*Subscribe) Type() Type   { return SUBSCRIBE }
func (*Suback) Type() Type      { return SUBACK }
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }
func (*Unsuback) Type() Type    { return UNSUBACK }
func (*Pingreq) Type() Type     { return PINGREQ }
func (*Pingresp) Type() Type    { return PINGRESP }
func (*Disconnect) Type() Type  { return DISCONNECT }
func (*Auth) Type() Type        { return AUTH }
