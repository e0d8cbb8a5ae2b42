package broker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/store"
)

// Persistence, so far: retained messages. With Options.Store set, a
// retained message (or the empty message that clears one) is durable
// before the broker acknowledges it, and Restore loads the retained
// messages at start-up. Sessions, subscriptions and queued messages are
// not persisted yet.

// keepRetained makes a retained message, or its removal, durable. $SYS
// topics are the broker's own and are published again after a restart.
func (s *Server) keepRetained(m *message) error {
	st := s.opts.Store
	if st == nil || !m.retain || strings.HasPrefix(m.topic, "$SYS") {
		return nil
	}
	op := store.DeleteRetained(m.topic)
	if len(m.payload) > 0 {
		op = store.PutRetained(toStored(m))
	}
	if err := st.Apply(s.ctx, op); err != nil {
		return fmt.Errorf("storing the retained message of %q: %w", m.topic, err)
	}
	return nil
}

// Restore loads what the store holds: call it once, before Serve.
// Retained messages whose expiry passed while the broker was down are
// dropped.
func (s *Server) Restore() error {
	st := s.opts.Store
	if st == nil {
		return nil
	}
	now := time.Now()
	var expired []string
	err := st.Load(store.Visitor{Retained: func(sm store.Message) error {
		m := fromStored(&sm)
		if m.expired(now) {
			expired = append(expired, m.topic)
			return nil
		}
		s.retained.Set(m.topic, m)
		return nil
	}})
	if err != nil {
		return fmt.Errorf("loading the store: %w", err)
	}
	for _, t := range expired {
		if err := st.Apply(context.Background(), store.DeleteRetained(t)); err != nil {
			return fmt.Errorf("removing an expired retained message: %w", err)
		}
	}
	return nil
}

// toStored converts a message to its stored form.
func toStored(m *message) *store.Message {
	sm := &store.Message{
		Topic:   m.topic,
		Payload: m.payload,
		QoS:     m.qos,
		Retain:  m.retain,
		Expiry:  m.expiry,
		Origin:  m.origin,
	}
	p := &m.props
	if p.Has(packet.PropPayloadFormat) {
		sm.HasPayloadFormat, sm.PayloadFormat = true, p.PayloadFormat
	}
	if p.Has(packet.PropContentType) {
		sm.ContentType = p.ContentType
	}
	if p.Has(packet.PropResponseTopic) {
		sm.ResponseTopic = p.ResponseTopic
	}
	if p.Has(packet.PropCorrelationData) {
		sm.CorrelationData = p.CorrelationData
	}
	sm.User = p.User
	return sm
}

// fromStored rebuilds a message from its stored form.
func fromStored(sm *store.Message) *message {
	m := &message{
		topic:   sm.Topic,
		payload: sm.Payload,
		qos:     sm.QoS,
		retain:  sm.Retain,
		expiry:  sm.Expiry,
		origin:  sm.Origin,
	}
	p := &m.props
	if sm.HasPayloadFormat {
		p.PayloadFormat = sm.PayloadFormat
		p.Set(packet.PropPayloadFormat)
	}
	if sm.ContentType != "" {
		p.ContentType = sm.ContentType
		p.Set(packet.PropContentType)
	}
	if sm.ResponseTopic != "" {
		p.ResponseTopic = sm.ResponseTopic
		p.Set(packet.PropResponseTopic)
	}
	if sm.CorrelationData != nil {
		p.CorrelationData = sm.CorrelationData
		p.Set(packet.PropCorrelationData)
	}
	p.User = sm.User
	return m
}
