package broker_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/store"
)

// persistentSub connects a 3.1.1 client that keeps its session and
// subscribes it to "t" at QoS 1.
func persistentSub(t *testing.T, b *testBroker) *rawClient {
	s := mustConnect(t, b.addr, packet.V311, "s", false)
	s.subscribe(1, packet.Subscription{Filter: "t", QoS: 1})
	return s
}

// With a store, the QoS 1 messages that arrive together are matched and
// their records queued as they are read: while the first one's commit is
// under way the others' records wait for the next, so that the burst
// costs two commits, not one per message. Nothing is acknowledged or
// delivered before it is durable, and everything keeps its order.
func TestStoreAheadOneCommitPerBurst(t *testing.T) {
	st := &heldStore{Memory: store.NewMemory(), release: make(chan struct{})}
	b := startBroker(t, storeOptions(st), nil)
	s := persistentSub(t, b)
	pub := mustConnect(t, b.addr, packet.V5, "pub", true)
	st.held.Store(true)
	release := sync.OnceFunc(func() { close(st.release) })
	t.Cleanup(release)
	pub.sendBytes(appendPackets(t, packet.V5,
		&packet.Publish{Topic: "t", Payload: []byte("a"), QoS: 1, PacketID: 1},
		&packet.Publish{Topic: "t", Payload: []byte("b")},
		&packet.Publish{Topic: "t", Payload: []byte("c"), QoS: 1, PacketID: 2},
		&packet.Publish{Topic: "t", Payload: []byte("d"), QoS: 1, PacketID: 3},
		&packet.Publish{Topic: "t", Payload: []byte("e"), QoS: 1, PacketID: 4},
	))
	waitFor(t, "the burst's records queued behind the first commit", func() bool {
		return st.applies.Load() == 1 && int(st.heldOps.Load())+b.JournalQueued() == 4
	})
	pub.expectNothing(100 * time.Millisecond)
	s.expectNothing(0)
	release()
	for id := range uint16(4) {
		if a := pub.expectAck(packet.PUBACK, id+1); a.ReasonCode != packet.Success {
			t.Fatalf("PUBACK %d: %#x", id+1, a.ReasonCode)
		}
	}
	if n := st.applies.Load(); n > 2 {
		t.Errorf("%d commits for the burst", n)
	}
	want := []string{"t=a@1", "t=b@0", "t=c@1", "t=d@1", "t=e@1"}
	if got := s.receive(len(want)); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestStoreAheadReadsOnWhileCommitting: a busy publisher's reader hands
// a burst that waits for the store to its answerer and reads on, so the
// next burst's records are queued while the first commit is still under
// way; acknowledgements and deliveries keep the publisher's order.
func TestStoreAheadReadsOnWhileCommitting(t *testing.T) {
	b, _, s, pub, release := busyPublisherHeldStore(t, packet.V5, true)
	pub.send(&packet.Publish{Topic: "t", Payload: []byte("b"), QoS: 1, PacketID: 2})
	waitFor(t, "the second burst's records queued", func() bool { return b.JournalQueued() > 0 })
	pub.expectNothing(50 * time.Millisecond)
	s.expectNothing(0)
	release()
	for id := range uint16(2) {
		if a := pub.expectAck(packet.PUBACK, id+1); a.ReasonCode != packet.Success {
			t.Fatalf("PUBACK %d: %#x", id+1, a.ReasonCode)
		}
	}
	want := []string{"t=a@1", "t=b@1"}
	if got := s.receive(len(want)); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestStoreAheadTakeoverWhileAnswering: a takeover of a publisher whose
// answerer waits for the store waits for it (at most the settle wait),
// and the message is delivered once durable.
func TestStoreAheadTakeoverWhileAnswering(t *testing.T) {
	b, _, s, pub, release := busyPublisherHeldStore(t, packet.V311, false)
	go func() {
		time.Sleep(200 * time.Millisecond)
		release()
	}()
	again := mustConnect(t, b.addr, packet.V311, "pub", false)
	pub.expectClosed()
	if got := s.receive(1); got[0] != "t=a@1" {
		t.Fatalf("got %q", got)
	}
	again.publish("t", "b", 1, false, 2)
	if got := s.receive(1); got[0] != "t=b@1" {
		t.Fatalf("got %q", got)
	}
}

// busyPublisherHeldStore starts a broker on a store whose commits are
// held until release, with persistentSub's subscriber, and a busy
// publisher "pub" (its packets come within the parker's hot gap) that
// has sent "a" to "t" at QoS 1 (id 1), whose commit is under way.
func busyPublisherHeldStore(t *testing.T, v byte, clean bool) (b *testBroker, st *heldStore, s, pub *rawClient, release func()) {
	t.Helper()
	st = &heldStore{Memory: store.NewMemory(), release: make(chan struct{})}
	b = startBroker(t, storeOptions(st), nil)
	s = persistentSub(t, b)
	pub = mustConnect(t, b.addr, v, "pub", clean)
	for range 5 {
		pub.ping()
	}
	st.held.Store(true)
	release = sync.OnceFunc(func() { close(st.release) })
	t.Cleanup(release)
	pub.send(&packet.Publish{Topic: "t", Payload: []byte("a"), QoS: 1, PacketID: 1})
	waitFor(t, "the first commit under way", func() bool { return st.applies.Load() == 1 })
	return b, st, s, pub, release
}

// A retained message in a burst is routed whole, after the messages
// before it are answered: acknowledgements and deliveries keep the
// publisher's order, and the retained store has it.
func TestStoreAheadRetainedInBurst(t *testing.T) {
	b := startBroker(t, storeOptions(store.NewMemory()), nil)
	s := persistentSub(t, b)
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.sendBytes(appendPackets(t, packet.V311,
		&packet.Publish{Topic: "t", Payload: []byte("a"), QoS: 1, PacketID: 1},
		&packet.Publish{Topic: "t", Payload: []byte("R"), QoS: 1, PacketID: 2, Retain: true},
		&packet.Publish{Topic: "t", Payload: []byte("c"), QoS: 1, PacketID: 3},
	))
	for id := range uint16(3) {
		pub.expectAck(packet.PUBACK, id+1)
	}
	want := []string{"t=a@1", "t=R@1", "t=c@1"}
	if got := s.receive(len(want)); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	late := mustConnect(t, b.addr, packet.V311, "late", true)
	late.subscribe(1, packet.Subscription{Filter: "t", QoS: 1})
	if p := late.expectPublish(); string(p.Payload) != "R" || !p.Retain {
		t.Fatalf("retained %+v", p)
	}
}

// A store that fails under a burst: an MQTT 5 publisher gets PUBACK 0x80
// for each message, in order; a 3.1.1 publisher loses its connection
// without a PUBACK; nothing is delivered, and the session keeps nothing.
func TestStoreAheadFailure(t *testing.T) {
	st := &failingStore{Memory: store.NewMemory()}
	b := startBroker(t, storeOptions(st), nil)
	s := persistentSub(t, b)
	st.fail.Store(true)
	burst := func(v byte) []byte {
		return appendPackets(t, v,
			&packet.Publish{Topic: "t", Payload: []byte("x"), QoS: 1, PacketID: 1},
			&packet.Publish{Topic: "t", Payload: []byte("y"), QoS: 1, PacketID: 2},
		)
	}
	p5 := mustConnect(t, b.addr, packet.V5, "p5", true)
	p5.sendBytes(burst(packet.V5))
	for id := range uint16(2) {
		if a := p5.expectAck(packet.PUBACK, id+1); a.ReasonCode != packet.UnspecifiedError {
			t.Fatalf("PUBACK %d: %#x, want 0x80", id+1, a.ReasonCode)
		}
	}
	p3 := mustConnect(t, b.addr, packet.V311, "p3", true)
	p3.sendBytes(burst(packet.V311))
	p3.expectClosed()
	s.expectNothing(100 * time.Millisecond)
	st.fail.Store(false)
	p5.publish("t", "kept", 1, false, 3)
	keptOnly(t, b, s, 1, "t=kept@1")
}

// keptOnly disconnects persistentSub's client s, with others still
// connected, and checks that its session kept want and nothing more.
func keptOnly(t *testing.T, b *testBroker, s *rawClient, others int, want string) {
	t.Helper()
	s.nc.Close()
	waitFor(t, "disconnect", func() bool { return b.ClientCount() == others })
	s = resume(t, b.addr, packet.V311, "s", 0)
	if got := s.receive(1); got[0] != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	s.expectNothing(100 * time.Millisecond)
}
