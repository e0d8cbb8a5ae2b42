package client

import (
	"context"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// TestLateQoS2HandlerAfterLostSession: a handler that returns after the
// server lost the session must not complete the identifier a new message
// reuses; the new message is still delivered on its PUBREL.
func TestLateQoS2HandlerAfterLostSession(t *testing.T) {
	s := newFakeServer(t)
	release := make(chan struct{})
	got := make(chan *Message, 10)
	first := true
	_, fc := connectFake(t, s, Options{ClientID: "st", AutoReconnect: true, ReconnectDelay: time.Millisecond,
		OnMessage: func(_ *Client, m *Message) {
			got <- m
			if first {
				first = false
				<-release
			}
		}}, v5Connack(false))
	fc.send(&packet.Publish{Topic: "x", QoS: 2, PacketID: 5, Payload: []byte("old")})
	fc.readAck(packet.PUBREC, 5)
	fc.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 5})
	if m := receive(t, got); string(m.Payload) != "old" {
		t.Fatalf("got %q", m.Payload)
	}
	fc.nc.Close()
	fc = s.accept(MQTT311, v5Connack(false)) // the server lost the session
	fc.send(&packet.Publish{Topic: "x", QoS: 2, PacketID: 5, Payload: []byte("new")})
	fc.readAck(packet.PUBREC, 5)
	close(release) // the old handler returns now
	if p, err := fc.readWithin(100 * time.Millisecond); err == nil {
		t.Fatalf("the old handler's return sent %s", p.Type())
	}
	fc.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 5})
	if m := receive(t, got); string(m.Payload) != "new" {
		t.Fatalf("got %q, want the new message", m.Payload)
	}
	fc.readAck(packet.PUBCOMP, 5)
}

// TestHandlerPublishUnderQoS0Flood: a handler that publishes at QoS 1
// while more than inboxQoS0Limit QoS 0 messages wait must still get its
// PUBACK: the reader does not stop reading while an acknowledgement is
// awaited.
func TestHandlerPublishUnderQoS0Flood(t *testing.T) {
	s := newFakeServer(t)
	res := make(chan error, 1)
	first := true
	_, fc := connectFake(t, s, Options{KeepAlive: -1, OnMessage: func(c *Client, m *Message) {
		if first {
			first = false
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.Publish(ctx, &Message{Topic: "clear", QoS: 1, Retain: true})
			res <- err
		}
	}}, v5Connack(false))
	fc.send(&packet.Publish{Topic: "r/0", Retain: true})
	pub := fc.readPublish()
	for range inboxQoS0Limit + 100 {
		fc.send(&packet.Publish{Topic: "r/x", Retain: true})
	}
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID})
	if err := <-res; err != nil {
		t.Fatalf("the handler's Publish: %v", err)
	}
}
