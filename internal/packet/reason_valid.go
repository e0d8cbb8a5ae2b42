package packet

// validReason reports whether a v5 packet of type t may carry reason code
// rc: each packet has its own list in MQTT 5.0 section 2.4, table 2-6, and
// a sender MUST use one of them.
func validReason(t Type, rc ReasonCode) bool {
	switch t {
	case CONNACK:
		switch rc {
		case Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecificError,
			UnsupportedProtocolVersion, ClientIdentifierNotValid, BadUsernameOrPassword, NotAuthorized,
			ServerUnavailable, ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid,
			PacketTooLarge, QuotaExceeded, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported,
			UseAnotherServer, ServerMoved, ConnectionRateExceeded:
			return true
		}
	case PUBACK, PUBREC:
		switch rc {
		case Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicNameInvalid, PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid:
			return true
		case PacketTooLarge:
			// Not in table 2-6, but Mosquitto answers a payload over its
			// message_size_limit with it, and so does midge.
			return true
		}
	case PUBREL, PUBCOMP:
		return rc == Success || rc == PacketIdentifierNotFound
	case SUBACK:
		switch rc {
		case Success, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse, QuotaExceeded,
			SharedSubscriptionsNotSupported, SubscriptionIdentifiersNotSupported,
			WildcardSubscriptionsNotSupported:
			return true
		}
	case UNSUBACK:
		switch rc {
		case Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse:
			return true
		}
	case DISCONNECT:
		switch rc {
		case Success, DisconnectWithWill, UnspecifiedError, MalformedPacket, ProtocolError,
			ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown,
			KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid,
			ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh,
			QuotaExceeded, AdministrativeAction, PayloadFormatInvalid, RetainNotSupported,
			QoSNotSupported, UseAnotherServer, ServerMoved, SharedSubscriptionsNotSupported,
			ConnectionRateExceeded, MaximumConnectTime, SubscriptionIdentifiersNotSupported,
			WildcardSubscriptionsNotSupported:
			return true
		}
	case AUTH:
		return rc == Success || rc == ContinueAuthentication || rc == ReAuthenticate
	}
	return false
}

// reasonRule names the statement that restricts the reason codes of t.
func reasonRule(t Type) string {
	switch t {
	case CONNACK:
		return "[MQTT-3.2.2-8]"
	case PUBACK:
		return "[MQTT-3.4.2-1]"
	case PUBREC:
		return "[MQTT-3.5.2-1]"
	case PUBREL:
		return "[MQTT-3.6.2-1]"
	case PUBCOMP:
		return "[MQTT-3.7.2-1]"
	case DISCONNECT:
		return "[MQTT-3.14.2-1]"
	case AUTH:
		return "[MQTT-3.15.2-1]"
	}
	return "(section 2.4)"
}

// checkReason returns a Protocol Error if t may not carry rc.
func checkReason(t Type, rc ReasonCode) error {
	if validReason(t, rc) {
		return nil
	}
	return protocolError("reason code 0x%02x not allowed %s", byte(rc), reasonRule(t))
}
