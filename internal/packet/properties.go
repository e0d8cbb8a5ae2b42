package packet

// PropID is an MQTT 5 property identifier.
type PropID byte

// MQTT 5 property identifiers (MQTT 5.0 section 2.2.2.2).
const (
	PropPayloadFormat           PropID = 0x01 // byte: PUBLISH, Will
	PropMessageExpiry           PropID = 0x02 // uint32: PUBLISH, Will
	PropContentType             PropID = 0x03 // string: PUBLISH, Will
	PropResponseTopic           PropID = 0x08 // string: PUBLISH, Will
	PropCorrelationData         PropID = 0x09 // binary: PUBLISH, Will
	PropSubscriptionID          PropID = 0x0B // varint: PUBLISH (repeatable), SUBSCRIBE
	PropSessionExpiry           PropID = 0x11 // uint32: CONNECT, CONNACK, DISCONNECT
	PropAssignedClientID        PropID = 0x12 // string: CONNACK
	PropServerKeepAlive         PropID = 0x13 // uint16: CONNACK
	PropAuthMethod              PropID = 0x15 // string: CONNECT, CONNACK, AUTH
	PropAuthData                PropID = 0x16 // binary: CONNECT, CONNACK, AUTH
	PropRequestProblemInfo      PropID = 0x17 // byte: CONNECT
	PropWillDelay               PropID = 0x18 // uint32: Will
	PropRequestResponseInfo     PropID = 0x19 // byte: CONNECT
	PropResponseInfo            PropID = 0x1A // string: CONNACK
	PropServerReference         PropID = 0x1C // string: CONNACK, DISCONNECT
	PropReasonString            PropID = 0x1F // string: CONNACK, acks, DISCONNECT, AUTH
	PropReceiveMaximum          PropID = 0x21 // uint16: CONNECT, CONNACK
	PropTopicAliasMaximum       PropID = 0x22 // uint16: CONNECT, CONNACK
	PropTopicAlias              PropID = 0x23 // uint16: PUBLISH
	PropMaximumQoS              PropID = 0x24 // byte: CONNACK
	PropRetainAvailable         PropID = 0x25 // byte: CONNACK
	PropUserProperty            PropID = 0x26 // string pair: all (repeatable)
	PropMaximumPacketSize       PropID = 0x27 // uint32: CONNECT, CONNACK
	PropWildcardSubAvailable    PropID = 0x28 // byte: CONNACK
	PropSubscriptionIDAvailable PropID = 0x29 // byte: CONNACK
	PropSharedSubAvailable      PropID = 0x2A // byte: CONNACK
)

// UserProperty is one name/value pair of a v5 User Property.
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5 properties of a packet (or of a will).
// Which scalar properties are present is recorded in a bit set, so that
// "absent" and "zero" are distinct without pointers: use Has and Set.
// Repeatable properties (user properties, subscription identifiers in
// PUBLISH) are present when their slice is non-empty.
type Properties struct {
	present uint64 // bit n set: property with identifier n present
	// order holds the identifiers in the order they were decoded, one
	// entry per value; norder counts them (orderLost: too many to keep).
	// Append follows it for PUBLISH, so that a forwarded message keeps
	// its publisher's order as Mosquitto does.
	order  [maxOrder]PropID
	norder uint8

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32 // PUBLISH may carry several; SUBSCRIBE at most one
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether the property id is present.
func (p *Properties) Has(id PropID) bool {
	switch id {
	case PropUserProperty:
		return len(p.User) > 0
	case PropSubscriptionID:
		return len(p.SubscriptionIDs) > 0
	}
	return p.present&(1<<uint(id)) != 0
}

// Set marks the property id as present; assign the field as well.
func (p *Properties) Set(id PropID) { p.present |= 1 << uint(id) }

// Clear marks the property id as absent.
func (p *Properties) Clear(id PropID) {
	switch id {
	case PropUserProperty:
		p.User = nil
	case PropSubscriptionID:
		p.SubscriptionIDs = nil
	}
	p.present &^= 1 << uint(id)
}

// IsEmpty reports whether no property is present.
func (p *Properties) IsEmpty() bool {
	return p.present == 0 && len(p.User) == 0 && len(p.SubscriptionIDs) == 0
}

// maxOrder is how many decoded properties keep their order; PUBLISH
// packets rarely carry more.
const (
	maxOrder  = 16
	orderLost = 255
)

// Order returns the identifiers of the decoded properties in wire order,
// one entry per value (a user property or subscription identifier as
// often as it appeared), or nil when the order is not known: the
// properties were built rather than decoded, or there were more than 16.
func (p *Properties) Order() []PropID {
	if p.norder == 0 || p.norder > maxOrder {
		return nil
	}
	return p.order[:p.norder]
}

// ForgetOrder drops the decoded order, so that Append uses its own.
func (p *Properties) ForgetOrder() { p.order, p.norder = [maxOrder]PropID{}, 0 }

// noteOrder records that id was decoded next.
func (p *Properties) noteOrder(id PropID) {
	if p.norder < maxOrder {
		p.order[p.norder] = id
		p.norder++
	} else {
		p.norder = orderLost
	}
}
