package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// A message crosses between nodes as
//
//	format byte (2) | origin (uvarint length, bytes) |
//	source flags byte (1: source known, 2: with a username) |
//	if known: username, listener name (uvarint length, bytes each) |
//	shared count (uvarint) | each $share/group/filter (uvarint length, bytes) |
//	the message as an MQTT 5.0 PUBLISH packet
//
// so that every property of a 5.0 message arrives intact, through the
// codec the broker already trusts. Format 1, without the source, is
// still read.
const wireFormat = 2

const (
	sourceKnown    = 1
	sourceUsername = 2
)

// wirePacketID stands in for the packet id a QoS 1/2 PUBLISH needs; ids
// belong to one hop and the receiving node assigns its own.
const wirePacketID = 1

func appendMessage(dst []byte, m *broker.RelayedMessage) ([]byte, error) {
	dst = append(dst, wireFormat)
	dst = appendString(dst, m.Origin)
	if src := m.Source; src != nil {
		flags := byte(sourceKnown)
		if src.HasUsername {
			flags |= sourceUsername
		}
		dst = append(dst, flags)
		dst = appendString(dst, src.Username)
		dst = appendString(dst, src.Listener)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.Shared)))
	for _, g := range m.Shared {
		dst = appendString(dst, g)
	}
	p := &packet.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Properties: m.Properties}
	if m.QoS > 0 {
		p.PacketID = wirePacketID
	}
	return packet.AppendPublish(dst, p, packet.V5)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errShort = errors.New("truncated")

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, errShort
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

// decodeMessage is appendMessage's inverse. The payload aliases b.
func decodeMessage(b []byte) (*broker.RelayedMessage, error) {
	if len(b) == 0 || b[0] != 1 && b[0] != wireFormat {
		return nil, fmt.Errorf("cluster message: unknown format")
	}
	format := b[0]
	m := &broker.RelayedMessage{}
	var err error
	if m.Origin, b, err = readString(b[1:]); err != nil {
		return nil, fmt.Errorf("cluster message: origin: %w", err)
	}
	if format >= 2 {
		if len(b) == 0 {
			return nil, fmt.Errorf("cluster message: source: %w", errShort)
		}
		flags := b[0]
		b = b[1:]
		if flags&sourceKnown != 0 {
			src := &broker.MessageSource{HasUsername: flags&sourceUsername != 0}
			if src.Username, b, err = readString(b); err == nil {
				src.Listener, b, err = readString(b)
			}
			if err != nil {
				return nil, fmt.Errorf("cluster message: source: %w", err)
			}
			m.Source = src
		}
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("cluster message: shared groups: %w", errShort)
	}
	b = b[k:]
	for range n {
		var g string
		if g, b, err = readString(b); err != nil {
			return nil, fmt.Errorf("cluster message: shared group: %w", err)
		}
		m.Shared = append(m.Shared, g)
	}
	first, remaining, hl, err := packet.ParseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("cluster message: %w", err)
	}
	if hl+remaining != len(b) {
		return nil, fmt.Errorf("cluster message: PUBLISH of %d bytes in %d", hl+remaining, len(b))
	}
	var p packet.Publish
	if err := packet.DecodePublish(packet.V5, first, b[hl:], &p, ""); err != nil {
		return nil, fmt.Errorf("cluster message: %w", err)
	}
	m.Topic, m.Payload, m.QoS, m.Retain, m.Properties = p.Topic, p.Payload, p.QoS, p.Retain, p.Properties
	return m, nil
}
