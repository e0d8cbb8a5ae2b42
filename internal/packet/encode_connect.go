package packet

import (
	"errors"
	"fmt"
)

// Protocol names carried in CONNECT.
const (
	nameMQTT   = "MQTT"
	nameMQIsdp = "MQIsdp"
)

func protocolName(level byte) string {
	if level == V31 {
		return nameMQIsdp
	}
	return nameMQTT
}

// CONNECT flag bits (MQTT 5.0 section 3.1.2.3).
const (
	flagCleanStart = 0x02
	flagWill       = 0x04
	flagWillRetain = 0x20
	flagPassword   = 0x40
	flagUsername   = 0x80
	flagReserved   = 0x01
)

// level returns the protocol level c is encoded for: its own, which the
// connection's level, when given, must match.
func (c *Connect) level(version byte) (byte, error) {
	level := c.ProtocolVersion
	if level == 0 {
		level = version
	}
	if !validVersion(level) {
		return 0, fmt.Errorf("packet: CONNECT: unknown protocol level %d", level)
	}
	if version != 0 && version != level {
		return 0, fmt.Errorf("packet: CONNECT of level %d encoded for level %d", level, version)
	}
	return level, nil
}

func (c *Connect) flags(byte) byte { return 0 }

func (c *Connect) plan(version byte) (plan, error) {
	if c == nil {
		return plan{}, errNilPacket
	}
	level, err := c.level(version)
	if err != nil {
		return plan{}, err
	}
	var pl plan
	n := 2 + len(protocolName(level)) + 1 + 1 + 2 // name, level, flags, keep alive
	if level == V5 {
		if pl.props, err = addProps(&n, &c.Properties, ctxConnect); err != nil {
			return plan{}, err
		}
	}
	if err := addField(&n, len(c.ClientID), "client identifier"); err != nil {
		return plan{}, err
	}
	if w := c.Will; w != nil {
		if w.QoS > 2 {
			return plan{}, fmt.Errorf("packet: will QoS %d", w.QoS)
		}
		if level == V5 {
			if pl.willProps, err = addProps(&n, &w.Properties, ctxWill); err != nil {
				return plan{}, err
			}
		}
		if err := addField(&n, len(w.Topic), "will topic"); err != nil {
			return plan{}, err
		}
		if err := addField(&n, len(w.Payload), "will payload"); err != nil {
			return plan{}, err
		}
	}
	if c.UsernameFlag {
		if err := addField(&n, len(c.Username), "username"); err != nil {
			return plan{}, err
		}
	}
	if c.PasswordFlag {
		if level == V311 && !c.UsernameFlag {
			return plan{}, errors.New("packet: password without username in MQTT 3.1.1 [MQTT-3.1.2-22]")
		}
		if err := addField(&n, len(c.Password), "password"); err != nil {
			return plan{}, err
		}
	}
	pl.remaining = n
	return pl, nil
}

func (c *Connect) appendBody(dst []byte, version byte, pl plan) []byte {
	level, _ := c.level(version)
	dst = appendString(dst, protocolName(level))
	lb := level
	if c.Bridge {
		lb |= 0x80
	}
	var flags byte
	if c.CleanStart {
		flags |= flagCleanStart
	}
	if w := c.Will; w != nil {
		flags |= flagWill | w.QoS<<3
		if w.Retain {
			flags |= flagWillRetain
		}
	}
	if c.UsernameFlag {
		flags |= flagUsername
	}
	if c.PasswordFlag {
		flags |= flagPassword
	}
	dst = append(dst, lb, flags)
	dst = appendUint16(dst, c.KeepAlive)
	if level == V5 {
		dst = appendProps(dst, &c.Properties, ctxConnect, pl.props)
	}
	dst = appendString(dst, c.ClientID)
	if w := c.Will; w != nil {
		if level == V5 {
			dst = appendProps(dst, &w.Properties, ctxWill, pl.willProps)
		}
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if c.UsernameFlag {
		dst = appendString(dst, c.Username)
	}
	if c.PasswordFlag {
		dst = appendBinary(dst, c.Password)
	}
	return dst
}

func (c *Connack) flags(byte) byte { return 0 }

func (c *Connack) plan(version byte) (plan, error) {
	if c == nil {
		return plan{}, errNilPacket
	}
	if version != V5 {
		if c.ReasonCode > V3NotAuthorized {
			return plan{}, fmt.Errorf("packet: CONNACK return code %d does not exist in MQTT 3.x", c.ReasonCode)
		}
		return plan{remaining: 2}, nil
	}
	n := 2
	size, err := addProps(&n, &c.Properties, ctxConnack)
	return plan{remaining: n, props: size}, err
}

func (c *Connack) appendBody(dst []byte, version byte, pl plan) []byte {
	var ack byte
	// MQTT 3.1 has no session present flag: the byte is reserved.
	if c.SessionPresent && version != V31 {
		ack = 1
	}
	dst = append(dst, ack, byte(c.ReasonCode))
	if version == V5 {
		dst = appendProps(dst, &c.Properties, ctxConnack, pl.props)
	}
	return dst
}
