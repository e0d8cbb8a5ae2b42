// Package format renders received MQTT messages exactly as mosquitto_sub and
// mosquitto_rr 2.0 print them: the payload alone, "topic payload" with -v, or
// a user supplied -F format with its %, @ and \ sequences, including the %j
// and %J JSON objects (compact, or indented with --pretty).
//
// Byte-for-byte compatibility is the point of this package, so several
// quirks of the C implementation are reproduced on purpose; each one is
// commented where it happens.
package format

// MQTT v5 property identifiers that can appear on a received PUBLISH.
const (
	PropPayloadFormat   byte = 0x01
	PropMessageExpiry   byte = 0x02
	PropContentType     byte = 0x03
	PropResponseTopic   byte = 0x08
	PropCorrelationData byte = 0x09
	PropSubscriptionID  byte = 0x0B
	PropTopicAlias      byte = 0x23
	PropUserProperty    byte = 0x26
)

// Property is one MQTT v5 property of a received message, in wire order.
type Property struct {
	ID    byte   // one of the Prop constants
	Value uint32 // byte, two-byte, four-byte and variable byte integer values
	Key   string // user-property name
	Str   string // string values and the user-property value
	Bin   []byte // binary values (correlation data)
}

// Message is what the printer needs to know about one received PUBLISH.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	MID     uint16
	// Props holds the v5 properties in the order they arrived; nil for
	// MQTT 3.1/3.1.1 or a v5 PUBLISH without properties.
	Props []Property
}

// first returns the first property with the given identifier.
func (m *Message) first(id byte) (Property, bool) {
	for _, p := range m.Props {
		if p.ID == id {
			return p, true
		}
	}
	return Property{}, false
}
