package packet

func decodePublish(version, flags byte, body []byte, p *Publish, last string) error {
	qos := flags >> 1 & 3
	if qos == 3 {
		return malformed("QoS 3 [MQTT-3.3.1-4]")
	}
	dup := flags&0x08 != 0
	if dup && qos == 0 {
		// v5 [MQTT-3.3.1-2], 3.1.1 [MQTT-3.3.1-2]: a QoS 0 message is
		// never re-sent, so it cannot be a duplicate.
		return malformed("DUP set at QoS 0 [MQTT-3.3.1-2]")
	}
	d := decoder{b: body}
	topic, err := d.readBinary("topic name")
	if err != nil {
		return err
	}
	repeated := last != "" && string(topic) == last // checked when it came first
	if !repeated {
		if err := checkUTF8(topic); err != nil {
			return prefixed("topic name", err)
		}
		if hasWildcard(topic) {
			// The packet parses but breaks a rule: a Protocol Error, the
			// code Mosquitto sends for it.
			return protocolError("topic name contains a wildcard [MQTT-3.3.2-2]")
		}
	}
	*p = Publish{Dup: dup, QoS: qos, Retain: flags&0x01 != 0}
	if qos > 0 {
		if p.PacketID, err = d.readPacketID(); err != nil {
			return err
		}
	}
	if version == V5 {
		if err := decodeProps(&d, ctxPublish, &p.Properties); err != nil {
			return err
		}
	}
	if len(topic) == 0 {
		if version != V5 {
			return malformed("empty topic name [MQTT-4.7.3-1]")
		}
		if !p.Properties.Has(PropTopicAlias) {
			// Only an alias can stand for the topic (section 3.3.2.1).
			return protocolError("empty topic name without a Topic Alias")
		}
	}
	if repeated {
		p.Topic = last
	} else {
		p.Topic = string(topic)
	}
	// The payload is the rest of the packet and is not validated: the
	// payload format indicator is the receiver's to act on.
	p.Payload = d.rest()
	return nil
}

// decodeAck decodes PUBACK, PUBREC, PUBREL and PUBCOMP. In v5 a remaining
// length of 2 means Success without properties and 3 a reason code without
// properties (section 3.4.2.1).
func decodeAck(version byte, t Type, body []byte, a *Ack) error {
	d := decoder{b: body}
	id, err := d.readPacketID()
	if err != nil {
		return err
	}
	*a = Ack{Kind: t, PacketID: id}
	if version == V5 && len(d.b) > 0 {
		rc, _ := d.readByte("reason code")
		a.ReasonCode = ReasonCode(rc)
		if err := checkReason(t, a.ReasonCode); err != nil {
			return err
		}
		if len(d.b) > 0 {
			if err := decodeProps(&d, ctxAck, &a.Properties); err != nil {
				return err
			}
		}
	}
	return d.end()
}

// SUBSCRIBE and UNSUBSCRIBE that break any rule are malformed, a packet
// id of 0, a subscription QoS of 3 and retain handling 3 included: that
// is how Mosquitto answers them, and the specification leaves the class
// of those open.
func decodeSubscribe(version byte, body []byte) (*Subscribe, error) {
	d := decoder{b: body}
	id, err := d.readPacketID()
	if err != nil {
		return nil, asMalformed(err)
	}
	s := &Subscribe{PacketID: id}
	if version == V5 {
		if err := decodeProps(&d, ctxSubscribe, &s.Properties); err != nil {
			return nil, err
		}
	}
	if len(d.b) == 0 {
		return nil, malformed("no subscriptions [MQTT-3.8.3-3]")
	}
	for len(d.b) > 0 {
		filter, err := d.readStringBytes("topic filter")
		if err != nil {
			return nil, err
		}
		if len(filter) == 0 {
			return nil, malformed("empty topic filter [MQTT-4.7.3-1]")
		}
		opts, err := d.readByte("subscription options")
		if err != nil {
			return nil, err
		}
		sub := Subscription{QoS: opts & 3}
		if version == V5 {
			if opts&0xc0 != 0 {
				return nil, malformed("reserved subscription option bits set [MQTT-3.8.3-5]")
			}
			if sub.QoS == 3 {
				return nil, malformed("subscription QoS 3") // section 3.8.3.1
			}
			sub.NoLocal = opts&0x04 != 0
			sub.RetainAsPublished = opts&0x08 != 0
			sub.RetainHandling = opts >> 4 & 3
			if sub.RetainHandling == 3 {
				return nil, malformed("retain handling 3") // section 3.8.3.1
			}
		} else if opts&^3 != 0 || sub.QoS == 3 {
			return nil, malformed("requested QoS byte 0x%02x [MQTT-3.8.3-4]", opts)
		}
		sub.Filter = string(filter)
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	return s, nil
}

func decodeSuback(version byte, body []byte) (*Suback, error) {
	d := decoder{b: body}
	id, err := d.readPacketID()
	if err != nil {
		return nil, err
	}
	s := &Suback{PacketID: id}
	if version == V5 {
		if err := decodeProps(&d, ctxSuback, &s.Properties); err != nil {
			return nil, err
		}
	}
	if s.ReasonCodes, err = decodeReasonCodes(&d, version, SUBACK); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeReasonCodes reads the reason codes that fill the rest of a SUBACK
// or v5 UNSUBACK.
func decodeReasonCodes(d *decoder, version byte, t Type) ([]ReasonCode, error) {
	if len(d.b) == 0 {
		return nil, nil
	}
	codes := make([]ReasonCode, len(d.b))
	for i, b := range d.b {
		rc := ReasonCode(b)
		switch {
		case version == V5:
			if err := checkReason(t, rc); err != nil {
				return nil, err
			}
		case rc > GrantedQoS2 && rc != V3SubackFailure:
			// 3.1.1 [MQTT-3.9.3-2]; 3.1 has no failure code, but
			// Mosquitto sends 0x80 to 3.1 clients too.
			return nil, malformed("reserved return code 0x%02x [MQTT-3.9.3-2]", b)
		}
		codes[i] = rc
	}
	d.b = nil
	return codes, nil
}

func decodeUnsubscribe(version byte, body []byte) (*Unsubscribe, error) {
	d := decoder{b: body}
	id, err := d.readPacketID()
	if err != nil {
		return nil, asMalformed(err)
	}
	u := &Unsubscribe{PacketID: id}
	if version == V5 {
		if err := decodeProps(&d, ctxUnsubscribe, &u.Properties); err != nil {
			return nil, err
		}
	}
	if len(d.b) == 0 {
		return nil, malformed("no topic filters [MQTT-3.10.3-2]")
	}
	for len(d.b) > 0 {
		filter, err := d.readStringBytes("topic filter")
		if err != nil {
			return nil, err
		}
		if len(filter) == 0 {
			return nil, malformed("empty topic filter [MQTT-4.7.3-1]")
		}
		u.Filters = append(u.Filters, string(filter))
	}
	return u, nil
}

func decodeUnsuback(version byte, body []byte) (*Unsuback, error) {
	d := decoder{b: body}
	id, err := d.readPacketID()
	if err != nil {
		return nil, err
	}
	u := &Unsuback{PacketID: id}
	if version != V5 {
		return u, d.end()
	}
	if err := decodeProps(&d, ctxUnsuback, &u.Properties); err != nil {
		return nil, err
	}
	if u.ReasonCodes, err = decodeReasonCodes(&d, version, UNSUBACK); err != nil {
		return nil, err
	}
	return u, nil
}

// decodeDisconnect: in v5 a remaining length of 0 means Normal
// disconnection and 1 a reason code without properties (section 3.14.2.2.1).
func decodeDisconnect(version byte, body []byte) (*Disconnect, error) {
	d := decoder{b: body}
	p := &Disconnect{}
	if version == V5 && len(d.b) > 0 {
		rc, _ := d.readByte("reason code")
		p.ReasonCode = ReasonCode(rc)
		if err := checkReason(DISCONNECT, p.ReasonCode); err != nil {
			return nil, err
		}
		if len(d.b) > 0 {
			if err := decodeProps(&d, ctxDisconnect, &p.Properties); err != nil {
				return nil, err
			}
		}
	}
	return p, d.end()
}

// decodeAuth: a remaining length of 0 means Success without properties;
// otherwise the reason code and the property length are both required
// (section 3.15.2.2).
func decodeAuth(version byte, body []byte) (*Auth, error) {
	if version != V5 {
		return nil, protocolError("AUTH exists only in MQTT 5")
	}
	d := decoder{b: body}
	a := &Auth{}
	if len(d.b) == 0 {
		return a, nil
	}
	rc, _ := d.readByte("reason code")
	a.ReasonCode = ReasonCode(rc)
	if err := checkReason(AUTH, a.ReasonCode); err != nil {
		return nil, err
	}
	if err := decodeProps(&d, ctxAuth, &a.Properties); err != nil {
		return nil, err
	}
	if !a.Properties.Has(PropAuthMethod) {
		return nil, protocolError("no Authentication Method") // section 3.15.2.2.2
	}
	return a, d.end()
}
