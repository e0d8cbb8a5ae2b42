package packet

import "fmt"

// Decode decodes one packet from its first byte and its body (the
// remaining-length bytes after the fixed header). version is the
// connection's negotiated protocol level (V31, V311 or V5); it is ignored
// for CONNECT, which names its own. Byte-slice fields of the result
// (payloads, passwords, correlation and auth data) alias body; strings are
// copies. Every rule a receiver must check is checked: reserved flag bits,
// properties allowed for the packet type, duplicate properties, UTF-8
// validity and U+0000 in strings, packet id non-zero where required,
// QoS 3, topic without wildcards in PUBLISH, non-empty SUBSCRIBE and
// UNSUBSCRIBE ... and each failure is an *Error with the right reason code.
//
// Aliased byte slices are clipped to their own length, so appending to one
// never overwrites body; empty ones are nil. Topic filters are checked only
// for UTF-8 and length: wildcard placement is the caller's to validate. The
// message names the packet type and, where one applies, the normative
// statement that was broken.
func Decode(version byte, first byte, body []byte) (Packet, error) {
	t := Type(first >> 4)
	p, err := decode(version, t, first&0x0f, body)
	if err != nil {
		return nil, prefixed(t.String(), err)
	}
	return p, nil
}

// DecodePublish is Decode for a PUBLISH, into p, which may live on the
// caller's stack. last is "" or a topic name DecodePublish returned
// before, typically the one of the previous PUBLISH on the connection:
// when the topic name is the same, p.Topic is last itself instead of a new
// string, and it is not checked again (UTF-8, wildcards), so a client that
// keeps publishing to one topic costs no allocation or scan for it.
func DecodePublish(version byte, first byte, body []byte, p *Publish, last string) error {
	if Type(first>>4) != PUBLISH {
		return fmt.Errorf("packet: %s is not a PUBLISH", Type(first>>4))
	}
	if !validVersion(version) {
		return prefixed(PUBLISH.String(), protocolError("protocol level %d unknown", version))
	}
	if err := decodePublish(version, first&0x0f, body, p, last); err != nil {
		return prefixed(PUBLISH.String(), err)
	}
	return nil
}

// DecodeAck is Decode for PUBACK, PUBREC, PUBREL and PUBCOMP, into a. It
// allocates nothing for an ack without properties, and a may live on the
// caller's stack. An ack's properties (a reason string, user properties)
// are copied, so a does not alias body.
func DecodeAck(version byte, first byte, body []byte, a *Ack) error {
	t := Type(first >> 4)
	err := decodeAckInto(version, t, first&0x0f, body, a)
	if err != nil {
		return prefixed(t.String(), err)
	}
	return nil
}

func decodeAckInto(version byte, t Type, flags byte, body []byte, a *Ack) error {
	if t < PUBACK || t > PUBCOMP {
		return fmt.Errorf("packet: %s is not an ack", t)
	}
	if !validVersion(version) {
		return protocolError("protocol level %d unknown", version)
	}
	if err := checkFlags(version, t, flags); err != nil {
		return err
	}
	return decodeAck(version, t, body, a)
}

func decode(version byte, t Type, flags byte, body []byte) (Packet, error) {
	if t == 0 {
		return nil, malformed("reserved packet type 0")
	}
	if t == CONNECT {
		if err := checkFlags(version, t, flags); err != nil {
			return nil, err
		}
		return decodeConnect(body)
	}
	if !validVersion(version) {
		return nil, protocolError("protocol level %d unknown", version)
	}
	if t == PUBLISH {
		p := new(Publish)
		return p, decodePublish(version, flags, body, p, "")
	}
	if err := checkFlags(version, t, flags); err != nil {
		return nil, err
	}
	switch t {
	case CONNACK:
		return decodeConnack(version, body)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		a := new(Ack)
		return a, decodeAck(version, t, body, a)
	case SUBSCRIBE:
		return decodeSubscribe(version, body)
	case SUBACK:
		return decodeSuback(version, body)
	case UNSUBSCRIBE:
		return decodeUnsubscribe(version, body)
	case UNSUBACK:
		return decodeUnsuback(version, body)
	case PINGREQ:
		return &Pingreq{}, emptyBody(body)
	case PINGRESP:
		return &Pingresp{}, emptyBody(body)
	case DISCONNECT:
		return decodeDisconnect(version, body)
	default: // AUTH
		return decodeAuth(version, body)
	}
}

// end reports bytes left after the last field: the remaining length and
// the fields disagree, so the packet cannot be parsed.
func (d *decoder) end() error {
	if len(d.b) != 0 {
		return malformed("%d unexpected bytes after the last field", len(d.b))
	}
	return nil
}

func emptyBody(body []byte) error {
	d := decoder{b: body}
	return d.end()
}

// readPacketID reads a packet identifier, which must not be zero
// [MQTT-2.2.1-3] [MQTT-2.3.1-1].
func (d *decoder) readPacketID() (uint16, error) {
	id, err := d.readUint16("packet identifier")
	if err == nil && id == 0 {
		return 0, protocolError("packet identifier 0 [MQTT-2.2.1-3]")
	}
	return id, err
}

// rest returns the unread bytes, clipped, or nil when there are none.
func (d *decoder) rest() []byte {
	if len(d.b) == 0 {
		return nil
	}
	b := d.b[:len(d.b):len(d.b)]
	d.b = nil
	return b
}

func decodeConnect(body []byte) (*Connect, error) {
	d := decoder{b: body}
	name, err := d.readBinary("protocol name")
	if err != nil {
		return nil, err
	}
	lb, err := d.readByte("protocol level")
	if err != nil {
		return nil, err
	}
	c := &Connect{Bridge: lb&0x80 != 0}
	level := lb &^ 0x80
	switch {
	case string(name) == nameMQTT && (level == V311 || level == V5):
		c.ProtocolName = nameMQTT
	case string(name) == nameMQIsdp && level == V31:
		c.ProtocolName = nameMQIsdp
	default:
		if len(name) > 16 {
			name = name[:16]
		}
		// [MQTT-3.1.2-1] [MQTT-3.1.2-2]
		return nil, reasonError(UnsupportedProtocolVersion, "protocol %q level %d not supported", name, level)
	}
	c.ProtocolVersion = level

	flags, err := d.readByte("connect flags")
	if err != nil {
		return nil, err
	}
	if flags&flagReserved != 0 {
		return nil, malformed("reserved connect flag set [MQTT-3.1.2-3]")
	}
	willQoS := flags >> 3 & 3
	if flags&flagWill == 0 {
		if willQoS != 0 || flags&flagWillRetain != 0 {
			// v5 [MQTT-3.1.2-11] [MQTT-3.1.2-13], 3.1.1 [MQTT-3.1.2-13] [MQTT-3.1.2-15]
			return nil, malformed("will QoS or will retain set without the will flag")
		}
	} else if willQoS == 3 {
		// v5 [MQTT-3.1.2-12], 3.1.1 [MQTT-3.1.2-14]
		return nil, malformed("will QoS 3")
	}
	c.CleanStart = flags&flagCleanStart != 0
	c.UsernameFlag = flags&flagUsername != 0
	c.PasswordFlag = flags&flagPassword != 0
	// 3.1.1 forbids a password without a username [MQTT-3.1.2-22]; 5.0
	// allows it (section 3.1.2.9) and 3.1 does not forbid it.
	if level == V311 && c.PasswordFlag && !c.UsernameFlag {
		return nil, protocolError("password flag without username flag [MQTT-3.1.2-22]")
	}
	if c.KeepAlive, err = d.readUint16("keep alive"); err != nil {
		return nil, err
	}
	if level == V5 {
		if err := decodeProps(&d, ctxConnect, &c.Properties); err != nil {
			return nil, err
		}
	}
	// Any length is decoded: the 23-character limit of 3.1 and the
	// rules for empty identifiers are the server's.
	if c.ClientID, err = d.readString("client identifier"); err != nil {
		return nil, err
	}
	if flags&flagWill != 0 {
		w := &Will{QoS: willQoS, Retain: flags&flagWillRetain != 0}
		if level == V5 {
			if err := decodeProps(&d, ctxWill, &w.Properties); err != nil {
				return nil, prefixed("will", err)
			}
		}
		if w.Topic, err = d.readString("will topic"); err != nil {
			return nil, err
		}
		if w.Payload, err = d.readBinary("will payload"); err != nil {
			return nil, err
		}
		c.Will = w
	}
	// Some 3.1 clients set the username or password flag without sending
	// the field; like Mosquitto, take the flag back rather than refuse.
	if c.UsernameFlag {
		if level == V31 && len(d.b) == 0 {
			c.UsernameFlag = false
		} else if c.Username, err = d.readString("username"); err != nil {
			return nil, err
		}
	}
	if c.PasswordFlag {
		if level == V31 && len(d.b) == 0 {
			c.PasswordFlag = false
		} else if c.Password, err = d.readBinary("password"); err != nil {
			return nil, err
		}
	}
	return c, d.end()
}

func decodeConnack(version byte, body []byte) (*Connack, error) {
	d := decoder{b: body}
	ack, err := d.readByte("acknowledge flags")
	if err != nil {
		return nil, err
	}
	code, err := d.readByte("reason code")
	if err != nil {
		return nil, err
	}
	c := &Connack{ReasonCode: ReasonCode(code)}
	// In 3.1 the first byte is reserved and unused: ignore it.
	if version != V31 {
		if ack&^1 != 0 {
			// v5 [MQTT-3.2.2-1]; 3.1.1 section 3.2.2.1
			return nil, malformed("reserved acknowledge flags set")
		}
		c.SessionPresent = ack&1 != 0
	}
	if version != V5 {
		if c.ReasonCode > V3NotAuthorized {
			return nil, malformed("reserved return code %d", code)
		}
		return c, d.end()
	}
	if err := checkReason(CONNACK, c.ReasonCode); err != nil {
		return nil, err
	}
	if err := decodeProps(&d, ctxConnack, &c.Properties); err != nil {
		return nil, err
	}
	return c, d.end()
}
