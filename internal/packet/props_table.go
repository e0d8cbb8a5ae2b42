package packet

// propContext names where a property list appears: a packet type, or the
// will properties of a CONNECT.
type propContext uint8

const (
	ctxConnect propContext = iota
	ctxConnack
	ctxPublish
	ctxWill
	ctxAck // PUBACK, PUBREC, PUBREL, PUBCOMP
	ctxSubscribe
	ctxSuback
	ctxUnsubscribe
	ctxUnsuback
	ctxDisconnect
	ctxAuth
)

func (c propContext) String() string {
	switch c {
	case ctxConnect:
		return "CONNECT"
	case ctxConnack:
		return "CONNACK"
	case ctxPublish:
		return "PUBLISH"
	case ctxWill:
		return "will properties"
	case ctxAck:
		return "acknowledgement"
	case ctxSubscribe:
		return "SUBSCRIBE"
	case ctxSuback:
		return "SUBACK"
	case ctxUnsubscribe:
		return "UNSUBSCRIBE"
	case ctxUnsuback:
		return "UNSUBACK"
	case ctxDisconnect:
		return "DISCONNECT"
	case ctxAuth:
		return "AUTH"
	}
	return "unknown"
}

// valueErrorsMalformed reports contexts in which a property value that
// cannot be accepted makes the packet malformed rather than a protocol
// error (see decodeProps).
func (c propContext) valueErrorsMalformed() bool {
	return c == ctxPublish || c == ctxSubscribe || c == ctxUnsubscribe
}

// bit returns the mask bit of a property identifier.
func bit(id PropID) uint64 { return 1 << uint(id) }

// Masks of property identifiers (MQTT 5.0 section 2.2.2.2, table 2-4).
const (
	knownProps = 1<<PropPayloadFormat | 1<<PropMessageExpiry | 1<<PropContentType |
		1<<PropResponseTopic | 1<<PropCorrelationData | 1<<PropSubscriptionID |
		1<<PropSessionExpiry | 1<<PropAssignedClientID | 1<<PropServerKeepAlive |
		1<<PropAuthMethod | 1<<PropAuthData | 1<<PropRequestProblemInfo |
		1<<PropWillDelay | 1<<PropRequestResponseInfo | 1<<PropResponseInfo |
		1<<PropServerReference | 1<<PropReasonString | 1<<PropReceiveMaximum |
		1<<PropTopicAliasMaximum | 1<<PropTopicAlias | 1<<PropMaximumQoS |
		1<<PropRetainAvailable | 1<<PropUserProperty | 1<<PropMaximumPacketSize |
		1<<PropWildcardSubAvailable | 1<<PropSubscriptionIDAvailable | 1<<PropSharedSubAvailable

	connectProps = 1<<PropSessionExpiry | 1<<PropAuthMethod | 1<<PropAuthData |
		1<<PropRequestProblemInfo | 1<<PropRequestResponseInfo | 1<<PropReceiveMaximum |
		1<<PropTopicAliasMaximum | 1<<PropUserProperty | 1<<PropMaximumPacketSize

	connackProps = 1<<PropSessionExpiry | 1<<PropAssignedClientID | 1<<PropServerKeepAlive |
		1<<PropAuthMethod | 1<<PropAuthData | 1<<PropResponseInfo | 1<<PropServerReference |
		1<<PropReasonString | 1<<PropReceiveMaximum | 1<<PropTopicAliasMaximum |
		1<<PropMaximumQoS | 1<<PropRetainAvailable | 1<<PropUserProperty |
		1<<PropMaximumPacketSize | 1<<PropWildcardSubAvailable |
		1<<PropSubscriptionIDAvailable | 1<<PropSharedSubAvailable

	messageProps = 1<<PropPayloadFormat | 1<<PropMessageExpiry | 1<<PropContentType |
		1<<PropResponseTopic | 1<<PropCorrelationData | 1<<PropUserProperty

	publishProps    = messageProps | 1<<PropSubscriptionID | 1<<PropTopicAlias
	willProps       = messageProps | 1<<PropWillDelay
	ackProps        = 1<<PropReasonString | 1<<PropUserProperty
	subscribeProps  = 1<<PropSubscriptionID | 1<<PropUserProperty
	unsubscribeProp = 1 << PropUserProperty
	disconnectProps = 1<<PropSessionExpiry | 1<<PropServerReference | 1<<PropReasonString |
		1<<PropUserProperty
	authProps = 1<<PropAuthMethod | 1<<PropAuthData | 1<<PropReasonString | 1<<PropUserProperty

	// repeatedProps live in slices, not in the present bit set.
	repeatedProps = 1<<PropUserProperty | 1<<PropSubscriptionID
)

// allowed returns the mask of properties that may appear in c.
func (c propContext) allowed() uint64 {
	switch c {
	case ctxConnect:
		return connectProps
	case ctxConnack:
		return connackProps
	case ctxPublish:
		return publishProps
	case ctxWill:
		return willProps
	case ctxAck, ctxSuback, ctxUnsuback:
		return ackProps
	case ctxSubscribe:
		return subscribeProps
	case ctxUnsubscribe:
		return unsubscribeProp
	case ctxDisconnect:
		return disconnectProps
	case ctxAuth:
		return authProps
	}
	return 0
}

// connackOrder is the order Mosquitto writes CONNACK properties in, which
// byte-exact tests against it depend on. Other packets are written in
// ascending identifier order.
var connackOrder = [...]PropID{
	PropTopicAliasMaximum, PropServerKeepAlive, PropAssignedClientID,
	PropAuthMethod, PropAuthData, PropRetainAvailable, PropMaximumPacketSize,
	PropReceiveMaximum, PropMaximumQoS, PropSessionExpiry, PropResponseInfo,
	PropServerReference, PropReasonString, PropWildcardSubAvailable,
	PropSubscriptionIDAvailable, PropSharedSubAvailable, PropUserProperty,
}

// String returns the specification's name of the property.
func (id PropID) String() string {
	switch id {
	case PropPayloadFormat:
		return "Payload Format Indicator"
	case PropMessageExpiry:
		return "Message Expiry Interval"
	case PropContentType:
		return "Content Type"
	case PropResponseTopic:
		return "Response Topic"
	case PropCorrelationData:
		return "Correlation Data"
	case PropSubscriptionID:
		return "Subscription Identifier"
	case PropSessionExpiry:
		return "Session Expiry Interval"
	case PropAssignedClientID:
		return "Assigned Client Identifier"
	case PropServerKeepAlive:
		return "Server Keep Alive"
	case PropAuthMethod:
		return "Authentication Method"
	case PropAuthData:
		return "Authentication Data"
	case PropRequestProblemInfo:
		return "Request Problem Information"
	case PropWillDelay:
		return "Will Delay Interval"
	case PropRequestResponseInfo:
		return "Request Response Information"
	case PropResponseInfo:
		return "Response Information"
	case PropServerReference:
		return "Server Reference"
	case PropReasonString:
		return "Reason String"
	case PropReceiveMaximum:
		return "Receive Maximum"
	case PropTopicAliasMaximum:
		return "Topic Alias Maximum"
	case PropTopicAlias:
		return "Topic Alias"
	case PropMaximumQoS:
		return "Maximum QoS"
	case PropRetainAvailable:
		return "Retain Available"
	case PropUserProperty:
		return "User Property"
	case PropMaximumPacketSize:
		return "Maximum Packet Size"
	case PropWildcardSubAvailable:
		return "Wildcard Subscription Available"
	case PropSubscriptionIDAvailable:
		return "Subscription Identifier Available"
	case PropSharedSubAvailable:
		return "Shared Subscription Available"
	}
	return "unknown property"
}
