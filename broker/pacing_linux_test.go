package broker_test

import (
	"fmt"
	"testing"

	"github.com/midge-mqtt/midge/internal/packet"
)

// TestPacingQoS0LateWriterIsNotStalled: QoS 0 messages that wait for a
// subscriber's writer while its socket is empty wait for the broker, not
// for the subscriber: the publisher is held back for as long as that
// lasts, and the subscriber is not taken as stalled, so nothing is
// dropped. (The kernel's send queue tells them apart on Linux only.)
func TestPacingQoS0LateWriterIsNotStalled(t *testing.T) {
	b, sub := smallBufferBroker(t, "late")
	release := b.HoldWriter("sub")
	pub := mustConnect(t, b.addr, packet.V311, "fast", true)

	const n = 100 // more than max_queued_messages (40)
	done := burstInBackground(pub, "late", n)
	// The publisher waits a whole wait (250 ms) without the writer
	// taking anything, at least twice, before the writer goes on.
	waitFor(t, "three publisher waits", func() bool { return b.Stats().PublisherWaits >= 3 })
	release()
	for i := range n {
		m := sub.expectPublish()
		if want := fmt.Sprintf("%063d", i); string(m.Payload) != want {
			t.Fatalf("message %d is %q", i, m.Payload)
		}
	}
	<-done
	if st := b.Stats(); st.Dropped != 0 || st.StalledSubscribers != 0 {
		t.Fatalf("dropped %d, stalled %d; want 0, 0", st.Dropped, st.StalledSubscribers)
	}
}

// TestPacingQoS0LateWriterHoldsBackAlone: a subscriber whose writer is
// late (its socket empty) holds the publisher back even while another
// subscriber of the same messages keeps up. The broker, not the
// subscriber, is behind, and dropping would lose messages the subscriber
// could take.
func TestPacingQoS0LateWriterHoldsBackAlone(t *testing.T) {
	b, sub := smallBufferBroker(t, "late")
	fine := mustConnect(t, b.addr, packet.V311, "fine", true)
	fine.subscribe(1, packet.Subscription{Filter: "late", QoS: 0})
	release := b.HoldWriter("sub")
	pub := mustConnect(t, b.addr, packet.V311, "fast", true)

	const n = 100 // more than max_queued_messages (40)
	done := burstInBackground(pub, "late", n)
	waitFor(t, "a publisher wait", func() bool { return b.Stats().PublisherWaits >= 1 })
	release()
	for i := range n {
		if m := sub.expectPublish(); string(m.Payload) != fmt.Sprintf("%063d", i) {
			t.Fatalf("late: message %d is %q", i, m.Payload)
		}
	}
	for i := range n {
		if m := fine.expectPublish(); string(m.Payload) != fmt.Sprintf("%063d", i) {
			t.Fatalf("fine: message %d is %q", i, m.Payload)
		}
	}
	<-done
	if st := b.Stats(); st.Dropped != 0 || st.StalledSubscribers != 0 {
		t.Fatalf("dropped %d, stalled %d; want 0, 0", st.Dropped, st.StalledSubscribers)
	}
}

// burstInBackground sends n QoS 0 messages to topic from pub and then a
// ping, on a goroutine, and closes the returned channel once the ping is
// answered: every message handled.
func burstInBackground(pub *rawClient, topic string, n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pub.sendBytes(qos0Burst(topic, n))
		pub.ping()
	}()
	return done
}
