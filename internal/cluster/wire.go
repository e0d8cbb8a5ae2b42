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
//	format byte (1) | origin (uvarint length, bytes) |
//	shared count (uvarint) | each $share/group/filter (uvarint length, bytes) |
//	the message as an MQTT 5.0 PUBLISH packet
//
// so that every property of a 5.0 message arrives intact, through the
// codec the broker already trusts.
const wireFormat = 1

// wirePacketID stands in for the packet id a QoS 1/2 PUBLISH needs; ids
// belong to one hop and the receiving node assigns its own.
const wirePacketID = 1

func appendMessage(dst []byte, m *broker.RelayedMessage) ([]byte, error) {
	dst = append(dst, wireFormat)
	dst = appendString(dst, m.Origin)
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
	if len(b) == 0 || b[0] != wireFormat {
		return nil, fmt.Errorf("cluster message: unknown format")
	}
	m := &broker.RelayedMessage{}
	var err error
	if m.Origin, b, err = readString(b[1:]); err != nil {
		return nil, fmt.Errorf("cluster message: origin: %w", err)
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
