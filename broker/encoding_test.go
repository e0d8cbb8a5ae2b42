package broker_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/midge-mqtt/midge/internal/packet"
)

// TestSharedEncodingsReachEverySubscriberIntact publishes messages of
// every size class while the subscribers do not read, so that their
// writers hold the shared encodings for a long time while new messages
// reuse the pools; then it checks every byte each subscriber gets. Under
// the race detector released buffers are poisoned, so an encoding given
// back too early shows up here as a wrong payload or a malformed packet.
func TestSharedEncodingsReachEverySubscriberIntact(t *testing.T) {
	opts := testOptions()
	opts.MaxQueuedMessages = 0 // queue everything: the test is about bytes, not limits
	b := startBroker(t, opts, nil)

	type subscriber struct {
		c         *rawClient
		rap       bool // retain as published
		withSubID bool
	}
	subs := []subscriber{
		{c: mustConnect(t, b.addr, packet.V311, "s311", true)},
		{c: mustConnect(t, b.addr, packet.V5, "s5", true)},
		{c: mustConnect(t, b.addr, packet.V5, "s5rap", true), rap: true},
		{c: mustConnect(t, b.addr, packet.V5, "s5id", true), withSubID: true},
		{c: mustConnect(t, b.addr, packet.V311, "s311b", true)},
	}
	for _, s := range subs {
		sub := packet.Subscription{Filter: "enc/+", QoS: 0, RetainAsPublished: s.rap}
		p := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{sub}}
		if s.withSubID {
			p.Properties.SubscriptionIDs = []uint32{7}
			p.Properties.Set(packet.PropSubscriptionID)
		}
		s.c.send(p)
		if _, ok := s.c.recv().(*packet.Suback); !ok {
			t.Fatal("expected SUBACK")
		}
	}

	const n = 600
	sizes := []int{0, 1, 200, 300, 1000, 3000, 9000, 40000, 70000}
	payload := func(i int) []byte {
		size := sizes[i%len(sizes)]
		p := bytes.Repeat([]byte{byte(i)}, size)
		copy(p, fmt.Sprintf("%d:", i))
		return p
	}
	pub := mustConnect(t, b.addr, packet.V5, "pub", true)
	for i := range n {
		pub.send(&packet.Publish{Topic: fmt.Sprintf("enc/%d", i%3), Payload: payload(i), Retain: i%4 == 0})
	}
	pub.ping() // everything is routed

	for _, s := range subs {
		for i := range n {
			p := s.c.expectPublish()
			if want := fmt.Sprintf("enc/%d", i%3); p.Topic != want {
				t.Fatalf("%s message %d: topic %q, want %q", s.c.nc.LocalAddr(), i, p.Topic, want)
			}
			if !bytes.Equal(p.Payload, payload(i)) {
				t.Fatalf("%s message %d: payload of %d bytes starting %q, want %d bytes", s.c.nc.LocalAddr(), i, len(p.Payload), p.Payload[:min(len(p.Payload), 12)], len(payload(i)))
			}
			if wantRetain := s.rap && i%4 == 0; p.Retain != wantRetain {
				t.Fatalf("message %d: retain %v, want %v", i, p.Retain, wantRetain)
			}
			if ids := p.Properties.SubscriptionIDs; s.withSubID != (len(ids) == 1 && ids[0] == 7) {
				t.Fatalf("message %d: subscription ids %v", i, ids)
			}
		}
	}
}
