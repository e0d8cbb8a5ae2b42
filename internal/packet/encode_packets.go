package packet

import (
	"errors"
	"fmt"
)

func (p *Publish) flags(byte) byte {
	f := p.QoS << 1
	if p.Dup && p.QoS > 0 {
		f |= 0x08
	}
	if p.Retain {
		f |= 0x01
	}
	return f
}

func (p *Publish) plan(version byte) (plan, error) {
	if p == nil {
		return plan{}, errNilPacket
	}
	if p.QoS > 2 {
		return plan{}, fmt.Errorf("packet: PUBLISH QoS %d", p.QoS)
	}
	var pl plan
	n := len(p.Payload)
	if err := addField(&n, len(p.Topic), "topic name"); err != nil {
		return plan{}, err
	}
	if p.QoS > 0 {
		n += 2
	}
	if version == V5 {
		var err error
		if pl.props, err = addProps(&n, &p.Properties, ctxPublish); err != nil {
			return plan{}, err
		}
	}
	pl.remaining = n
	return pl, nil
}

func (p *Publish) appendBody(dst []byte, version byte, pl plan) []byte {
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if version == V5 {
		dst = appendProps(dst, &p.Properties, ctxPublish, pl.props)
	}
	return append(dst, p.Payload...)
}

func (a *Ack) flags(byte) byte { return requiredFlags(a.Kind) }

func (a *Ack) plan(version byte) (plan, error) {
	if a == nil {
		return plan{}, errNilPacket
	}
	if a.Kind < PUBACK || a.Kind > PUBCOMP {
		return plan{}, fmt.Errorf("packet: Ack of kind %s", a.Kind)
	}
	n := 2
	if version != V5 {
		return plan{remaining: n}, nil
	}
	// Mosquitto's short forms: no reason code for Success without
	// properties, no property length without properties.
	if !hasProps(&a.Properties, ctxAck) {
		if a.ReasonCode != Success {
			n++
		}
		return plan{remaining: n}, nil
	}
	n++
	size, err := addProps(&n, &a.Properties, ctxAck)
	return plan{remaining: n, props: size}, err
}

func (a *Ack) appendBody(dst []byte, _ byte, pl plan) []byte {
	dst = appendUint16(dst, a.PacketID)
	if pl.remaining > 2 {
		dst = append(dst, byte(a.ReasonCode))
	}
	if pl.remaining > 3 {
		dst = appendProps(dst, &a.Properties, ctxAck, pl.props)
	}
	return dst
}

func (s *Subscribe) flags(byte) byte { return requiredFlags(SUBSCRIBE) }

func (s *Subscribe) plan(version byte) (plan, error) {
	if s == nil {
		return plan{}, errNilPacket
	}
	if len(s.Subscriptions) == 0 {
		return plan{}, errors.New("packet: SUBSCRIBE without subscriptions")
	}
	var pl plan
	n := 2
	if version == V5 {
		var err error
		if pl.props, err = addProps(&n, &s.Properties, ctxSubscribe); err != nil {
			return plan{}, err
		}
	}
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		if sub.QoS > 2 || sub.RetainHandling > 2 {
			return plan{}, fmt.Errorf("packet: subscription QoS %d, retain handling %d", sub.QoS, sub.RetainHandling)
		}
		if err := addField(&n, len(sub.Filter), "topic filter"); err != nil {
			return plan{}, err
		}
		n++
	}
	pl.remaining = n
	return pl, nil
}

func (s *Subscribe) appendBody(dst []byte, version byte, pl plan) []byte {
	dst = appendUint16(dst, s.PacketID)
	if version == V5 {
		dst = appendProps(dst, &s.Properties, ctxSubscribe, pl.props)
	}
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		opts := sub.QoS
		if version == V5 {
			if sub.NoLocal {
				opts |= 0x04
			}
			if sub.RetainAsPublished {
				opts |= 0x08
			}
			opts |= sub.RetainHandling << 4
		}
		dst = appendString(dst, sub.Filter)
		dst = append(dst, opts)
	}
	return dst
}

func (s *Suback) flags(byte) byte { return 0 }

func (s *Suback) plan(version byte) (plan, error) {
	if s == nil {
		return plan{}, errNilPacket
	}
	n := 2 + len(s.ReasonCodes)
	if version != V5 {
		for _, rc := range s.ReasonCodes {
			if rc > GrantedQoS2 && rc < V3SubackFailure {
				return plan{}, fmt.Errorf("packet: SUBACK code 0x%02x does not exist in MQTT 3.x", byte(rc))
			}
		}
		return plan{remaining: n}, nil
	}
	size, err := addProps(&n, &s.Properties, ctxSuback)
	return plan{remaining: n, props: size}, err
}

func (s *Suback) appendBody(dst []byte, version byte, pl plan) []byte {
	dst = appendUint16(dst, s.PacketID)
	if version == V5 {
		dst = appendProps(dst, &s.Properties, ctxSuback, pl.props)
		for _, rc := range s.ReasonCodes {
			dst = append(dst, byte(rc))
		}
		return dst
	}
	for _, rc := range s.ReasonCodes {
		// 3.x has a single failure code; v5 failure reasons map onto it.
		dst = append(dst, byte(min(rc, V3SubackFailure)))
	}
	return dst
}

func (u *Unsubscribe) flags(byte) byte { return requiredFlags(UNSUBSCRIBE) }

func (u *Unsubscribe) plan(version byte) (plan, error) {
	if u == nil {
		return plan{}, errNilPacket
	}
	if len(u.Filters) == 0 {
		return plan{}, errors.New("packet: UNSUBSCRIBE without topic filters")
	}
	var pl plan
	n := 2
	if version == V5 {
		var err error
		if pl.props, err = addProps(&n, &u.Properties, ctxUnsubscribe); err != nil {
			return plan{}, err
		}
	}
	for _, f := range u.Filters {
		if err := addField(&n, len(f), "topic filter"); err != nil {
			return plan{}, err
		}
	}
	pl.remaining = n
	return pl, nil
}

func (u *Unsubscribe) appendBody(dst []byte, version byte, pl plan) []byte {
	dst = appendUint16(dst, u.PacketID)
	if version == V5 {
		dst = appendProps(dst, &u.Properties, ctxUnsubscribe, pl.props)
	}
	for _, f := range u.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

func (u *Unsuback) flags(byte) byte { return 0 }

func (u *Unsuback) plan(version byte) (plan, error) {
	if u == nil {
		return plan{}, errNilPacket
	}
	if version != V5 {
		return plan{remaining: 2}, nil
	}
	n := 2 + len(u.ReasonCodes)
	size, err := addProps(&n, &u.Properties, ctxUnsuback)
	return plan{remaining: n, props: size}, err
}

func (u *Unsuback) appendBody(dst []byte, version byte, pl plan) []byte {
	dst = appendUint16(dst, u.PacketID)
	if version == V5 {
		dst = appendProps(dst, &u.Properties, ctxUnsuback, pl.props)
		for _, rc := range u.ReasonCodes {
			dst = append(dst, byte(rc))
		}
	}
	return dst
}

func (*Pingreq) flags(byte) byte                               { return 0 }
func (*Pingreq) plan(byte) (plan, error)                       { return plan{}, nil }
func (*Pingreq) appendBody(dst []byte, _ byte, _ plan) []byte  { return dst }
func (*Pingresp) flags(byte) byte                              { return 0 }
func (*Pingresp) plan(byte) (plan, error)                      { return plan{}, nil }
func (*Pingresp) appendBody(dst []byte, _ byte, _ plan) []byte { return dst }

func (d *Disconnect) flags(byte) byte { return 0 }

func (d *Disconnect) plan(version byte) (plan, error) {
	if d == nil {
		return plan{}, errNilPacket
	}
	if version != V5 {
		return plan{}, nil
	}
	return reasonAndProps(d.ReasonCode, &d.Properties, ctxDisconnect, true)
}

func (d *Disconnect) appendBody(dst []byte, _ byte, pl plan) []byte {
	return appendReasonAndProps(dst, d.ReasonCode, &d.Properties, ctxDisconnect, pl)
}

func (a *Auth) flags(byte) byte { return 0 }

func (a *Auth) plan(version byte) (plan, error) {
	if a == nil {
		return plan{}, errNilPacket
	}
	if version != V5 {
		return plan{}, errors.New("packet: AUTH exists only in MQTT 5")
	}
	// AUTH has no form with a reason code but no property length
	// (section 3.15.2.2).
	return reasonAndProps(a.ReasonCode, &a.Properties, ctxAuth, false)
}

func (a *Auth) appendBody(dst []byte, _ byte, pl plan) []byte {
	return appendReasonAndProps(dst, a.ReasonCode, &a.Properties, ctxAuth, pl)
}

// reasonAndProps measures the body of a v5 DISCONNECT or AUTH: empty for
// Success without properties, a lone reason code when short is allowed
// and there are no properties, else the reason code and the properties.
func reasonAndProps(rc ReasonCode, p *Properties, c propContext, short bool) (plan, error) {
	if !hasProps(p, c) {
		if rc == Success {
			return plan{}, nil
		}
		if short {
			return plan{remaining: 1}, nil
		}
	}
	n := 1
	size, err := addProps(&n, p, c)
	return plan{remaining: n, props: size}, err
}

func appendReasonAndProps(dst []byte, rc ReasonCode, p *Properties, c propContext, pl plan) []byte {
	if pl.remaining == 0 {
		return dst
	}
	dst = append(dst, byte(rc))
	if pl.remaining > 1 {
		dst = appendProps(dst, p, c, pl.props)
	}
	return dst
}
