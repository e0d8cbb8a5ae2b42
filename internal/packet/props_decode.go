package packet

// decodeProps reads a property length and the property list it covers into
// p, enforcing the rules of section 2.2.2 for context c: known identifiers
// only (an unknown one cannot be skipped, so the packet cannot be parsed),
// only properties allowed in c, no repeats of single-valued properties and
// values in range. p must be the zero value.
//
// An identifier not valid for the packet type is a Malformed Packet
// (section 2.2.2.2), a repeated one a Protocol Error. A value out of
// range is a Protocol Error where the specification says so, except in
// PUBLISH, SUBSCRIBE and UNSUBSCRIBE: there every property that cannot be
// accepted makes the packet malformed, as Mosquitto answers them.
func decodeProps(d *decoder, c propContext, p *Properties) error {
	err := decodePropList(d, c, p)
	if e, ok := err.(*Error); ok && e.Reason == ProtocolError && c.valueErrorsMalformed() && !e.duplicate {
		e.Reason = MalformedPacket
	}
	return err
}

func decodePropList(d *decoder, c propContext, p *Properties) error {
	n, err := d.readVarint("property length")
	if err != nil {
		return err
	}
	if n > len(d.b) {
		return malformed("property length %d overruns the packet", n)
	}
	pd := decoder{b: d.b[:n:n]}
	d.b = d.b[n:]
	allowed := c.allowed()
	var seen uint64
	for len(pd.b) > 0 {
		id := PropID(pd.b[0])
		pd.b = pd.b[1:]
		// Identifiers are variable byte integers, but all defined ones fit
		// in one byte; a continuation bit therefore names an unknown one.
		if id >= 64 || bit(id)&knownProps == 0 {
			return malformed("unknown property identifier 0x%02x", byte(id))
		}
		if bit(id)&allowed == 0 {
			return malformed("%s not allowed in %s", id, c)
		}
		if seen&bit(id) != 0 && id != PropUserProperty && (id != PropSubscriptionID || c != ctxPublish) {
			return &Error{Reason: ProtocolError, Msg: id.String() + " included more than once", duplicate: true}
		}
		seen |= bit(id)
		if err := decodeProp(&pd, id, p); err != nil {
			return prefixed(id.String(), err)
		}
		p.noteOrder(id)
	}
	// The method names what the data means: data without one is
	// meaningless (sections 3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3).
	if p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
		return protocolError("Authentication Data without Authentication Method")
	}
	return nil
}

// decodeProp reads the value of one property whose identifier has been
// read and checked.
func decodeProp(d *decoder, id PropID, p *Properties) error {
	var err error
	switch id {
	case PropPayloadFormat:
		// Only 0 and 1 are defined, but the specification names no error
		// for other values: like Mosquitto, pass the byte on as it came.
		p.PayloadFormat, err = d.readByte("value")
	case PropMessageExpiry:
		p.MessageExpiry, err = d.readUint32("value")
	case PropContentType:
		p.ContentType, err = d.readString("value")
	case PropResponseTopic:
		var b []byte
		if b, err = d.readStringBytes("value"); err == nil {
			if hasWildcard(b) {
				// [MQTT-3.3.2-14]
				return protocolError("contains a wildcard character")
			}
			p.ResponseTopic = string(b)
		}
	case PropCorrelationData:
		p.CorrelationData, err = d.readBinary("value")
	case PropSubscriptionID:
		var v int
		if v, err = d.readVarint("value"); err == nil {
			if v == 0 {
				return protocolError("value 0") // section 3.3.2.3.8
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
		}
		return err
	case PropSessionExpiry:
		p.SessionExpiry, err = d.readUint32("value")
	case PropAssignedClientID:
		p.AssignedClientID, err = d.readString("value")
	case PropServerKeepAlive:
		p.ServerKeepAlive, err = d.readUint16("value")
	case PropAuthMethod:
		p.AuthMethod, err = d.readString("value")
	case PropAuthData:
		p.AuthData, err = d.readBinary("value")
	case PropRequestProblemInfo:
		p.RequestProblemInfo, err = readFlagByte(d)
	case PropWillDelay:
		p.WillDelay, err = d.readUint32("value")
	case PropRequestResponseInfo:
		p.RequestResponseInfo, err = readFlagByte(d)
	case PropResponseInfo:
		p.ResponseInfo, err = d.readString("value")
	case PropServerReference:
		p.ServerReference, err = d.readString("value")
	case PropReasonString:
		p.ReasonString, err = d.readString("value")
	case PropReceiveMaximum:
		if p.ReceiveMaximum, err = d.readUint16("value"); err == nil && p.ReceiveMaximum == 0 {
			return protocolError("value 0") // section 3.1.2.11.3
		}
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum, err = d.readUint16("value")
	case PropTopicAlias:
		// Alias 0 is left to the receiver, which answers it with Topic
		// Alias invalid (section 3.3.2.3.4).
		p.TopicAlias, err = d.readUint16("value")
	case PropMaximumQoS:
		p.MaximumQoS, err = readFlagByte(d)
	case PropRetainAvailable:
		p.RetainAvailable, err = readFlagByte(d)
	case PropUserProperty:
		var kv UserProperty
		if kv.Key, err = d.readString("name"); err != nil {
			return err
		}
		if kv.Value, err = d.readString("value"); err != nil {
			return err
		}
		p.User = append(p.User, kv)
		return nil
	case PropMaximumPacketSize:
		if p.MaximumPacketSize, err = d.readUint32("value"); err == nil && p.MaximumPacketSize == 0 {
			return protocolError("value 0") // section 3.1.2.11.4
		}
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable, err = readFlagByte(d)
	case PropSubscriptionIDAvailable:
		p.SubIDAvailable, err = readFlagByte(d)
	case PropSharedSubAvailable:
		p.SharedSubAvailable, err = readFlagByte(d)
	}
	if err != nil {
		return err
	}
	p.Set(id)
	return nil
}

// readFlagByte reads a byte property whose only values are 0 and 1; any
// other value is a Protocol Error.
func readFlagByte(d *decoder) (byte, error) {
	v, err := d.readByte("value")
	if err != nil {
		return 0, err
	}
	if v > 1 {
		return 0, protocolError("value %d, want 0 or 1", v)
	}
	return v, nil
}
