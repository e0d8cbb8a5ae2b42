// Package sysfig publishes figures under $SYS as the broker publishes its
// own: retained, and only when they change.
package sysfig

import "github.com/midge-mqtt/midge/broker"

// Publisher remembers what it published last.
type Publisher struct {
	srv  *broker.Server
	last map[string]string
}

// New returns a Publisher that publishes through srv.
func New(srv *broker.Server) *Publisher {
	return &Publisher{srv: srv, last: make(map[string]string)}
}

// Publish publishes each topic of now whose value changed, retained at
// QoS 2, and clears (an empty retained message) the topics published
// before that now lacks.
func (p *Publisher) Publish(now map[string]string) {
	for topic, v := range now {
		if old, ok := p.last[topic]; !ok || old != v {
			p.last[topic] = v
			_, _ = p.srv.Publish(broker.Message{Topic: topic, Payload: []byte(v), QoS: 2, Retain: true})
		}
	}
	for topic := range p.last {
		if _, ok := now[topic]; !ok {
			delete(p.last, topic)
			_, _ = p.srv.Publish(broker.Message{Topic: topic, QoS: 2, Retain: true})
		}
	}
}
