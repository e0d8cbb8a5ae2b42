//go:build unix

package broker_test

import (
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// Pacing of QoS 0 messages, over sockets whose buffers are set small
// (setsockopt as on Unix).

// smallBuffers wraps a listener so that every accepted TCP connection has
// a send buffer of a few kilobytes: what a connection's writer holds for
// the socket then shows after a few hundred small messages, not after
// megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// smallBufferBroker is pacingBroker with smallBuffers, and a subscriber
// of filter at QoS 0 whose receive buffer is small too.
func smallBufferBroker(t *testing.T, filter string) (*testBroker, *rawClient) {
	t.Helper()
	opts := testOptions()
	opts.MaxQueuedMessages = 40
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := broker.DefaultListener(ln.Addr().(*net.TCPAddr).Port)
	l.AllowAnonymous = true
	b := serve(t, broker.New(opts), smallBuffers{ln}, l)

	d := net.Dialer{Timeout: waitTime, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	nc, err := d.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	sub := &rawClient{t: t, nc: nc, version: packet.V311}
	if ack := sub.connect(&packet.Connect{ClientID: "sub", CleanStart: true}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	sub.subscribe(1, packet.Subscription{Filter: filter, QoS: 0})
	return b, sub
}

// qos0Burst is n QoS 0 PUBLISHes to topic, numbered in 63-byte payloads.
func qos0Burst(topic string, n int) []byte {
	var burst []byte
	for i := range n {
		burst, _ = packet.Append(burst, &packet.Publish{Topic: topic, Payload: fmt.Appendf(make([]byte, 0, 64), "%063d", i)}, packet.V311)
	}
	return burst
}

// TestPacingQoS0StalledReader: a QoS 0 subscriber that stops reading
// holds its publisher back once, for one wait, and then has its messages
// dropped, as in Mosquitto: the publisher goes on.
func TestPacingQoS0StalledReader(t *testing.T) {
	b, _ := smallBufferBroker(t, "stuck") // and it never reads
	pub := mustConnect(t, b.addr, packet.V311, "fast", true)
	pub.sendBytes(qos0Burst("stuck", 3000))
	pub.ping() // every message handled
	st := b.Stats()
	if st.StalledSubscribers != 1 || st.PublisherWaits == 0 || st.Dropped == 0 {
		t.Fatalf("stalled %d, publisher waits %d, dropped %d; want 1, some, some", st.StalledSubscribers, st.PublisherWaits, st.Dropped)
	}
}

// TestPacingQoS0ToTheSocket: a QoS 0 publisher far faster than the socket
// of its only subscriber, which reads all the time but slowly, is held
// back instead of having its messages dropped beyond max_queued_messages
// waiting for that socket.
func TestPacingQoS0ToTheSocket(t *testing.T) {
	b, sub := smallBufferBroker(t, "paced")
	pub := mustConnect(t, b.addr, packet.V311, "fast", true)

	const n = 3000
	burst := qos0Burst("paced", n)
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = pub.nc.Write(burst) })
	for i := range n {
		m := sub.expectPublish()
		if want := fmt.Sprintf("%063d", i); string(m.Payload) != want {
			t.Fatalf("message %d is %q", i, m.Payload)
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // a subscriber slower than its publisher
		}
	}
	wg.Wait()
	if st := b.Stats(); st.Dropped != 0 || st.PublisherWaits == 0 || st.StalledSubscribers != 0 {
		t.Fatalf("dropped %d, publisher waits %d, stalled %d; want 0, some, 0", st.Dropped, st.PublisherWaits, st.StalledSubscribers)
	}
}
