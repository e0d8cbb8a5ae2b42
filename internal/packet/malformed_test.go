package packet

import (
	"errors"
	"testing"
)

// connectWire builds a CONNECT with keep alive 60 whose fields after the
// connect flags are tail.
func connectWire(name string, level, flags byte, tail ...any) []byte {
	return frame(0x10, cat(append([]any{str(name), level, flags, 0, 60}, tail...)...)...)
}

// props builds a v5 property list with its length prefix.
func props(parts ...any) []byte {
	b := cat(parts...)
	return append(AppendVarint(nil, len(b)), b...)
}

// badPackets maps one broken rule each to the reason code Decode must
// report. Where the specification names the class, it is followed; where
// it leaves the choice, the code is the one Mosquitto answers with (its
// test suite pins them): in PUBLISH, SUBSCRIBE and UNSUBSCRIBE every
// property that cannot be accepted, a wildcard topic name apart, is a
// Malformed Packet.
var badPackets = []struct {
	name    string
	version byte
	wire    []byte
	reason  ReasonCode
}{
	// Fixed header.
	{"remaining length of five bytes", V311, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, MalformedPacket},
	{"remaining length not minimal", V311, []byte{0x30, 0x80, 0x00}, MalformedPacket},
	{"reserved packet type 0", V311, []byte{0x00, 0x00}, MalformedPacket},
	{"protocol level unknown", 0, frame(0xC0), ProtocolError},
	{"PUBREL flags 0", V311, frame(0x60, 0, 1), MalformedPacket},
	{"SUBSCRIBE flags 0", V311, frame(0x80, cat(0, 1, str("a"), 0)...), MalformedPacket},
	{"UNSUBSCRIBE flags 0", V5, frame(0xA0, cat(0, 1, 0, str("a"))...), MalformedPacket},
	{"SUBSCRIBE with DUP in 3.1.1", V311, frame(0x8A, cat(0, 1, str("a"), 0)...), MalformedPacket},
	{"PUBACK flags", V311, frame(0x41, 0, 1), MalformedPacket},
	{"PINGREQ flags", V5, frame(0xC2), MalformedPacket},
	{"DISCONNECT flags", V5, frame(0xE1), MalformedPacket},
	{"CONNECT flags", V311, frame(0x11, cat(str("MQTT"), 4, 2, 0, 60, str("c"))...), MalformedPacket},

	// CONNECT.
	{"MQTT level 3", V311, connectWire("MQTT", 3, 2, str("c")), UnsupportedProtocolVersion},
	{"MQIsdp level 4", V311, connectWire("MQIsdp", 4, 2, str("c")), UnsupportedProtocolVersion},
	{"unknown protocol name", V311, connectWire("HTTP", 4, 2, str("c")), UnsupportedProtocolVersion},
	{"level 6", V311, connectWire("MQTT", 6, 2, str("c")), UnsupportedProtocolVersion},
	{"reserved connect flag", V311, connectWire("MQTT", 4, 0x03, str("c")), MalformedPacket},
	{"will QoS 3", V311, connectWire("MQTT", 4, 0x1C, str("c"), str("w"), str("m")), MalformedPacket},
	{"will retain without will", V5, connectWire("MQTT", 5, 0x22, 0, str("c")), MalformedPacket},
	{"will QoS without will", V311, connectWire("MQTT", 4, 0x0A, str("c")), MalformedPacket},
	{"3.1.1 password without username", V311, connectWire("MQTT", 4, 0x42, str("c"), str("p")), ProtocolError},
	{"CONNECT trailing bytes", V311, connectWire("MQTT", 4, 0x02, str("c"), 0), MalformedPacket},
	{"CONNECT truncated", V311, frame(0x10, cat(str("MQTT"), 4, 2, 0)...), MalformedPacket},
	{"client id invalid UTF-8", V311, connectWire("MQTT", 4, 0x02, str("\xc3\x28")), MalformedPacket},
	{"username invalid UTF-8", V311, connectWire("MQTT", 4, 0x82, str("c"), str("\xff")), MalformedPacket},
	{"CONNECT property not allowed", V5, connectWire("MQTT", 5, 2, props(0x23, 0, 1), str("c")), MalformedPacket},
	{"will property not allowed", V5, connectWire("MQTT", 5, 0x06, 0, str("c"), props(0x11, 0, 0, 0, 1), str("w"), str("m")), MalformedPacket},
	{"will property length overruns", V5, connectWire("MQTT", 5, 0x06, 0, str("c"), 40, str("w")), MalformedPacket},
	{"authentication data without method", V5, connectWire("MQTT", 5, 2, props(0x16, str("x")), str("c")), ProtocolError},
	{"request problem information 2", V5, connectWire("MQTT", 5, 2, props(0x17, 2), str("c")), ProtocolError},
	{"request response information 2", V5, connectWire("MQTT", 5, 2, props(0x19, 2), str("c")), ProtocolError},
	{"receive maximum 0", V5, connectWire("MQTT", 5, 2, props(0x21, 0, 0), str("c")), ProtocolError},
	{"maximum packet size 0", V5, connectWire("MQTT", 5, 2, props(0x27, 0, 0, 0, 0), str("c")), ProtocolError},
	{"duplicate session expiry", V5, connectWire("MQTT", 5, 2, props(0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2), str("c")), ProtocolError},
	{"duplicate authentication method", V5, connectWire("MQTT", 5, 2, props(0x15, str("a"), 0x15, str("a")), str("c")), ProtocolError},

	// PUBLISH.
	{"QoS 3", V311, frame(0x36, cat(str("t"), 0, 1)...), MalformedPacket},
	{"DUP at QoS 0 in 3.1.1", V311, frame(0x38, str("t")...), MalformedPacket},
	{"DUP at QoS 0 in 5.0", V5, frame(0x38, cat(str("t"), 0)...), MalformedPacket},
	{"topic invalid UTF-8", V311, frame(0x30, str("a\xffb")...), MalformedPacket},
	{"topic with U+0000", V311, frame(0x30, str("a\x00b")...), MalformedPacket},
	{"topic with a surrogate", V311, frame(0x30, str("a\xed\xa0\x80")...), MalformedPacket},
	// The disallowed code points of [MQTT-1.5.4-3]: Mosquitto treats
	// them as malformed, so do we.
	{"topic with a C0 control character", V311, frame(0x30, str("a\x01b")...), MalformedPacket},
	{"topic with DEL", V311, frame(0x30, str("a\x7fb")...), MalformedPacket},
	{"topic with a C1 control character", V311, frame(0x30, str("a\u0085b")...), MalformedPacket},
	{"topic with U+FFFF", V311, frame(0x30, str("a\uffffb")...), MalformedPacket},
	{"topic with U+FDD0", V311, frame(0x30, str("a\ufdd0b")...), MalformedPacket},
	{"topic with U+1FFFE", V311, frame(0x30, str("a\U0001fffeb")...), MalformedPacket},
	{"client id with a control character", V311, frame(0x10, cat(str("MQTT"), 4, 2, 0, 60, str("id\x1f"))...), MalformedPacket},
	{"v5 user property with a control character", V5, frame(0x30, cat(str("t"), props(0x26, str("k\x02"), str("v")))...), MalformedPacket},
	{"topic length overruns", V311, frame(0x30, 0, 9, 'a'), MalformedPacket},
	{"topic with +", V311, frame(0x30, str("a/+/b")...), ProtocolError},
	{"topic with #", V5, frame(0x30, cat(str("a/#"), 0)...), ProtocolError},
	{"empty topic in 3.1.1", V311, frame(0x30, str("")...), MalformedPacket},
	{"empty topic without alias", V5, frame(0x30, cat(str(""), 0)...), ProtocolError},
	{"PUBLISH packet id 0", V311, frame(0x32, cat(str("t"), 0, 0)...), ProtocolError},
	{"PUBLISH property not allowed", V5, frame(0x30, cat(str("t"), props(0x11, 0, 0, 0, 1))...), MalformedPacket},
	{"duplicate message expiry", V5, frame(0x30, cat(str("t"), props(0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1))...), ProtocolError},
	{"duplicate topic alias", V5, frame(0x30, cat(str("t"), props(0x23, 0, 1, 0x23, 0, 2))...), ProtocolError},
	{"subscription identifier 0", V5, frame(0x30, cat(str("t"), props(0x0B, 0))...), MalformedPacket},
	{"property length overruns", V5, frame(0x30, cat(str("t"), 9, 0x01, 1)...), MalformedPacket},
	{"property value truncated", V5, frame(0x30, cat(str("t"), 3, 0x02, 0, 0)...), MalformedPacket},
	{"property length missing", V5, frame(0x32, cat(str("t"), 0, 1)...), MalformedPacket},
	{"property length not minimal", V5, frame(0x30, cat(str("t"), 0x80, 0x00)...), MalformedPacket},
	{"unknown property", V5, frame(0x30, cat(str("t"), props(0x05, 1))...), MalformedPacket},
	{"property identifier with continuation bit", V5, frame(0x30, cat(str("t"), props(0x81, 0x00, 1))...), MalformedPacket},
	{"response topic with wildcard", V5, frame(0x30, cat(str("t"), props(0x08, str("r/#")))...), MalformedPacket},
	{"user property invalid UTF-8", V5, frame(0x30, cat(str("t"), props(0x26, str("\xff"), str("v")))...), MalformedPacket},
	{"user property value missing", V5, frame(0x30, cat(str("t"), props(0x26, str("k")))...), MalformedPacket},
	{"correlation data overruns", V5, frame(0x30, cat(str("t"), props(0x09, 0, 5, 1))...), MalformedPacket},

	// PUBACK, PUBREC, PUBREL, PUBCOMP.
	{"PUBACK packet id 0", V311, frame(0x40, 0, 0), ProtocolError},
	{"PUBREC packet id 0", V5, frame(0x50, 0, 0), ProtocolError},
	{"PUBREL packet id 0", V311, frame(0x62, 0, 0), ProtocolError},
	{"PUBCOMP packet id 0", V5, frame(0x70, 0, 0), ProtocolError},
	{"PUBACK too short", V311, frame(0x40, 1), MalformedPacket},
	{"PUBACK trailing bytes in 3.1.1", V311, frame(0x40, 0, 1, 0), MalformedPacket},
	{"PUBACK reason not allowed", V5, frame(0x40, 0, 1, 0x05), ProtocolError},
	{"PUBREL reason not allowed", V5, frame(0x62, 0, 1, 0x10), ProtocolError},
	{"PUBACK property not allowed", V5, frame(0x40, cat(0, 1, 0, props(0x23, 0, 1))...), MalformedPacket},
	{"PUBACK trailing bytes after properties", V5, frame(0x40, cat(0, 1, 0, props(), 7)...), MalformedPacket},

	// SUBSCRIBE.
	{"SUBSCRIBE packet id 0", V311, frame(0x82, cat(0, 0, str("a"), 0)...), MalformedPacket},
	{"SUBSCRIBE without subscriptions in 5.0", V5, frame(0x82, 0, 1, 0), MalformedPacket},
	{"SUBSCRIBE without subscriptions in 3.1.1", V311, frame(0x82, 0, 1), MalformedPacket},
	{"subscription options reserved bits", V5, frame(0x82, cat(0, 1, 0, str("a"), 0xC0)...), MalformedPacket},
	{"subscription QoS 3 in 5.0", V5, frame(0x82, cat(0, 1, 0, str("a"), 0x03)...), MalformedPacket},
	{"subscription QoS 3 in 3.1.1", V311, frame(0x82, cat(0, 1, str("a"), 0x03)...), MalformedPacket},
	{"retain handling 3", V5, frame(0x82, cat(0, 1, 0, str("a"), 0x30)...), MalformedPacket},
	{"3.1.1 requested QoS upper bits", V311, frame(0x82, cat(0, 1, str("a"), 0x05)...), MalformedPacket},
	{"3.1 requested QoS upper bits", V31, frame(0x82, cat(0, 1, str("a"), 0x40)...), MalformedPacket},
	{"empty topic filter", V311, frame(0x82, cat(0, 1, str(""), 0)...), MalformedPacket},
	{"topic filter invalid UTF-8", V5, frame(0x82, cat(0, 1, 0, str("\xed\xbf\xbf"), 0)...), MalformedPacket},
	{"subscription options missing", V311, frame(0x82, cat(0, 1, str("a"))...), MalformedPacket},
	{"two subscription identifiers", V5, frame(0x82, cat(0, 1, props(0x0B, 1, 0x0B, 2), str("a"), 0)...), ProtocolError},
	{"SUBSCRIBE property not allowed", V5, frame(0x82, cat(0, 1, props(0x1F, str("r")), str("a"), 0)...), MalformedPacket},
	{"SUBSCRIBE subscription identifier 0", V5, frame(0x82, cat(0, 1, props(0x0B, 0), str("a"), 0)...), MalformedPacket},

	// UNSUBSCRIBE.
	{"UNSUBSCRIBE packet id 0", V311, frame(0xA2, cat(0, 0, str("a"))...), MalformedPacket},
	{"UNSUBSCRIBE without filters in 5.0", V5, frame(0xA2, 0, 1, 0), MalformedPacket},
	{"UNSUBSCRIBE without filters in 3.1.1", V311, frame(0xA2, 0, 1), MalformedPacket},
	{"UNSUBSCRIBE empty filter", V311, frame(0xA2, cat(0, 1, str(""))...), MalformedPacket},
	{"UNSUBSCRIBE property not allowed", V5, frame(0xA2, cat(0, 1, props(0x0B, 1), str("a"))...), MalformedPacket},

	// SUBACK and UNSUBACK.
	{"SUBACK reserved code in 3.1.1", V311, frame(0x90, 0, 1, 3), MalformedPacket},
	{"SUBACK reason not allowed", V5, frame(0x90, 0, 1, 0, 0x05), ProtocolError},
	{"SUBACK packet id 0", V311, frame(0x90, 0, 0, 0), ProtocolError},
	{"UNSUBACK codes in 3.1.1", V311, frame(0xB0, 0, 1, 0), MalformedPacket},
	{"UNSUBACK reason not allowed", V5, frame(0xB0, 0, 1, 0, 0x02), ProtocolError},

	// CONNACK.
	{"CONNACK reserved flags", V311, frame(0x20, 0x02, 0), MalformedPacket},
	{"CONNACK reserved return code", V311, frame(0x20, 0, 6), MalformedPacket},
	{"CONNACK too long in 3.1.1", V311, frame(0x20, 0, 0, 0), MalformedPacket},
	{"CONNACK reason not allowed", V5, frame(0x20, 0, 0x04, 0), ProtocolError},
	{"CONNACK without property length", V5, frame(0x20, 0, 0), MalformedPacket},
	{"maximum QoS 2", V5, frame(0x20, cat(0, 0, props(0x24, 2))...), ProtocolError},
	{"retain available 2", V5, frame(0x20, cat(0, 0, props(0x25, 2))...), ProtocolError},
	{"CONNACK property not allowed", V5, frame(0x20, cat(0, 0, props(0x23, 0, 1))...), MalformedPacket},

	// DISCONNECT, AUTH, PINGREQ.
	{"DISCONNECT body in 3.1.1", V311, frame(0xE0, 0), MalformedPacket},
	{"DISCONNECT reason not allowed", V5, frame(0xE0, 0x03), ProtocolError},
	{"DISCONNECT property not allowed", V5, frame(0xE0, cat(0, props(0x21, 0, 1))...), MalformedPacket},
	{"AUTH in 3.1.1", V311, frame(0xF0), ProtocolError},
	{"AUTH without property length", V5, frame(0xF0, 0x18), MalformedPacket},
	{"AUTH reason not allowed", V5, frame(0xF0, cat(0x01, props(0x15, str("m")))...), ProtocolError},
	{"AUTH without method", V5, frame(0xF0, cat(0x18, props())...), ProtocolError},
	{"PINGREQ with body", V311, frame(0xC0, 0), MalformedPacket},
}

func TestMalformed(t *testing.T) {
	for _, tt := range badPackets {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeAll(t, tt.version, tt.wire)
			if err == nil {
				t.Fatalf("decoded % x as %#v", tt.wire, p)
			}
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			if got := ReasonOf(err); got != tt.reason {
				t.Fatalf("reason 0x%02x (%v), want 0x%02x", byte(got), err, byte(tt.reason))
			}
			if p != nil {
				t.Fatalf("Decode returned %#v with an error", p)
			}
			t.Log(err)
		})
	}
}

// TestAccepted lists edge cases a strict decoder might wrongly refuse.
func TestAccepted(t *testing.T) {
	tests := []struct {
		name    string
		version byte
		wire    []byte
	}{
		{"5.0 password without username", V5, connectWire("MQTT", 5, 0x42, 0, str("c"), str("p"))},
		{"3.1 password without username", V31, connectWire("MQIsdp", 3, 0x42, str("c"), str("p"))},
		{"3.1 long client id", V31, connectWire("MQIsdp", 3, 0x02, str("a-client-id-longer-than-23-characters"))},
		{"empty client id", V311, connectWire("MQTT", 4, 0x02, str(""))},
		{"3.1 SUBSCRIBE with DUP", V31, frame(0x8A, cat(0, 1, str("a"), 1)...)},
		{"3.1 UNSUBSCRIBE with DUP", V31, frame(0xAA, cat(0, 1, str("a"))...)},
		{"topic alias 0 is the receiver's to refuse", V5, frame(0x30, cat(str("t"), props(0x23, 0, 0))...)},
		{"empty topic with alias", V5, frame(0x30, cat(str(""), props(0x23, 0, 1))...)},
		{"repeated subscription identifiers in PUBLISH", V5, frame(0x30, cat(str("t"), props(0x0B, 1, 0x0B, 2))...)},
		{"repeated user properties", V5, frame(0xE0, cat(0, props(0x26, str("k"), str("v"), 0x26, str("k"), str("v")))...)},
		{"wildcards in filters are not checked here", V311, frame(0x82, cat(0, 1, str("a/#/b+"), 0)...)},
		{"BOM and other characters in strings", V311, frame(0x30, str("\ufeff\u00a0\ufffd\U0001f600 ~")...)},
		{"payload is not validated", V5, frame(0x30, cat(str("t"), props(0x01, 1), 0xff, 0x00)...)},
		// Only 0 and 1 are defined, but no error is named for others.
		{"payload format 0xED", V5, frame(0x30, cat(str("t"), props(0x01, 0xED))...)},
		{"v5 DISCONNECT reason only", V5, frame(0xE0, 0x8E)},
		{"v5 PUBREL reason only", V5, frame(0x62, 0, 1, 0x92)},
		{"3.1 SUBACK failure code", V31, frame(0x90, 0, 1, 0x80)},
		{"empty SUBACK", V311, frame(0x90, 0, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeAll(t, tt.version, tt.wire); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	if got := ReasonOf(nil); got != Success {
		t.Errorf("ReasonOf(nil) = %v", got)
	}
	if got := ReasonOf(errors.New("x")); got != MalformedPacket {
		t.Errorf("ReasonOf(other) = %v", got)
	}
	wrapped := errors.Join(errors.New("context"), &Error{Reason: TopicNameInvalid, Msg: "m"})
	if got := ReasonOf(wrapped); got != TopicNameInvalid {
		t.Errorf("ReasonOf(wrapped) = %v", got)
	}
}
