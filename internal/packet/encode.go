package packet

import (
	"errors"
	"fmt"
	"slices"
)

// encoder is implemented by every packet type of this package.
type encoder interface {
	Packet
	// plan checks that the packet can be encoded for protocol level v
	// and measures it.
	plan(v byte) (plan, error)
	// flags returns the low nibble of the fixed header.
	flags(v byte) byte
	// appendBody appends everything after the fixed header.
	appendBody(dst []byte, v byte, pl plan) []byte
}

// plan holds the lengths measured before writing, so that the remaining
// length and the property lengths are written without a second buffer.
type plan struct {
	remaining int // remaining length of the fixed header
	props     int // length of the property list (v5)
	willProps int // length of the will property list (v5 CONNECT)
}

var errNilPacket = errors.New("packet: nil packet")

// Append appends the wire form of p for the given protocol level to dst and
// returns the extended slice. For 3.x it omits what 3.x cannot carry
// (properties, reason codes other than the CONNACK/SUBACK codes). For v5
// acks it omits a Success reason code and empty properties as Mosquitto does.
//
// Append grows dst at most once and allocates nothing when dst has room.
// Only properties the packet type allows are written (present ones, see
// Properties.Has); CONNACK properties are written in Mosquitto's order, all
// others in ascending identifier order. A CONNECT is encoded for its own
// ProtocolVersion (version may be 0 or must agree), with the protocol name
// that level requires. DUP and the packet identifier are not sent at QoS 0.
// Append fails, leaving dst as it was, on what the wire form cannot carry:
// an unknown protocol level, QoS or Retain Handling above 2, a string or
// binary field longer than 65535 bytes, a packet longer than
// MaxRemainingLength, an AUTH for 3.x, a 3.x CONNACK code above 5.
func Append(dst []byte, p Packet, version byte) ([]byte, error) {
	e, pl, err := prepare(p, version)
	if err != nil {
		return dst, err
	}
	return appendFramed(dst, e, version, pl)
}

// AppendPublish is Append for a PUBLISH. Taking the concrete type, it
// lets the caller's Publish stay on its stack: the broker builds one per
// delivery, and through the Packet interface each would be a heap
// allocation.
func AppendPublish(dst []byte, p *Publish, version byte) ([]byte, error) {
	pl, err := p.planFor(version)
	if err != nil {
		return dst, err
	}
	dst, start, total := startFrame(dst, byte(PUBLISH)<<4|p.flags(version), pl)
	dst = p.appendBody(dst, version, pl)
	return checkFramed(dst, start, total, PUBLISH)
}

// AppendAck is Append for a PUBACK, PUBREC, PUBREL or PUBCOMP; like
// AppendPublish, it lets the caller's Ack stay on its stack.
func AppendAck(dst []byte, a *Ack, version byte) ([]byte, error) {
	if !validVersion(version) {
		return dst, fmt.Errorf("packet: unknown protocol level %d", version)
	}
	pl, err := a.plan(version)
	if err != nil {
		return dst, err
	}
	dst, start, total := startFrame(dst, byte(a.Kind)<<4|a.flags(version), pl)
	dst = a.appendBody(dst, version, pl)
	return checkFramed(dst, start, total, a.Kind)
}

// PublishSize is Size for a PUBLISH, with Append's error when the packet
// cannot be encoded.
func PublishSize(p *Publish, version byte) (int, error) {
	pl, err := p.planFor(version)
	if err != nil {
		return 0, err
	}
	return frameSize(pl), nil
}

// planFor is prepare for a PUBLISH, without the interface.
func (p *Publish) planFor(version byte) (plan, error) {
	if !validVersion(version) {
		return plan{}, fmt.Errorf("packet: unknown protocol level %d", version)
	}
	pl, err := p.plan(version)
	if err == nil && pl.remaining > MaxRemainingLength {
		err = errTooLarge
	}
	return pl, err
}

func appendFramed(dst []byte, e encoder, version byte, pl plan) ([]byte, error) {
	dst, start, total := startFrame(dst, byte(e.Type())<<4|e.flags(version), pl)
	dst = e.appendBody(dst, version, pl)
	return checkFramed(dst, start, total, e.Type())
}

// startFrame grows dst by the whole packet planned in pl and appends its
// fixed header; it returns where the packet starts and its total size.
func startFrame(dst []byte, first byte, pl plan) ([]byte, int, int) {
	total := frameSize(pl)
	dst = slices.Grow(dst, total)
	start := len(dst)
	dst = append(dst, first)
	return AppendVarint(dst, pl.remaining), start, total
}

// frameSize is the full size of a packet whose plan is pl.
func frameSize(pl plan) int { return 1 + VarintSize(pl.remaining) + pl.remaining }

// checkFramed refuses a packet whose encoding is not the length its plan
// measured. Only a bug in a plan method can get there; a packet whose
// framing is wrong must not be sent.
func checkFramed(dst []byte, start, total int, t Type) ([]byte, error) {
	if n := len(dst) - start; n != total {
		return dst[:start], fmt.Errorf("packet: internal error: %s encoded as %d bytes, measured %d", t, n, total)
	}
	return dst, nil
}

// Size returns the full encoded size of p (fixed header included) for the
// given protocol level, or 0 if Append would fail.
func Size(p Packet, version byte) int {
	_, pl, err := prepare(p, version)
	if err != nil {
		return 0
	}
	return frameSize(pl)
}

func prepare(p Packet, version byte) (encoder, plan, error) {
	e, ok := p.(encoder)
	if !ok {
		if p == nil {
			return nil, plan{}, errNilPacket
		}
		return nil, plan{}, fmt.Errorf("packet: cannot encode %T", p)
	}
	if _, isConnect := p.(*Connect); !isConnect && !validVersion(version) {
		return nil, plan{}, fmt.Errorf("packet: unknown protocol level %d", version)
	}
	pl, err := e.plan(version)
	if err != nil {
		return nil, plan{}, err
	}
	if pl.remaining > MaxRemainingLength {
		return nil, plan{}, errTooLarge
	}
	return e, pl, nil
}

func validVersion(v byte) bool { return v == V31 || v == V311 || v == V5 }

func appendUint16(dst []byte, v uint16) []byte {
	return append(dst, byte(v>>8), byte(v))
}

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendString appends a length-prefixed string measured by fieldSize.
func appendString(dst []byte, s string) []byte {
	return append(appendUint16(dst, uint16(len(s))), s...)
}

// appendBinary appends length-prefixed binary data measured by fieldSize.
func appendBinary(dst []byte, b []byte) []byte {
	return append(appendUint16(dst, uint16(len(b))), b...)
}

// addField adds the size of a length-prefixed field of length l to *n.
func addField(n *int, l int, name string) error {
	size, err := fieldSize(l)
	if err != nil {
		return fmt.Errorf("packet: %s: %w", name, err)
	}
	*n += size
	return nil
}

// addProps measures the property list of p in context c and adds it,
// with its length prefix, to *n.
func addProps(n *int, p *Properties, c propContext) (int, error) {
	size, err := propsSize(p, c)
	if err != nil {
		return 0, err
	}
	*n += VarintSize(size) + size
	return size, nil
}
