package client

import (
	"errors"
	"fmt"
)

// Errors returned by the client. Test for them with errors.Is: most are
// wrapped with detail.
var (
	// ErrClosed is returned by calls on a client that Disconnect or Close
	// has ended, and by Err after them.
	ErrClosed = errors.New("client: closed")
	// ErrConnectionLost is returned by calls whose connection ended before
	// the server answered; it wraps the cause.
	ErrConnectionLost = errors.New("client: connection lost")
	// ErrNotConnected is returned by QoS 0 Publish, Subscribe and
	// Unsubscribe while an automatic reconnection is in progress.
	ErrNotConnected = errors.New("client: not connected")
	// ErrKeepAliveTimeout closes a connection whose server did not answer
	// PINGREQ within the keep alive period.
	ErrKeepAliveTimeout = errors.New("client: no PINGRESP within the keep alive period")
	// ErrPacketTooLarge refuses a packet larger than the server's Maximum
	// Packet Size before it is sent [MQTT-3.1.2-24].
	ErrPacketTooLarge = errors.New("client: packet larger than supported by the server")
	// ErrQoSNotSupported refuses a PUBLISH above the server's Maximum QoS
	// [MQTT-3.2.2-11].
	ErrQoSNotSupported = errors.New("client: requested QoS not supported on server")
	// ErrRetainNotSupported refuses a retained PUBLISH when the server
	// said Retain Available 0 [MQTT-3.2.2-14].
	ErrRetainNotSupported = errors.New("client: retain not supported on server")
	// ErrInvalid reports an argument the protocol cannot carry.
	ErrInvalid = errors.New("client: invalid argument")
	// ErrProtocol reports a server that broke the protocol; the client
	// closes the connection (v5: after DISCONNECT with the reason code).
	ErrProtocol = errors.New("client: protocol error")
)

// ConnectError is a connection refused by the server in CONNACK (or, for
// MQTT 5, refused in an AUTH exchange).
type ConnectError struct {
	// ReasonCode is the 3.x return code (1..5) or the MQTT 5 reason code.
	ReasonCode ReasonCode
	// ProtocolVersion is the protocol version the client asked for.
	ProtocolVersion byte
	// Properties are the CONNACK properties (v5): Reason String, Server
	// Reference ...
	Properties Properties
}

// Error returns Mosquitto's wording: mosquitto_connack_string for 3.x
// ("Connection Refused: not authorised.") and mosquitto_reason_string for
// MQTT 5 ("Not authorized").
func (e *ConnectError) Error() string {
	if e.ProtocolVersion == MQTT5 {
		return ReasonString(e.ReasonCode)
	}
	return ConnackString(e.ReasonCode)
}

// DisconnectError is a DISCONNECT sent by an MQTT 5 server. Err returns
// it when the connection ended that way.
type DisconnectError struct {
	ReasonCode ReasonCode
	// Properties may carry a Reason String and a Server Reference.
	Properties Properties
}

// Error returns Mosquitto's text for the reason code followed by the
// server's Reason String if it sent one.
func (e *DisconnectError) Error() string {
	s := "server disconnected: " + ReasonString(e.ReasonCode)
	if e.Properties.Has(PropReasonString) {
		s += ": " + e.Properties.ReasonString
	}
	return s
}

// ReasonError is a failure reason code (0x80 or above) in an MQTT 5
// PUBACK, PUBREC or PUBCOMP: the server refused the message.
type ReasonError struct {
	// Packet is "PUBACK", "PUBREC" or "PUBCOMP".
	Packet     string
	ReasonCode ReasonCode
	Properties Properties
}

// Error returns the packet and Mosquitto's text for the reason code.
func (e *ReasonError) Error() string {
	s := fmt.Sprintf("client: %s: %s", e.Packet, ReasonString(e.ReasonCode))
	if e.Properties.Has(PropReasonString) {
		s += ": " + e.Properties.ReasonString
	}
	return s
}
