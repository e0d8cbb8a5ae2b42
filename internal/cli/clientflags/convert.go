package clientflags

import (
	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/cli/format"
)

// ToProperties converts -D properties into the client's property set.
func ToProperties(props []Property) client.Properties {
	var out client.Properties
	for _, p := range props {
		id := client.PropID(p.ID)
		switch p.ID {
		case PropPayloadFormat:
			out.PayloadFormat = byte(p.Value)
		case PropMessageExpiry:
			out.MessageExpiry = p.Value
		case PropContentType:
			out.ContentType = p.Str
		case PropResponseTopic:
			out.ResponseTopic = p.Str
		case PropCorrelationData:
			out.CorrelationData = p.Bin
		case PropSubscriptionID:
			out.SubscriptionIDs = append(out.SubscriptionIDs, p.Value)
			continue
		case PropSessionExpiry:
			out.SessionExpiry = p.Value
		case PropAuthMethod:
			out.AuthMethod = p.Str
		case PropAuthData:
			out.AuthData = p.Bin
		case PropRequestProblemInfo:
			out.RequestProblemInfo = byte(p.Value)
		case PropWillDelay:
			out.WillDelay = p.Value
		case PropRequestResponseInfo:
			out.RequestResponseInfo = byte(p.Value)
		case PropServerReference:
			out.ServerReference = p.Str
		case PropReasonString:
			out.ReasonString = p.Str
		case PropReceiveMaximum:
			out.ReceiveMaximum = uint16(p.Value)
		case PropTopicAliasMaximum:
			out.TopicAliasMaximum = uint16(p.Value)
		case PropTopicAlias:
			out.TopicAlias = uint16(p.Value)
		case PropMaximumPacketSize:
			out.MaximumPacketSize = p.Value
		case PropUserProperty:
			out.User = append(out.User, client.UserProperty{Key: p.Key, Value: p.Str})
			continue
		default:
			continue // CONNACK-only properties never reach a packet we send
		}
		out.Set(id)
	}
	return out
}

// FormatMessage converts a received message for the printer. The client
// keeps properties by kind, not in wire order, so they are listed in the
// order Mosquitto's broker forwards them for a publisher that sends them
// in identifier order (as midge pub does): subscription identifiers first,
// the publisher's properties next, message expiry last.
func FormatMessage(m *client.Message) *format.Message {
	fm := &format.Message{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, MID: m.PacketID}
	p := &m.Properties
	if order := p.Order(); order != nil {
		// mosquitto_sub lists the properties in the order they arrived.
		fm.Props = propsInOrder(p, order)
		return fm
	}
	var props []format.Property
	for _, id := range p.SubscriptionIDs {
		props = append(props, format.Property{ID: format.PropSubscriptionID, Value: id})
	}
	if p.Has(client.PropPayloadFormat) {
		props = append(props, format.Property{ID: format.PropPayloadFormat, Value: uint32(p.PayloadFormat)})
	}
	if p.Has(client.PropContentType) {
		props = append(props, format.Property{ID: format.PropContentType, Str: p.ContentType})
	}
	if p.Has(client.PropResponseTopic) {
		props = append(props, format.Property{ID: format.PropResponseTopic, Str: p.ResponseTopic})
	}
	if p.Has(client.PropCorrelationData) {
		props = append(props, format.Property{ID: format.PropCorrelationData, Bin: p.CorrelationData})
	}
	if p.Has(client.PropTopicAlias) {
		props = append(props, format.Property{ID: format.PropTopicAlias, Value: uint32(p.TopicAlias)})
	}
	for _, u := range p.User {
		props = append(props, format.Property{ID: format.PropUserProperty, Key: u.Key, Str: u.Value})
	}
	if p.Has(client.PropMessageExpiry) {
		props = append(props, format.Property{ID: format.PropMessageExpiry, Value: p.MessageExpiry})
	}
	fm.Props = props
	return fm
}

// propsInOrder lists the properties of p in the decoded order.
func propsInOrder(p *client.Properties, order []client.PropID) []format.Property {
	props := make([]format.Property, 0, len(order))
	user, sub := 0, 0
	for _, id := range order {
		switch id {
		case client.PropSubscriptionID:
			if sub < len(p.SubscriptionIDs) {
				props = append(props, format.Property{ID: format.PropSubscriptionID, Value: p.SubscriptionIDs[sub]})
				sub++
			}
		case client.PropUserProperty:
			if user < len(p.User) {
				u := p.User[user]
				props = append(props, format.Property{ID: format.PropUserProperty, Key: u.Key, Str: u.Value})
				user++
			}
		}
		if !p.Has(id) {
			continue // cleared after decoding, e.g. a resolved topic alias
		}
		switch id {
		case client.PropPayloadFormat:
			props = append(props, format.Property{ID: format.PropPayloadFormat, Value: uint32(p.PayloadFormat)})
		case client.PropContentType:
			props = append(props, format.Property{ID: format.PropContentType, Str: p.ContentType})
		case client.PropResponseTopic:
			props = append(props, format.Property{ID: format.PropResponseTopic, Str: p.ResponseTopic})
		case client.PropCorrelationData:
			props = append(props, format.Property{ID: format.PropCorrelationData, Bin: p.CorrelationData})
		case client.PropTopicAlias:
			props = append(props, format.Property{ID: format.PropTopicAlias, Value: uint32(p.TopicAlias)})
		case client.PropMessageExpiry:
			props = append(props, format.Property{ID: format.PropMessageExpiry, Value: p.MessageExpiry})
		}
	}
	return props
}
