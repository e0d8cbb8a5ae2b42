package broker

import (
	"fmt"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// Message is an application message that the embedding program publishes
// through the broker, as if a client had sent it.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Expiry, when positive, is the v5 Message Expiry Interval.
	Expiry time.Duration
}

// Publish routes m to every matching subscription (and the retained
// store when m.Retain is set). It is how the broker's own log lines reach
// $SYS/broker/log/... and how programs embedding the broker inject
// messages. It returns the number of matching subscriptions.
func (s *Server) Publish(m Message) (int, error) {
	if err := topic.ValidateName(m.Topic); err != nil {
		return 0, fmt.Errorf("publish to %q: %w", m.Topic, err)
	}
	if m.QoS > 2 {
		return 0, fmt.Errorf("publish to %q: QoS %d out of range", m.Topic, m.QoS)
	}
	now := time.Now()
	p := &packet.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
	if m.Expiry > 0 {
		p.Properties.MessageExpiry = uint32((m.Expiry + time.Second - 1) / time.Second)
		p.Properties.Set(packet.PropMessageExpiry)
	}
	return s.publish(newMessage(p, "", now), nil)
}
