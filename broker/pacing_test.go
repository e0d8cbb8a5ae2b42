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

// qos1Subscriber connects a 3.1.1 client subscribed to filter at QoS 1.
func qos1Subscriber(t *testing.T, b *testBroker, id, filter string) *rawClient {
	t.Helper()
	c := mustConnect(t, b.addr, packet.V311, id, true)
	c.subscribe(1, packet.Subscription{Filter: filter, QoS: 1})
	return c
}

// takeInOrder reads and acknowledges the n messages publishPipelined
// sends, failing if one is out of order.
func takeInOrder(t *testing.T, c *rawClient, n int) {
	t.Helper()
	for i := range n {
		m := c.expectPublish()
		if string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, m.Payload)
		}
		c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	}
}

// publishWhileTaking has pub publish n messages to "paced" while c takes
// them in order, and returns once the broker has handled all of them.
func publishWhileTaking(t *testing.T, pub, c *rawClient, n int) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { publishPipelined(t, pub, "paced", n) })
	takeInOrder(t, c, n)
	wg.Wait()
	pub.ping()
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
	sub := qos1Subscriber(t, b, "slow", "paced")
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

// TestPacingIgnoresAStalledSubscriber: a subscriber that does not catch
// up holds its publisher back once, for at most the wait, and after that
// gets Mosquitto's behaviour (drops at the limit) until its queue has
// drained; then it counts again.
func TestPacingIgnoresAStalledSubscriber(t *testing.T) {
	b := pacingBroker(t)
	stuck := qos1Subscriber(t, b, "stuck", "paced")
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)

	const n = 300
	publishPipelined(t, pub, "paced", n)
	pub.ping() // past the wait that followed the last PUBACK
	// 20 in flight and 40 queued for the stuck subscriber; the rest dropped.
	st := b.Stats()
	if st.PublisherWaits != 1 || st.StalledSubscribers != 1 || st.Dropped != n-20-40 {
		t.Fatalf("publisher waits %d, stalled %d, dropped %d; want 1, 1, %d", st.PublisherWaits, st.StalledSubscribers, st.Dropped, n-20-40)
	}

	// Acknowledging one window is not catching up: 20 still queued.
	// ackWindow acknowledges 20 messages and waits, with a PINGREQ, until
	// the broker has handled that; the messages the acknowledgements let
	// out arrive meanwhile and are kept for the next window.
	var held []*packet.Publish
	ackWindow := func() {
		for len(held) < 20 {
			held = append(held, stuck.expectPublish())
		}
		for _, m := range held[:20] {
			stuck.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
		}
		held = held[20:]
		stuck.send(&packet.Pingreq{})
		for {
			p := stuck.recv()
			if m, ok := p.(*packet.Publish); ok {
				held = append(held, m)
				continue
			}
			if _, ok := p.(*packet.Pingresp); !ok {
				t.Fatalf("expected PUBLISH or PINGRESP, got %s", p.Type())
			}
			return
		}
	}
	ackWindow()
	publishPipelined(t, pub, "paced", 1)
	pub.ping()
	if st := b.Stats(); st.PublisherWaits != 1 {
		t.Fatalf("waited %d times for a subscriber still behind, want 1", st.PublisherWaits)
	}
	// The next window empties its queue: it counts again, and a publisher
	// that fills it more than half waits for it, in vain: stalled again.
	ackWindow()
	publishPipelined(t, pub, "paced", 21)
	pub.ping()
	if st := b.Stats(); st.PublisherWaits != 2 || st.StalledSubscribers != 2 {
		t.Fatalf("after the subscriber caught up: waits %d, stalled %d; want 2, 2", st.PublisherWaits, st.StalledSubscribers)
	}
}

// TestPacingStallsASlowAcker: a subscriber that acknowledges, but too
// slowly to drain its queue within a wait, costs its publisher one wait.
func TestPacingStallsASlowAcker(t *testing.T) {
	b := pacingBroker(t)
	slow := qos1Subscriber(t, b, "slow", "paced")
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 4 { // one every 100 ms: 2 in a wait, and 6 would be needed
			m := slow.expectPublish()
			time.Sleep(100 * time.Millisecond)
			slow.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
		}
	})
	publishPipelined(t, pub, "paced", 200)
	pub.ping()
	wg.Wait()
	if st := b.Stats(); st.PublisherWaits != 1 || st.StalledSubscribers != 1 || st.Dropped == 0 {
		t.Fatalf("publisher waits %d, stalled %d, dropped %d; want 1, 1, some", st.PublisherWaits, st.StalledSubscribers, st.Dropped)
	}
}

// TestPacingStalledIsNoReceiver: a stalled subscriber does not count as a
// receiver that keeps up, so its publisher is still paced to a slower
// subscriber of the same messages, which loses nothing.
func TestPacingStalledIsNoReceiver(t *testing.T) {
	b := pacingBroker(t)
	qos1Subscriber(t, b, "stuck", "paced")
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	// 20 in flight, 40 queued, 1 dropped; the wait for it stalls it.
	publishPipelined(t, pub, "paced", 61)
	pub.ping()
	if st := b.Stats(); st.StalledSubscribers != 1 || st.Dropped != 1 {
		t.Fatalf("stalled %d, dropped %d; want 1, 1", st.StalledSubscribers, st.Dropped)
	}

	slow := qos1Subscriber(t, b, "slow", "paced")
	const n = 300
	var wg sync.WaitGroup
	wg.Go(func() { publishPipelined(t, pub, "paced", n) })
	for range n {
		m := slow.expectPublish()
		time.Sleep(time.Millisecond) // slower than the publisher
		slow.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	}
	wg.Wait()
	// Every one of these is dropped for the stuck subscriber, none for
	// the slow one.
	if st := b.Stats(); st.Dropped != 1+n || st.PublisherWaits < 2 {
		t.Fatalf("dropped %d, publisher waits %d; want %d, more than 1", st.Dropped, st.PublisherWaits, 1+n)
	}
}

// TestPacingSparesSharedGroups: a lagging member of a shared group holds
// no publisher back (the group has others), and loses what exceeds its
// queue, as in Mosquitto.
func TestPacingSparesSharedGroups(t *testing.T) {
	b := pacingBroker(t)
	qos1Subscriber(t, b, "stuck", "$share/g/paced")
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	publishPipelined(t, pub, "paced", 100)
	pub.ping()
	if st := b.Stats(); st.PublisherWaits != 0 || st.Dropped != 100-20-40 {
		t.Fatalf("publisher waits %d, dropped %d; want 0, %d", st.PublisherWaits, st.Dropped, 100-20-40)
	}
}

// TestPacingSparesQoS0Receivers: a QoS 0 receiver whose socket takes the
// messages keeps up, so a stuck QoS 1 subscriber of the same messages
// holds nobody back.
func TestPacingSparesQoS0Receivers(t *testing.T) {
	b := pacingBroker(t)
	qos1Subscriber(t, b, "stuck", "paced")
	fast := mustConnect(t, b.addr, packet.V311, "fast", true)
	fast.subscribe(1, packet.Subscription{Filter: "paced", QoS: 0})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	publishPipelined(t, pub, "paced", 100)
	pub.ping()
	// The publisher may wait a moment for the QoS 0 receiver's writer to
	// take its queue to the socket, never a whole wait for the stuck
	// subscriber (which would leave it stalled).
	if st := b.Stats(); st.StalledSubscribers != 0 {
		t.Fatalf("publisher waited %d times, %d subscribers stalled; want none stalled", st.PublisherWaits, st.StalledSubscribers)
	}
}

// TestPacingSparesTheOthers: while another subscriber of the message
// keeps up, a slow one holds nobody back and loses what exceeds its queue,
// as in Mosquitto.
func TestPacingSparesTheOthers(t *testing.T) {
	opts := testOptions()
	opts.MaxQueuedMessages = 40
	opts.MaxInflightMessages = 0 // no window of ours: the clients' Receive Maximum decides
	b := startBroker(t, opts, nil)
	slow, _ := v5Connect(t, b.addr, "slow", func(p *packet.Connect) {
		p.Properties.ReceiveMaximum = 5
		p.Properties.Set(packet.PropReceiveMaximum)
	})
	slow.subscribe(1, packet.Subscription{Filter: "paced", QoS: 1})
	fine := qos1Subscriber(t, b, "fine", "paced")
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)

	const n = 300
	publishWhileTaking(t, pub, fine, n)
	if st := b.Stats(); st.PublisherWaits != 0 || st.Dropped != n-5-40 {
		t.Fatalf("publisher waits %d, dropped %d; want 0, %d", st.PublisherWaits, st.Dropped, n-5-40)
	}
}

// TestPacingHeldBackByMost: when more than one and more than a quarter
// of the receivers lag, the publisher waits though another keeps up; the
// ones that do not catch up within the wait are stalled as usual, and the
// one that keeps up gets everything.
func TestPacingHeldBackByMost(t *testing.T) {
	b := pacingBroker(t)
	qos1Subscriber(t, b, "stuck-1", "paced")
	qos1Subscriber(t, b, "stuck-2", "paced")
	fine := qos1Subscriber(t, b, "fine", "paced")
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)

	const n = 300
	publishWhileTaking(t, pub, fine, n)
	if st := b.Stats(); st.PublisherWaits == 0 || st.StalledSubscribers == 0 {
		t.Fatalf("publisher waits %d, stalled %d; want some of both", st.PublisherWaits, st.StalledSubscribers)
	}
}

// TestPacingBetweenTwoPublishers: two clients that publish to each other
// at QoS 1 faster than they read never hold each other back for good.
func TestPacingBetweenTwoPublishers(t *testing.T) {
	b := pacingBroker(t)
	a := qos1Subscriber(t, b, "a", "to/a")
	c := qos1Subscriber(t, b, "c", "to/c")

	// Each sends 55 messages to the other without reading: 20 go in
	// flight and 35 into a queue of 40, more than half full, so each
	// reader would wait for the other. Then each client reads and
	// acknowledges what it got.
	const n = 55
	for i := range n {
		a.send(&packet.Publish{Topic: "to/c", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
		c.send(&packet.Publish{Topic: "to/a", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
	}
	var wg sync.WaitGroup
	for _, cl := range []*rawClient{a, c} {
		wg.Go(func() {
			got := 0
			for got < n {
				switch p := cl.recv().(type) {
				case *packet.Publish:
					cl.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
					got++
				case *packet.Ack: // our own PUBACKs
				}
			}
		})
	}
	wg.Wait()
	if st := b.Stats(); st.Dropped != 0 || st.StalledSubscribers != 0 {
		t.Fatalf("dropped %d, stalled %d; want 0, 0", st.Dropped, st.StalledSubscribers)
	}
}

// TestPacingNeverWaitsForItself: a client whose own subscription is
// congested is not held back (its acknowledgements come in on the reader
// that would wait).
func TestPacingNeverWaitsForItself(t *testing.T) {
	b := pacingBroker(t)
	c := qos1Subscriber(t, b, "self", "self")
	const n = 200
	for i := range n {
		c.send(&packet.Publish{Topic: "self", QoS: 1, PacketID: uint16(1000 + i), Payload: []byte("x")})
	}
	c.ping()
	if st := b.Stats(); st.PublisherWaits != 0 {
		t.Fatalf("the client waited %d times for its own session", st.PublisherWaits)
	}
}

// TestPacingDoesNotCountAgainstKeepAlive: a publisher held back for a
// long stretch inside one burst of packets is not disconnected for
// silence: its packets were on time, the broker was not reading them.
func TestPacingDoesNotCountAgainstKeepAlive(t *testing.T) {
	b := pacingBroker(t)
	sub := qos1Subscriber(t, b, "sub", "paced")
	pub := dialRaw(t, b.addr, packet.V311)
	if ack := pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 1}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	// 200 publishes of 200 bytes and a PINGREQ in one write: one long
	// burst for the broker, read a buffer at a time, paced to a subscriber
	// taking 12 ms per message, about 2 s in all: longer than the 1.5 s
	// the keep alive allows between packets.
	const n = 200
	var burst []byte
	for i := range n {
		burst, _ = packet.Append(burst, &packet.Publish{Topic: "paced", QoS: 1, PacketID: uint16(i + 1), Payload: make([]byte, 200)}, packet.V311)
	}
	burst, _ = packet.Append(burst, &packet.Pingreq{}, packet.V311)
	pub.sendBytes(burst)
	for range n {
		m := sub.expectPublish()
		time.Sleep(12 * time.Millisecond) // a subscriber slower than its publisher
		sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	}
	for i := range n {
		pub.expectAck(packet.PUBACK, uint16(i+1))
	}
	if _, ok := pub.recv().(*packet.Pingresp); !ok {
		t.Fatal("expected PINGRESP")
	}
	if st := b.Stats(); st.PublisherWaits == 0 || st.Dropped != 0 {
		t.Fatalf("publisher waits %d, dropped %d; want some, 0", st.PublisherWaits, st.Dropped)
	}
}

// TestPacingSteadySubscriberIsNotStalled: a subscriber that keeps
// acknowledging, though another publisher keeps its queue above the
// relief mark, is not taken for a stuck one when a publisher's wait for
// it runs out: it acknowledged more than an eighth of the limit during the
// wait. (Bridges see this: several publishers fill the bridge's queue
// while it drains.)
func TestPacingSteadySubscriberIsNotStalled(t *testing.T) {
	b := pacingBroker(t)
	steady := mustConnect(t, b.addr, packet.V311, "steady", true)
	steady.subscribe(1, packet.Subscription{Filter: "a", QoS: 1}, packet.Subscription{Filter: "b", QoS: 1})
	fast := mustConnect(t, b.addr, packet.V311, "fast", true)
	fast.subscribe(1, packet.Subscription{Filter: "b", QoS: 0}) // so that b's publisher is never held back
	filler := mustConnect(t, b.addr, packet.V311, "filler", true)
	waiter := mustConnect(t, b.addr, packet.V311, "waiter", true)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // acknowledges one message every 10 ms: 25 in a wait
		for {
			select {
			case <-stop:
				return
			default:
			}
			p, err := steady.tryRecv(time.Second)
			if err != nil {
				return
			}
			if m, ok := p.(*packet.Publish); ok && m.QoS == 1 {
				time.Sleep(10 * time.Millisecond)
				if _, err := steady.nc.Write([]byte{0x40, 2, byte(m.PacketID >> 8), byte(m.PacketID)}); err != nil {
					return
				}
			}
		}
	})
	wg.Go(func() { // one message every 2 ms: faster than steady takes them
		for i := range 400 {
			select {
			case <-stop:
				return
			default:
			}
			b, _ := packet.Append(nil, &packet.Publish{Topic: "b", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "%d", i)}, packet.V311)
			if _, err := filler.nc.Write(b); err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(200 * time.Millisecond) // steady's queue is full of b
	for i := range 3 {
		waiter.publish("a", fmt.Sprint(i), 1, false, uint16(i+1))
	}
	waiter.ping() // past the waits
	if st := b.Stats(); st.PublisherWaits == 0 || st.StalledSubscribers != 0 {
		t.Fatalf("publisher waits %d, stalled %d; want some, 0", st.PublisherWaits, st.StalledSubscribers)
	}
}
