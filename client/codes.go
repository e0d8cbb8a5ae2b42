package client

import "github.com/midge-mqtt/midge/internal/packet"

// Properties are the MQTT 5 properties of a packet, a will or a message.
// Which scalar properties are present is recorded apart from their
// values: set the field and call Set with its PropID; test with Has.
// They are ignored for MQTT 3.x.
type Properties = packet.Properties

// PropID is an MQTT 5 property identifier, as used by Properties.Has and
// Properties.Set.
type PropID = packet.PropID

// UserProperty is one name/value pair of an MQTT 5 User Property.
type UserProperty = packet.UserProperty

// ReasonCode is an MQTT 5 reason code, or an MQTT 3.x CONNACK or SUBACK
// return code on a 3.x connection.
type ReasonCode = packet.ReasonCode

// Protocol versions for Options.ProtocolVersion.
const (
	MQTT31  byte = packet.V31  // MQTT 3.1, protocol name "MQIsdp"
	MQTT311 byte = packet.V311 // MQTT 3.1.1
	MQTT5   byte = packet.V5   // MQTT 5.0
)

// MQTT 5 property identifiers (MQTT 5.0 section 2.2.2.2).
const (
	PropPayloadFormat        = packet.PropPayloadFormat
	PropMessageExpiry        = packet.PropMessageExpiry
	PropContentType          = packet.PropContentType
	PropResponseTopic        = packet.PropResponseTopic
	PropCorrelationData      = packet.PropCorrelationData
	PropSubscriptionID       = packet.PropSubscriptionID
	PropSessionExpiry        = packet.PropSessionExpiry
	PropAssignedClientID     = packet.PropAssignedClientID
	PropServerKeepAlive      = packet.PropServerKeepAlive
	PropAuthMethod           = packet.PropAuthMethod
	PropAuthData             = packet.PropAuthData
	PropRequestProblemInfo   = packet.PropRequestProblemInfo
	PropWillDelay            = packet.PropWillDelay
	PropRequestResponseInfo  = packet.PropRequestResponseInfo
	PropResponseInfo         = packet.PropResponseInfo
	PropServerReference      = packet.PropServerReference
	PropReasonString         = packet.PropReasonString
	PropReceiveMaximum       = packet.PropReceiveMaximum
	PropTopicAliasMaximum    = packet.PropTopicAliasMaximum
	PropTopicAlias           = packet.PropTopicAlias
	PropMaximumQoS           = packet.PropMaximumQoS
	PropRetainAvailable      = packet.PropRetainAvailable
	PropUserProperty         = packet.PropUserProperty
	PropMaximumPacketSize    = packet.PropMaximumPacketSize
	PropWildcardSubAvailable = packet.PropWildcardSubAvailable
	PropSubIDAvailable       = packet.PropSubscriptionIDAvailable
	PropSharedSubAvailable   = packet.PropSharedSubAvailable
)

// MQTT 5 reason codes (MQTT 5.0 section 2.4) used by this package's API.
// Any other code can be written as ReasonCode(0x..).
const (
	Success                    = packet.Success // also normal disconnection and granted QoS 0
	GrantedQoS1                = packet.GrantedQoS1
	GrantedQoS2                = packet.GrantedQoS2
	DisconnectWithWill         = packet.DisconnectWithWill
	NoMatchingSubscribers      = packet.NoMatchingSubscribers
	NoSubscriptionExisted      = packet.NoSubscriptionExisted
	UnspecifiedError           = packet.UnspecifiedError
	MalformedPacket            = packet.MalformedPacket
	ProtocolError              = packet.ProtocolError
	ImplementationSpecific     = packet.ImplementationSpecificError
	UnsupportedProtocolVersion = packet.UnsupportedProtocolVersion
	ClientIdentifierNotValid   = packet.ClientIdentifierNotValid
	BadUsernameOrPassword      = packet.BadUsernameOrPassword
	NotAuthorized              = packet.NotAuthorized
	ServerUnavailable          = packet.ServerUnavailable
	ServerBusy                 = packet.ServerBusy
	Banned                     = packet.Banned
	ServerShuttingDown         = packet.ServerShuttingDown
	KeepAliveTimeout           = packet.KeepAliveTimeout
	SessionTakenOver           = packet.SessionTakenOver
	TopicFilterInvalid         = packet.TopicFilterInvalid
	TopicNameInvalid           = packet.TopicNameInvalid
	PacketIdentifierInUse      = packet.PacketIdentifierInUse
	PacketIdentifierNotFound   = packet.PacketIdentifierNotFound
	ReceiveMaximumExceeded     = packet.ReceiveMaximumExceeded
	TopicAliasInvalid          = packet.TopicAliasInvalid
	PacketTooLarge             = packet.PacketTooLarge
	QuotaExceeded              = packet.QuotaExceeded
	AdministrativeAction       = packet.AdministrativeAction
	PayloadFormatInvalid       = packet.PayloadFormatInvalid
	RetainNotSupported         = packet.RetainNotSupported
	QoSNotSupported            = packet.QoSNotSupported
	UseAnotherServer           = packet.UseAnotherServer
	ServerMoved                = packet.ServerMoved
)

// reasonStrings is Mosquitto's wording for the MQTT 5 reason codes
// (mosquitto_reason_string), which its tools print; scripts match on it.
var reasonStrings = map[ReasonCode]string{
	0x00: "Success",
	0x01: "Granted QoS 1",
	0x02: "Granted QoS 2",
	0x04: "Disconnect with Will Message",
	0x10: "No matching subscribers",
	0x11: "No subscription existed",
	0x18: "Continue authentication",
	0x19: "Re-authenticate",
	0x80: "Unspecified error",
	0x81: "Malformed Packet",
	0x82: "Protocol Error",
	0x83: "Implementation specific error",
	0x84: "Unsupported Protocol Version",
	0x85: "Client Identifier not valid",
	0x86: "Bad User Name or Password",
	0x87: "Not authorized",
	0x88: "Server unavailable",
	0x89: "Server busy",
	0x8A: "Banned",
	0x8B: "Server shutting down",
	0x8C: "Bad authentication method",
	0x8D: "Keep Alive timeout",
	0x8E: "Session taken over",
	0x8F: "Topic Filter invalid",
	0x90: "Topic Name invalid",
	0x91: "Packet Identifier in use",
	0x92: "Packet Identifier not found",
	0x93: "Receive Maximum exceeded",
	0x94: "Topic Alias invalid",
	0x95: "Packet too large",
	0x96: "Message rate too high",
	0x97: "Quota exceeded",
	0x98: "Administrative action",
	0x99: "Payload format invalid",
	0x9A: "Retain not supported",
	0x9B: "QoS not supported",
	0x9C: "Use another server",
	0x9D: "Server moved",
	0x9E: "Shared Subscriptions not supported",
	0x9F: "Connection rate exceeded",
	0xA0: "Maximum connect time",
	0xA1: "Subscription identifiers not supported",
	0xA2: "Wildcard Subscriptions not supported",
}

// ReasonString returns Mosquitto's text for an MQTT 5 reason code, as
// mosquitto_reason_string does: "Not authorized", "Packet too large" ...
// and "Unknown reason" for codes the specification does not define.
func ReasonString(code ReasonCode) string {
	if s, ok := reasonStrings[code]; ok {
		return s
	}
	return "Unknown reason"
}

// ConnackString returns Mosquitto's text for an MQTT 3.x CONNACK return
// code, as mosquitto_connack_string does.
func ConnackString(code ReasonCode) string {
	switch code {
	case packet.V3Accepted:
		return "Connection Accepted."
	case packet.V3UnacceptableProtocolVersion:
		return "Connection Refused: unacceptable protocol version."
	case packet.V3IdentifierRejected:
		return "Connection Refused: identifier rejected."
	case packet.V3ServerUnavailable:
		return "Connection Refused: broker unavailable."
	case packet.V3BadUsernameOrPassword:
		return "Connection Refused: bad user name or password."
	case packet.V3NotAuthorized:
		return "Connection Refused: not authorised."
	}
	return "Connection Refused: unknown reason."
}
