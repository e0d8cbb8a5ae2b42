package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

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

// A retained message, or a will, names its publisher's listener, for
// check_retain_source and the ACLs of per_listener_settings. Listener
// names hold their address and port, which the nodes of a cluster need
// not share (nodes on one host cannot): between nodes a listener is named
// by its place in the configuration file, "#N" for the Nth listener,
// which is the same listener on every node given the same file. A name
// the configuration does not list (Config.Listeners unset) crosses as it
// is.

// wireListener is how listener name crosses to other nodes.
func (n *Node) wireListener(name string) string {
	for i, l := range n.cfg.Listeners {
		if l == name {
			return "#" + strconv.Itoa(i+1)
		}
	}
	return name
}

// localListener is the name here of the listener another node named wire.
func (n *Node) localListener(wire string) string {
	if s, ok := strings.CutPrefix(wire, "#"); ok {
		if i, err := strconv.Atoi(s); err == nil && i >= 1 && i <= len(n.cfg.Listeners) {
			return n.cfg.Listeners[i-1]
		}
	}
	return wire
}

// encode is appendMessage with the publisher's listener named for the
// other nodes.
func (n *Node) encode(dst []byte, m *broker.RelayedMessage) ([]byte, error) {
	if src := m.Source; src != nil && src.Listener != "" {
		c, s := *m, *src
		s.Listener = n.wireListener(s.Listener)
		c.Source = &s
		m = &c
	}
	return appendMessage(dst, m)
}

// decode is decodeMessage with the publisher's listener named as here.
func (n *Node) decode(b []byte) (*broker.RelayedMessage, error) {
	m, err := decodeMessage(b)
	if err == nil && m.Source != nil {
		m.Source.Listener = n.localListener(m.Source.Listener)
	}
	return m, err
}
