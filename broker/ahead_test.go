package broker_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// gatedRelay is a Relay whose QoS 1/2 acknowledgements the test hands
// out one message at a time, by payload.
type gatedRelay struct {
	mu        sync.Mutex
	forwarded []string
	gates     map[string]chan error
	done      chan struct{}
}

func newGatedRelay() *gatedRelay { return &gatedRelay{done: make(chan struct{})} }

func (r *gatedRelay) gate(payload string) chan error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gates == nil {
		r.gates = map[string]chan error{}
	}
	g := r.gates[payload]
	if g == nil {
		g = make(chan error, 1)
		r.gates[payload] = g
	}
	return g
}

func (r *gatedRelay) Forward(m *broker.RelayedMessage) (int, func(string) bool, func() error, error) {
	r.mu.Lock()
	r.forwarded = append(r.forwarded, string(m.Payload))
	r.mu.Unlock()
	if m.QoS == 0 {
		return 1, nil, nil, nil
	}
	g := r.gate(string(m.Payload))
	return 1, nil, func() error {
		select {
		case err := <-g:
			return err
		case <-r.done:
			return nil
		}
	}, nil
}

// releaseAll lets every message go, now and later, so that a failed
// test does not leave the broker waiting for an acknowledgement forever.
func (r *gatedRelay) releaseAll() { close(r.done) }

func (r *gatedRelay) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.forwarded)
}

func (*gatedRelay) Subscribed(string)   {}
func (*gatedRelay) Unsubscribed(string) {}
func (*gatedRelay) Claim(string, bool) (*broker.SessionState, error) {
	return nil, nil
}

// gatedBroker starts a broker whose Relay is a gatedRelay, with a v5
// subscriber to "t" at QoS 1.
func gatedBroker(t *testing.T) (*gatedRelay, *testBroker, *rawClient) {
	rl := newGatedRelay()
	opts := testOptions()
	opts.Relay = rl
	b := startBroker(t, opts, nil)
	t.Cleanup(rl.releaseAll) // before the broker closes: cleanups run last first
	sub := mustConnect(t, b.addr, packet.V5, "sub", true)
	sub.subscribe(1, packet.Subscription{Filter: "t", QoS: 1})
	return rl, b, sub
}

func appendPackets(t *testing.T, version byte, ps ...packet.Packet) []byte {
	t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = packet.Append(b, p, version); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestReadAhead checks what a connection does with messages that arrive
// together while the other servers have not yet acknowledged them: it
// forwards them all at once, then acknowledges them and delivers them
// here in the order they were published, and a SUBSCRIBE behind them is
// answered after them.
func TestReadAhead(t *testing.T) {
	rl, b, sub := gatedBroker(t)
	pub := mustConnect(t, b.addr, packet.V5, "pub", true)

	pub.sendBytes(appendPackets(t, packet.V5,
		&packet.Publish{Topic: "t", Payload: []byte("a"), QoS: 1, PacketID: 1},
		&packet.Publish{Topic: "t", Payload: []byte("b")},
		&packet.Publish{Topic: "t", Payload: []byte("c"), QoS: 1, PacketID: 2},
		&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "x"}}},
	))
	waitFor(t, "all three forwarded before any acknowledgement", func() bool { return len(rl.sent()) == 3 })
	if got := rl.sent(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("forwarded %q", got)
	}
	rl.gate("c") <- nil // the later one first: nothing may overtake a
	sub.expectNothing(200 * time.Millisecond)
	pub.expectNothing(50 * time.Millisecond)
	rl.gate("a") <- nil

	pub.expectAck(packet.PUBACK, 1)
	pub.expectAck(packet.PUBACK, 2)
	if p, ok := pub.recv().(*packet.Suback); !ok || p.PacketID != 3 {
		t.Fatalf("want SUBACK 3 after the PUBACKs, got %+v", p)
	}
	for _, want := range []string{"a", "b", "c"} {
		p := sub.expectPublish()
		if string(p.Payload) != want {
			t.Fatalf("delivered %q, want %q", p.Payload, want)
		}
		if p.QoS == 1 {
			sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
		}
	}
}

// TestReadAheadRefused checks a message the other servers refuse: an
// MQTT 5 publisher gets PUBACK 0x80 and nobody here receives it; a 3.1.1
// publisher, which cannot be refused, loses its connection without a
// PUBACK and sends the message again.
func TestReadAheadRefused(t *testing.T) {
	rl, b, sub := gatedBroker(t)

	pub := mustConnect(t, b.addr, packet.V5, "pub5", true)
	pub.send(&packet.Publish{Topic: "t", Payload: []byte("v5"), QoS: 1, PacketID: 1})
	rl.gate("v5") <- errors.New("a node did not answer")
	if ack := pub.expectAck(packet.PUBACK, 1); ack.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("PUBACK reason %#x, want 0x80", ack.ReasonCode)
	}

	old := mustConnect(t, b.addr, packet.V311, "pub3", true)
	old.send(&packet.Publish{Topic: "t", Payload: []byte("v3"), QoS: 1, PacketID: 1})
	rl.gate("v3") <- errors.New("a node did not answer")
	old.expectClosed()
	sub.expectNothing(200 * time.Millisecond)
}
