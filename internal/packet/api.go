package packet

import (
	"errors"
	"fmt"
)

// This file fixes the codec's error values. The entry points live next to
// their implementations: ParseHeader in header.go, Decode in decode.go,
// Append and Size in encode.go, ReadPacket in read.go.

// Error is a decoding or validation failure. Reason is the MQTT 5 reason
// code the receiver must use when it closes the connection
// (MalformedPacket, ProtocolError, PacketTooLarge, TopicNameInvalid,
// UnsupportedProtocolVersion ...).
type Error struct {
	Reason ReasonCode
	Msg    string

	// duplicate marks a repeated property, a Protocol Error wherever it
	// appears.
	duplicate bool
}

func (e *Error) Error() string { return e.Msg }

// ReasonOf returns the reason code carried by err if it is (or wraps) an
// *Error, and MalformedPacket otherwise. ReasonOf(nil) is Success.
func ReasonOf(err error) ReasonCode {
	if err == nil {
		return Success
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Reason
	}
	return MalformedPacket
}

// ErrIncomplete is returned by ParseHeader when more bytes are needed.
var ErrIncomplete = errors.New("packet: incomplete fixed header")

// The helpers below build a fresh *Error for every failure: Decode adds the
// packet type to the message, so errors are never shared.

func malformed(format string, args ...any) error {
	return &Error{Reason: MalformedPacket, Msg: fmt.Sprintf(format, args...)}
}

func protocolError(format string, args ...any) error {
	return &Error{Reason: ProtocolError, Msg: fmt.Sprintf(format, args...)}
}

func reasonError(reason ReasonCode, format string, args ...any) error {
	return &Error{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// asMalformed makes a fresh *Error a Malformed Packet.
func asMalformed(err error) error {
	if e, ok := err.(*Error); ok {
		e.Reason = MalformedPacket
	}
	return err
}

// prefixed puts context in front of the message of a fresh *Error and
// keeps its reason code. Other errors are returned unchanged.
func prefixed(prefix string, err error) error {
	if e, ok := err.(*Error); ok {
		e.Msg = prefix + ": " + e.Msg
	}
	return err
}
