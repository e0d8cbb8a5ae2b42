package packet

import (
	"bytes"
	"testing"
)

// goldenPackets are wire forms written out by hand from the specifications,
// so that the encoder and the decoder cannot share a bug. canonical marks
// the ones Append must reproduce byte for byte.
var goldenPackets = []struct {
	name      string
	version   byte
	wire      []byte
	want      Packet
	canonical bool
}{
	{
		name:    "3.1.1 CONNECT with will, username and password",
		version: V311,
		wire: []byte{
			0x10, 31, // CONNECT, remaining length
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // level 4
			0xEE,       // username, password, will retain, will QoS 1, will, clean session
			0x00, 0x3C, // keep alive 60
			0x00, 0x03, 'a', 'b', 'c', // client identifier
			0x00, 0x03, 'w', '/', 't', // will topic
			0x00, 0x03, 'b', 'y', 'e', // will message
			0x00, 0x01, 'u', // username
			0x00, 0x01, 'p', // password
		},
		want: &Connect{ProtocolName: "MQTT", ProtocolVersion: V311, CleanStart: true, KeepAlive: 60,
			ClientID: "abc", Will: &Will{Topic: "w/t", Payload: []byte("bye"), QoS: 1, Retain: true},
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")},
		canonical: true,
	},
	{
		name:    "3.1 CONNECT",
		version: V31,
		wire: []byte{
			0x10, 18,
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',
			0x03,       // level 3
			0x02,       // clean session
			0x00, 0x0A, // keep alive 10
			0x00, 0x04, 'c', '1', '2', '3',
		},
		want:      &Connect{ProtocolName: "MQIsdp", ProtocolVersion: V31, CleanStart: true, KeepAlive: 10, ClientID: "c123"},
		canonical: true,
	},
	{
		name:    "3.1 CONNECT of a bridge, username flag without username",
		version: V31,
		wire: []byte{
			0x10, 14,
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',
			0x83,       // level 3 with the bridge bit
			0x80,       // username flag, but the packet ends after the client id
			0x00, 0x00, // keep alive 0
			0x00, 0x00, // empty client identifier
		},
		want: &Connect{ProtocolName: "MQIsdp", ProtocolVersion: V31, Bridge: true},
	},
	{
		name:    "5.0 CONNECT with properties and will",
		version: V5,
		wire: []byte{
			0x10, 58,
			0x00, 0x04, 'M', 'Q', 'T', 'T',
			0x05,       // level 5
			0x86,       // username, will (QoS 0, no retain), clean start
			0x00, 0x1E, // keep alive 30
			15,                           // property length
			0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry 3600
			0x21, 0x00, 0x14, // receive maximum 20
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x00, 0x02, 'i', 'd', // client identifier
			14,         // will property length
			0x01, 0x01, // payload format: UTF-8
			0x03, 0x00, 0x04, 't', 'e', 'x', 't', // content type
			0x18, 0x00, 0x00, 0x00, 0x05, // will delay 5
			0x00, 0x01, 'w', // will topic
			0x00, 0x02, 'h', 'i', // will payload
			0x00, 0x04, 'u', 's', 'e', 'r', // username
		},
		want: &Connect{ProtocolName: "MQTT", ProtocolVersion: V5, CleanStart: true, KeepAlive: 30,
			Properties: withProps(Properties{SessionExpiry: 3600, ReceiveMaximum: 20,
				User: []UserProperty{{"k", "v"}}}, PropSessionExpiry, PropReceiveMaximum),
			ClientID: "id",
			Will: &Will{Topic: "w", Payload: []byte("hi"),
				Properties: withProps(Properties{PayloadFormat: 1, ContentType: "text", WillDelay: 5},
					PropPayloadFormat, PropContentType, PropWillDelay)},
			UsernameFlag: true, Username: "user"},
		canonical: true,
	},
	{
		name:    "5.0 PUBLISH with properties",
		version: V5,
		wire: []byte{
			0x33, 34, // PUBLISH, QoS 1, retain
			0x00, 0x03, 'a', '/', 'b', // topic
			0x00, 0x0A, // packet identifier 10
			24,         // property length
			0x01, 0x01, // payload format
			0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry 60
			0x08, 0x00, 0x01, 'r', // response topic
			0x09, 0x00, 0x02, 0x01, 0x02, // correlation data
			0x0B, 0x05, // subscription identifier 5
			0x0B, 0xAC, 0x02, // subscription identifier 300
			0x23, 0x00, 0x03, // topic alias 3
			'h', 'i', // payload
		},
		want: &Publish{QoS: 1, Retain: true, Topic: "a/b", PacketID: 10, Payload: []byte("hi"),
			Properties: withProps(Properties{PayloadFormat: 1, MessageExpiry: 60, ResponseTopic: "r",
				CorrelationData: []byte{1, 2}, SubscriptionIDs: []uint32{5, 300}, TopicAlias: 3},
				PropPayloadFormat, PropMessageExpiry, PropResponseTopic, PropCorrelationData, PropTopicAlias)},
		canonical: true,
	},
	{
		name:      "3.1.1 PUBLISH QoS 0",
		version:   V311,
		wire:      []byte{0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'},
		want:      &Publish{Topic: "a/b", Payload: []byte("hi")},
		canonical: true,
	},
	{
		name:      "5.0 PUBACK short form",
		version:   V5,
		wire:      []byte{0x40, 0x02, 0x00, 0x0A},
		want:      &Ack{Kind: PUBACK, PacketID: 10},
		canonical: true,
	},
	{
		name:      "5.0 PUBACK reason without properties",
		version:   V5,
		wire:      []byte{0x40, 0x03, 0x00, 0x0A, 0x10},
		want:      &Ack{Kind: PUBACK, PacketID: 10, ReasonCode: NoMatchingSubscribers},
		canonical: true,
	},
	{
		name:    "5.0 PUBREC Success with empty property length",
		version: V5,
		wire:    []byte{0x50, 0x04, 0x00, 0x0A, 0x00, 0x00},
		want:    &Ack{Kind: PUBREC, PacketID: 10},
	},
	{
		name:      "3.1.1 PUBREL",
		version:   V311,
		wire:      []byte{0x62, 0x02, 0x12, 0x34},
		want:      &Ack{Kind: PUBREL, PacketID: 0x1234},
		canonical: true,
	},
	{
		name:    "3.1 PUBREL re-sent with DUP",
		version: V31,
		wire:    []byte{0x6A, 0x02, 0x12, 0x34},
		want:    &Ack{Kind: PUBREL, PacketID: 0x1234},
	},
	{
		name:      "3.1.1 SUBSCRIBE",
		version:   V311,
		wire:      []byte{0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'a', '/', '#', 0x01},
		want:      &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a/#", QoS: 1}}},
		canonical: true,
	},
	{
		name:    "5.0 SUBSCRIBE with options and subscription identifier",
		version: V5,
		wire: []byte{0x82, 0x09, 0x00, 0x02,
			0x02, 0x0B, 0x07, // properties: subscription identifier 7
			0x00, 0x01, 'x',
			0x2E, // QoS 2, no local, retain as published, retain handling 2
		},
		want: &Subscribe{PacketID: 2, Properties: Properties{SubscriptionIDs: []uint32{7}},
			Subscriptions: []Subscription{{Filter: "x", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}},
		canonical: true,
	},
	{
		name:      "3.1.1 SUBACK",
		version:   V311,
		wire:      []byte{0x90, 0x05, 0x00, 0x01, 0x00, 0x01, 0x80},
		want:      &Suback{PacketID: 1, ReasonCodes: []ReasonCode{0, 1, V3SubackFailure}},
		canonical: true,
	},
	{
		name:      "3.1.1 UNSUBSCRIBE",
		version:   V311,
		wire:      []byte{0xA2, 0x05, 0x00, 0x03, 0x00, 0x01, 'a'},
		want:      &Unsubscribe{PacketID: 3, Filters: []string{"a"}},
		canonical: true,
	},
	{
		name:      "3.1.1 UNSUBACK",
		version:   V311,
		wire:      []byte{0xB0, 0x02, 0x00, 0x03},
		want:      &Unsuback{PacketID: 3},
		canonical: true,
	},
	{
		name:      "5.0 UNSUBACK",
		version:   V5,
		wire:      []byte{0xB0, 0x04, 0x00, 0x03, 0x00, 0x11},
		want:      &Unsuback{PacketID: 3, ReasonCodes: []ReasonCode{NoSubscriptionExisted}},
		canonical: true,
	},
	{
		name:      "3.1.1 CONNACK session present",
		version:   V311,
		wire:      []byte{0x20, 0x02, 0x01, 0x00},
		want:      &Connack{SessionPresent: true},
		canonical: true,
	},
	{
		name:    "3.1 CONNACK ignores the reserved byte",
		version: V31,
		wire:    []byte{0x20, 0x02, 0x01, 0x02},
		want:    &Connack{ReasonCode: V3IdentifierRejected},
	},
	{
		name:    "5.0 CONNACK in Mosquitto's property order",
		version: V5,
		wire: []byte{0x20, 0x0C, 0x00, 0x00, 0x09,
			0x22, 0x00, 0x0A, // topic alias maximum 10
			0x13, 0x00, 0x3C, // server keep alive 60
			0x21, 0x00, 0x14, // receive maximum 20
		},
		want: &Connack{Properties: withProps(Properties{ServerKeepAlive: 60, TopicAliasMaximum: 10, ReceiveMaximum: 20},
			PropTopicAliasMaximum, PropServerKeepAlive, PropReceiveMaximum)},
		canonical: true,
	},
	{
		name:      "PINGREQ",
		version:   V311,
		wire:      []byte{0xC0, 0x00},
		want:      &Pingreq{},
		canonical: true,
	},
	{
		name:      "PINGRESP",
		version:   V5,
		wire:      []byte{0xD0, 0x00},
		want:      &Pingresp{},
		canonical: true,
	},
	{
		name:      "5.0 DISCONNECT normal",
		version:   V5,
		wire:      []byte{0xE0, 0x00},
		want:      &Disconnect{},
		canonical: true,
	},
	{
		name:      "5.0 DISCONNECT with will",
		version:   V5,
		wire:      []byte{0xE0, 0x01, 0x04},
		want:      &Disconnect{ReasonCode: DisconnectWithWill},
		canonical: true,
	},
	{
		name:      "3.1.1 DISCONNECT",
		version:   V311,
		wire:      []byte{0xE0, 0x00},
		want:      &Disconnect{},
		canonical: true,
	},
	{
		name:    "5.0 AUTH",
		version: V5,
		wire: []byte{0xF0, 0x09, 0x18, 0x07,
			0x15, 0x00, 0x04, 'S', 'C', 'R', 'M', // authentication method
		},
		want:      &Auth{ReasonCode: ContinueAuthentication, Properties: withProps(Properties{AuthMethod: "SCRM"}, PropAuthMethod)},
		canonical: true,
	},
	{
		name:      "5.0 AUTH empty",
		version:   V5,
		wire:      []byte{0xF0, 0x00},
		want:      &Auth{},
		canonical: true,
	},
}

func TestGolden(t *testing.T) {
	for _, g := range goldenPackets {
		t.Run(g.name, func(t *testing.T) {
			got, err := decodeAll(t, g.version, g.wire)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			mustEqual(t, got, g.want)
			if !g.canonical {
				return
			}
			b, err := Append(nil, g.want, g.version)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if !bytes.Equal(b, g.wire) {
				t.Fatalf("Append:\n got % x\nwant % x", b, g.wire)
			}
		})
	}
}
