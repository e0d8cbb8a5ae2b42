package packet

// reasonNames are the MQTT 5 specification's names for its reason codes
// (for 0x00, the PUBACK/CONNACK meaning).
var reasonNames = map[ReasonCode]string{
	Success:                             "success",
	GrantedQoS1:                         "granted QoS 1",
	GrantedQoS2:                         "granted QoS 2",
	DisconnectWithWill:                  "disconnect with will message",
	NoMatchingSubscribers:               "no matching subscribers",
	NoSubscriptionExisted:               "no subscription existed",
	ContinueAuthentication:              "continue authentication",
	ReAuthenticate:                      "re-authenticate",
	UnspecifiedError:                    "unspecified error",
	MalformedPacket:                     "malformed packet",
	ProtocolError:                       "protocol error",
	ImplementationSpecificError:         "implementation specific error",
	UnsupportedProtocolVersion:          "unsupported protocol version",
	ClientIdentifierNotValid:            "client identifier not valid",
	BadUsernameOrPassword:               "bad user name or password",
	NotAuthorized:                       "not authorized",
	ServerUnavailable:                   "server unavailable",
	ServerBusy:                          "server busy",
	Banned:                              "banned",
	ServerShuttingDown:                  "server shutting down",
	BadAuthenticationMethod:             "bad authentication method",
	KeepAliveTimeout:                    "keep alive timeout",
	SessionTakenOver:                    "session taken over",
	TopicFilterInvalid:                  "topic filter invalid",
	TopicNameInvalid:                    "topic name invalid",
	PacketIdentifierInUse:               "packet identifier in use",
	PacketIdentifierNotFound:            "packet identifier not found",
	ReceiveMaximumExceeded:              "receive maximum exceeded",
	TopicAliasInvalid:                   "topic alias invalid",
	PacketTooLarge:                      "packet too large",
	MessageRateTooHigh:                  "message rate too high",
	QuotaExceeded:                       "quota exceeded",
	AdministrativeAction:                "administrative action",
	PayloadFormatInvalid:                "payload format invalid",
	RetainNotSupported:                  "retain not supported",
	QoSNotSupported:                     "QoS not supported",
	UseAnotherServer:                    "use another server",
	ServerMoved:                         "server moved",
	SharedSubscriptionsNotSupported:     "shared subscriptions not supported",
	ConnectionRateExceeded:              "connection rate exceeded",
	MaximumConnectTime:                  "maximum connect time",
	SubscriptionIdentifiersNotSupported: "subscription identifiers not supported",
	WildcardSubscriptionsNotSupported:   "wildcard subscriptions not supported",
}

// String returns the reason code's name from the MQTT 5 specification.
func (r ReasonCode) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return "reason code 0x" + string("0123456789abcdef"[r>>4]) + string("0123456789abcdef"[r&15])
}
