package broker_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// publishPipelined sends n QoS 1 messages to topic without waiting, then
// reads their n PUBACKs.
func publishPipelined(t *testing.T, pub *rawClient, topic string, n int) {
	t.Helper()
	for i := range n {
		pub.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "%d", i)})
	}
	for i := range n {
		pub.expectAck(packet.PUBACK, uint16(i+1))
	}
}

// pacingBroker is a broker whose queues hold 40 messages: a publisher
// waits for a subscriber with more than 20 queued.
func pacingBroker(t *testing.T) *testBroker {
	opts := testOptions()
	opts.MaxQueuedMessages = 40
	return startBroker(t, opts, nil)
}

// TestPacingLosesNothingToASlowSubscriber: a publisher far faster than a
// subscriber that keeps acknowledging is held back instead of having its
// messages dropped at max_queued_messages.
func TestPacingLosesNothingToASlowSubscriber(t *testing.T) {
	b := pacingBroker(t)
	sub := mustConnect(t, b.addr, packet.V311, "slow", true)
	sub.subscribe(1, packet.Subscription{Filter: "paced", QoS: 1})
	pub := mustConnect(t, b.addr, packet.V311, "fast", true)

	const n = 400
	var wg sync.WaitGroup
	wg.Go(func() { publishPipelined(t, pub, "paced", n) })
	for i := range n {
		m := sub.expectPublish()
		if string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, m.Payload)
		}
		time.Sleep(time.Millisecond) // a subscriber slower than its publisher
		sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	}
	wg.Wait()
	st := b.Stats()
	if st.Dropped != 0 || st.PublisherWaits == 0 || st.StalledSubscribers != 0 {
		t.Fatalf("dropped %d, publisher waits %d, stalled %d; want 0, some, 0", st.Dropped, st.PublisherWaits, st.StalledSubscribers)
	}
}

// TestPacingIgnoresAStalledSubscriber: a subscriber that acknowledges
// nothing holds the publisher back once, for at most the wait, and after
// that gets Mosquitto's behaviour (drops at the limit) while the others
// get everything. Once it acknowledges again it counts again.
func TestPacingIgnoresAStalledSubscriber(t *testing.T) {
	b := pacingBroker(t)
	stuck := mustConnect(t, b.addr, packet.V311, "stuck", true)
	stuck.subscribe(1, packet.Subscription{Filter: "paced", QoS: 1})
	fine := mustConnect(t, b.addr, packet.V311, "fine", true)
	fine.subscribe(1, packet.Subscription{Filter: "paced", QoS: 1})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)

	const n = 300
	var wg sync.WaitGroup
	wg.Go(func() { publishPipelined(t, pub, "paced", n) })
	for range n {
		m := fine.expectPublish()
		fine.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	}
	wg.Wait()
	fine.ping()
	// 20 in flight and 40 queued for the stuck subscriber; the rest
	// dropped. The publisher may also have waited for the fine one.
	st := b.Stats()
	if st.PublisherWaits < 1 || st.StalledSubscribers < 1 || st.Dropped != n-20-40 {
		t.Fatalf("publisher waits %d, stalled %d, dropped %d; want some, 1, %d", st.PublisherWaits, st.StalledSubscribers, st.Dropped, n-20-40)
	}

	// The stuck subscriber acknowledges its window: it is live again, and
	// the next publish that finds its queue over half full waits for it.
	for range 20 {
		m := stuck.expectPublish()
		stuck.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	}
	stuck.ping()
	// Its queue is down to 20 of 40; one more message makes it over half
	// full, and the publisher waits for it, in vain: stalled again.
	before := b.Stats()
	pub.publish("paced", "again", 1, false, 1)
	m := fine.expectPublish()
	fine.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	// The PUBACK came before the wait; the publisher's next packet is
	// read after it.
	pub.ping()
	after := b.Stats()
	if after.PublisherWaits != before.PublisherWaits+1 || after.StalledSubscribers != before.StalledSubscribers+1 {
		t.Fatalf("after the subscriber came back: waits %d -> %d, stalled %d -> %d; want one more of each",
			before.PublisherWaits, after.PublisherWaits, before.StalledSubscribers, after.StalledSubscribers)
	}
}

// TestPacingNeverWaitsForItself: a client whose own subscription is
// congested is not held back (its acknowledgements come in on the reader
// that would wait).
func TestPacingNeverWaitsForItself(t *testing.T) {
	b := pacingBroker(t)
	c := mustConnect(t, b.addr, packet.V311, "self", true)
	c.subscribe(1, packet.Subscription{Filter: "self", QoS: 1})
	const n = 200
	for i := range n {
		c.send(&packet.Publish{Topic: "self", QoS: 1, PacketID: uint16(1000 + i), Payload: []byte("x")})
	}
	c.ping()
	if st := b.Stats(); st.PublisherWaits != 0 {
		t.Fatalf("the client waited %d times for its own session", st.PublisherWaits)
	}
}
