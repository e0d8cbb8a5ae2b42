package packet

import (
	"errors"
	"fmt"
	"math/bits"
)

// maxFieldLen is the largest string or binary field a two-byte length
// prefix can describe.
const maxFieldLen = 65535

// encodedProps returns the mask of the properties of p that are written in
// context c: present ones that c allows. Properties c does not allow are
// left out, so that Append never produces a packet its peer must reject.
func encodedProps(p *Properties, c propContext) uint64 {
	m := p.present &^ repeatedProps
	if len(p.User) > 0 {
		m |= bit(PropUserProperty)
	}
	if len(p.SubscriptionIDs) > 0 {
		m |= bit(PropSubscriptionID)
	}
	return m & c.allowed()
}

// hasProps reports whether any property of p is written in context c.
func hasProps(p *Properties, c propContext) bool { return encodedProps(p, c) != 0 }

// propsSize returns the length of the property list of p in context c, not
// counting the property length that precedes it, and checks that every
// value fits its wire form.
func propsSize(p *Properties, c propContext) (int, error) {
	n := 0
	for m := encodedProps(p, c); m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		size, err := propSize(p, id, c)
		if err != nil {
			return 0, fmt.Errorf("packet: %s: %w", id, err)
		}
		n += size
	}
	if n > MaxRemainingLength {
		return 0, errTooLarge
	}
	return n, nil
}

var (
	errFieldTooLong = errors.New("longer than 65535 bytes")
	errTooLarge     = errors.New("packet: encoded packet longer than the maximum remaining length")
)

func fieldSize(n int) (int, error) {
	if n > maxFieldLen {
		return 0, errFieldTooLong
	}
	return 2 + n, nil
}

// propSize returns the encoded size of property id, identifier included.
func propSize(p *Properties, id PropID, c propContext) (int, error) {
	switch id {
	case PropPayloadFormat, PropRequestProblemInfo, PropRequestResponseInfo, PropMaximumQoS,
		PropRetainAvailable, PropWildcardSubAvailable, PropSubscriptionIDAvailable, PropSharedSubAvailable:
		return 2, nil
	case PropServerKeepAlive, PropReceiveMaximum, PropTopicAliasMaximum, PropTopicAlias:
		return 3, nil
	case PropMessageExpiry, PropSessionExpiry, PropWillDelay, PropMaximumPacketSize:
		return 5, nil
	case PropSubscriptionID:
		if c != ctxPublish && len(p.SubscriptionIDs) > 1 {
			return 0, errors.New("only PUBLISH may carry more than one")
		}
		n := 0
		for _, v := range p.SubscriptionIDs {
			if v > MaxRemainingLength {
				return 0, fmt.Errorf("value %d out of range", v)
			}
			n += 1 + VarintSize(int(v))
		}
		return n, nil
	case PropUserProperty:
		n := 0
		for _, kv := range p.User {
			k, err := fieldSize(len(kv.Key))
			if err != nil {
				return 0, err
			}
			v, err := fieldSize(len(kv.Value))
			if err != nil {
				return 0, err
			}
			n += 1 + k + v
		}
		return n, nil
	}
	str, b := propText(p, id)
	n, err := fieldSize(len(str) + len(b))
	return 1 + n, err
}

// propText returns the value of a string property in s or of a binary
// property in b, without copying it.
func propText(p *Properties, id PropID) (s string, b []byte) {
	switch id {
	case PropContentType:
		return p.ContentType, nil
	case PropResponseTopic:
		return p.ResponseTopic, nil
	case PropCorrelationData:
		return "", p.CorrelationData
	case PropAssignedClientID:
		return p.AssignedClientID, nil
	case PropAuthMethod:
		return p.AuthMethod, nil
	case PropAuthData:
		return "", p.AuthData
	case PropResponseInfo:
		return p.ResponseInfo, nil
	case PropServerReference:
		return p.ServerReference, nil
	case PropReasonString:
		return p.ReasonString, nil
	}
	return "", nil
}

// appendProps appends the property length and the property list of p in
// context c; size is what propsSize returned for them.
func appendProps(dst []byte, p *Properties, c propContext, size int) []byte {
	dst = AppendVarint(dst, size)
	m := encodedProps(p, c)
	if c == ctxConnack {
		for _, id := range connackOrder {
			if m&bit(id) != 0 {
				dst = appendProp(dst, p, id)
			}
		}
		return dst
	}
	if c == ctxPublish && p.Order() != nil {
		return appendPublishProps(dst, p, m)
	}
	for ; m != 0; m &= m - 1 {
		dst = appendProp(dst, p, PropID(bits.TrailingZeros64(m)))
	}
	return dst
}

// appendPublishProps writes the properties m of a PUBLISH whose decoded
// order is known as Mosquitto forwards them: subscription identifiers
// first, then the publisher's properties in the order it sent them, then
// any the broker added, and the message expiry interval last.
func appendPublishProps(dst []byte, p *Properties, m uint64) []byte {
	if m&bit(PropSubscriptionID) != 0 {
		dst = appendProp(dst, p, PropSubscriptionID)
	}
	done := bit(PropSubscriptionID) | bit(PropMessageExpiry) | bit(PropUserProperty)
	user := 0
	for _, id := range p.Order() {
		switch {
		case id == PropUserProperty:
			if m&bit(id) != 0 && user < len(p.User) {
				dst = appendUserProp(dst, p.User[user])
				user++
			}
		case m&bit(id) != 0 && done&bit(id) == 0:
			dst = appendProp(dst, p, id)
			done |= bit(id)
		}
	}
	if m&bit(PropUserProperty) != 0 {
		for ; user < len(p.User); user++ {
			dst = appendUserProp(dst, p.User[user])
		}
	}
	for rest := m &^ done; rest != 0; rest &= rest - 1 {
		dst = appendProp(dst, p, PropID(bits.TrailingZeros64(rest)))
	}
	if m&bit(PropMessageExpiry) != 0 {
		dst = appendProp(dst, p, PropMessageExpiry)
	}
	return dst
}

func appendUserProp(dst []byte, kv UserProperty) []byte {
	dst = appendString(append(dst, byte(PropUserProperty)), kv.Key)
	return appendString(dst, kv.Value)
}

// appendProp appends property id (every value of a repeatable one).
func appendProp(dst []byte, p *Properties, id PropID) []byte {
	switch id {
	case PropPayloadFormat:
		return append(dst, byte(id), p.PayloadFormat)
	case PropRequestProblemInfo:
		return append(dst, byte(id), p.RequestProblemInfo)
	case PropRequestResponseInfo:
		return append(dst, byte(id), p.RequestResponseInfo)
	case PropMaximumQoS:
		return append(dst, byte(id), p.MaximumQoS)
	case PropRetainAvailable:
		return append(dst, byte(id), p.RetainAvailable)
	case PropWildcardSubAvailable:
		return append(dst, byte(id), p.WildcardSubAvailable)
	case PropSubscriptionIDAvailable:
		return append(dst, byte(id), p.SubIDAvailable)
	case PropSharedSubAvailable:
		return append(dst, byte(id), p.SharedSubAvailable)
	case PropServerKeepAlive:
		return appendUint16(append(dst, byte(id)), p.ServerKeepAlive)
	case PropReceiveMaximum:
		return appendUint16(append(dst, byte(id)), p.ReceiveMaximum)
	case PropTopicAliasMaximum:
		return appendUint16(append(dst, byte(id)), p.TopicAliasMaximum)
	case PropTopicAlias:
		return appendUint16(append(dst, byte(id)), p.TopicAlias)
	case PropMessageExpiry:
		return appendUint32(append(dst, byte(id)), p.MessageExpiry)
	case PropSessionExpiry:
		return appendUint32(append(dst, byte(id)), p.SessionExpiry)
	case PropWillDelay:
		return appendUint32(append(dst, byte(id)), p.WillDelay)
	case PropMaximumPacketSize:
		return appendUint32(append(dst, byte(id)), p.MaximumPacketSize)
	case PropSubscriptionID:
		for _, v := range p.SubscriptionIDs {
			dst = AppendVarint(append(dst, byte(id)), int(v))
		}
		return dst
	case PropUserProperty:
		for _, kv := range p.User {
			dst = appendUserProp(dst, kv)
		}
		return dst
	}
	str, b := propText(p, id)
	dst = appendUint16(append(dst, byte(id)), uint16(len(str)+len(b)))
	return append(append(dst, str...), b...)
}
