package broker_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/store"
)

// startRestored starts a broker that loads opts.Store before it serves,
// as the midge command does.
func startRestored(t *testing.T, opts broker.Options) *testBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := broker.DefaultListener(ln.Addr().(*net.TCPAddr).Port)
	l.AllowAnonymous = true
	srv := broker.New(opts)
	if err := srv.Restore(); err != nil {
		t.Fatal(err)
	}
	return serve(t, srv, ln, l)
}

func storeOptions(st store.Store) broker.Options {
	o := testOptions()
	o.Store = st
	return o
}

// resume reconnects a persistent session and checks it was kept.
func resume(t *testing.T, addr string, v byte, id string, expiry uint32) *rawClient {
	t.Helper()
	c := dialRaw(t, addr, v)
	p := &packet.Connect{ClientID: id, KeepAlive: 60}
	if v == packet.V5 {
		p.Properties.SessionExpiry = expiry
		p.Properties.Set(packet.PropSessionExpiry)
	}
	ack := c.connect(p)
	if ack.ReasonCode != 0 || !ack.SessionPresent {
		t.Fatalf("%s: CONNACK %#x, session present %v", id, ack.ReasonCode, ack.SessionPresent)
	}
	return c
}

// receive takes n PUBLISHes, completing each handshake, and returns
// "topic=payload@qos" for each.
func (c *rawClient) receive(n int) []string {
	c.t.Helper()
	var got []string
	awaitingRel := 0
	for len(got) < n || awaitingRel > 0 {
		switch p := c.recv().(type) {
		case *packet.Publish:
			got = append(got, p.Topic+"="+string(p.Payload)+"@"+string('0'+p.QoS))
			switch p.QoS {
			case 1:
				c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
			case 2:
				c.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p.PacketID})
				awaitingRel++
			}
		case *packet.Ack:
			if p.Kind != packet.PUBREL {
				c.t.Fatalf("unexpected %v", p.Kind)
			}
			c.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: p.PacketID})
			awaitingRel--
		default:
			c.t.Fatalf("unexpected %s", p.Type())
		}
	}
	c.ping() // every acknowledgement above has been handled
	return got
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSessionsSurviveRestart(t *testing.T) {
	st := store.NewMemory()
	opts := storeOptions(st)
	b := startBroker(t, opts, nil)
	s3 := mustConnect(t, b.addr, packet.V311, "s3", false)
	s3.subscribe(1, packet.Subscription{Filter: "q/#", QoS: 2}, packet.Subscription{Filter: "only1", QoS: 1})
	s5 := dialRaw(t, b.addr, packet.V5)
	cp := &packet.Connect{ClientID: "s5", CleanStart: true, KeepAlive: 60}
	cp.Properties.SessionExpiry = 3600
	cp.Properties.Set(packet.PropSessionExpiry)
	s5.connect(cp)
	s5.subscribe(1, packet.Subscription{Filter: "q/#", QoS: 1, RetainAsPublished: true})
	clean := mustConnect(t, b.addr, packet.V311, "clean", true)
	clean.subscribe(1, packet.Subscription{Filter: "q/#", QoS: 1})
	for _, c := range []*rawClient{s3, s5, clean} {
		c.nc.Close()
	}
	waitFor(t, "disconnects", func() bool { return b.ClientCount() == 0 })

	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("q/1", "one", 1, false, 1)
	pub.publish("q/2", "two", 2, true, 2)
	pub.publish("only1", "x", 2, false, 3)
	pub.publish("q/0", "zero", 0, false, 0) // QoS 0 is not queued by default
	b.Close()

	b2 := startRestored(t, opts)
	if n := b2.SessionCount(); n != 2 {
		t.Fatalf("%d sessions restored, want 2 (the clean session must not come back)", n)
	}
	pub = mustConnect(t, b2.addr, packet.V311, "pub", true)
	pub.publish("q/3", "three", 1, false, 1) // the restored subscriptions route it

	s3 = resume(t, b2.addr, packet.V311, "s3", 0)
	if got, want := s3.receive(4), []string{"q/1=one@1", "q/2=two@2", "only1=x@1", "q/3=three@1"}; !equalStrings(got, want) {
		t.Fatalf("s3 got %q, want %q", got, want)
	}
	s5 = resume(t, b2.addr, packet.V5, "s5", 3600)
	if got, want := s5.receive(3), []string{"q/1=one@1", "q/2=two@1", "q/3=three@1"}; !equalStrings(got, want) {
		t.Fatalf("s5 got %q, want %q", got, want)
	}
	for _, c := range []*rawClient{s3, s5, pub} {
		c.nc.Close()
	}
	waitFor(t, "disconnects", func() bool { return b2.ClientCount() == 0 })
	b2.Close()

	// Acknowledged messages are gone from the store; the sessions stay.
	b3 := startRestored(t, opts)
	s3 = resume(t, b3.addr, packet.V311, "s3", 0)
	s3.expectNothing(200 * time.Millisecond)
	pub = mustConnect(t, b3.addr, packet.V311, "pub", true)
	pub.publish("only1", "again", 1, false, 1)
	if got := s3.receive(1); got[0] != "only1=again@1" {
		t.Fatalf("s3 got %q", got)
	}
}

// TestQoS2ExactlyOnceAcrossRestarts: a QoS 2 message is resent after a
// restart under the id it was first sent with, and once PUBREC has been
// answered with PUBREL only PUBREL is resent, never the message.
func TestQoS2ExactlyOnceAcrossRestarts(t *testing.T) {
	st := store.NewMemory()
	opts := storeOptions(st)
	b := startBroker(t, opts, nil)
	s := mustConnect(t, b.addr, packet.V311, "s", false)
	s.subscribe(1, packet.Subscription{Filter: "x", QoS: 2})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("x", "m1", 2, false, 1)
	first := s.expectPublish()
	b.Close()

	b2 := startRestored(t, opts)
	s = resume(t, b2.addr, packet.V311, "s", 0)
	again := s.expectPublish()
	if again.PacketID != first.PacketID || string(again.Payload) != "m1" || again.QoS != 2 {
		t.Fatalf("resent %+v, first sent as %+v", again, first)
	}
	s.send(&packet.Ack{Kind: packet.PUBREC, PacketID: again.PacketID})
	s.expectAck(packet.PUBREL, again.PacketID)
	b2.Close()

	b3 := startRestored(t, opts)
	s = resume(t, b3.addr, packet.V311, "s", 0)
	if a := s.expectAck(packet.PUBREL, first.PacketID); a == nil {
		t.Fatal("no PUBREL")
	}
	s.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: first.PacketID})
	s.ping()
	s.expectNothing(100 * time.Millisecond)
	b3.Close()

	b4 := startRestored(t, opts)
	s = resume(t, b4.addr, packet.V311, "s", 0)
	s.expectNothing(200 * time.Millisecond)
}

// TestInboundQoS2AcrossRestart: a QoS 2 message held until its PUBREL
// (as Mosquitto delivers them) survives a restart with its packet id: the
// PUBLISH sent again is recognised, the PUBREL releases it once, and after
// PUBCOMP the id is free again.
func TestInboundQoS2AcrossRestart(t *testing.T) {
	st := store.NewMemory()
	opts := storeOptions(st)
	b := startBroker(t, opts, nil)
	sub := mustConnect(t, b.addr, packet.V311, "sub", false)
	sub.subscribe(1, packet.Subscription{Filter: "in", QoS: 2})
	pub := mustConnect(t, b.addr, packet.V311, "pub", false)
	pub.send(&packet.Publish{Topic: "in", Payload: []byte("once"), QoS: 2, PacketID: 7})
	pub.expectAck(packet.PUBREC, 7)
	sub.ping()
	sub.expectNothing(100 * time.Millisecond) // held until PUBREL
	b.Close()

	b2 := startRestored(t, opts)
	sub = resume(t, b2.addr, packet.V311, "sub", 0)
	pub = resume(t, b2.addr, packet.V311, "pub", 0)
	pub.send(&packet.Publish{Topic: "in", Payload: []byte("once"), QoS: 2, PacketID: 7, Dup: true})
	pub.expectAck(packet.PUBREC, 7)
	pub.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 7})
	pub.expectAck(packet.PUBCOMP, 7)
	if got := sub.receive(1); got[0] != "in=once@2" {
		t.Fatalf("got %q", got)
	}
	b2.Close()

	b3 := startRestored(t, opts)
	sub = resume(t, b3.addr, packet.V311, "sub", 0)
	pub = resume(t, b3.addr, packet.V311, "pub", 0)
	sub.ping()
	sub.expectNothing(100 * time.Millisecond) // delivered once only
	pub.publish("in", "second", 2, false, 7)
	if got := sub.receive(1); got[0] != "in=second@2" {
		t.Fatalf("got %q", got)
	}
}

// TestStoreFailureRefusesQueuedMessages: a message for a persistent
// session that cannot be stored is refused, not acknowledged and lost.
func TestStoreFailureRefusesQueuedMessages(t *testing.T) {
	st := &failingStore{Memory: store.NewMemory()}
	b := startBroker(t, storeOptions(st), nil)
	s := mustConnect(t, b.addr, packet.V311, "s", false)
	s.subscribe(1, packet.Subscription{Filter: "t", QoS: 1})
	s.nc.Close()
	waitFor(t, "disconnect", func() bool { return b.ClientCount() == 0 })

	st.fail.Store(true)
	p5 := mustConnect(t, b.addr, packet.V5, "p5", true)
	p5.send(&packet.Publish{Topic: "t", Payload: []byte("lost?"), QoS: 1, PacketID: 1})
	if a := p5.expectAck(packet.PUBACK, 1); a.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("PUBACK %v, want 0x80", a.ReasonCode)
	}
	p3 := mustConnect(t, b.addr, packet.V311, "p3", true)
	p3.send(&packet.Publish{Topic: "t", Payload: []byte("lost?"), QoS: 1, PacketID: 1})
	p3.expectClosed()
	// QoS 0 is not affected, and is not queued.
	p5.publish("t", "q0", 0, false, 0)

	st.fail.Store(false)
	p5.publish("t", "kept", 1, false, 2)
	s = resume(t, b.addr, packet.V311, "s", 0)
	if got := s.receive(1); got[0] != "t=kept@1" {
		t.Fatalf("got %q", got)
	}
	s.expectNothing(100 * time.Millisecond)
}

// TestSessionExpiryCountsWhileDown: the expiry interval runs from the
// disconnect, across the restart.
func TestSessionExpiryCountsWhileDown(t *testing.T) {
	st := store.NewMemory()
	opts := storeOptions(st)
	b := startBroker(t, opts, nil)
	c := dialRaw(t, b.addr, packet.V5)
	cp := &packet.Connect{ClientID: "short", CleanStart: true, KeepAlive: 60}
	cp.Properties.SessionExpiry = 1
	cp.Properties.Set(packet.PropSessionExpiry)
	c.connect(cp)
	c.subscribe(1, packet.Subscription{Filter: "t", QoS: 1})
	mustConnect(t, b.addr, packet.V311, "long", false).nc.Close()
	c.nc.Close()
	waitFor(t, "disconnects", func() bool { return b.ClientCount() == 0 })
	b.Close()
	time.Sleep(1100 * time.Millisecond) // wall-clock expiry, not a synchronisation

	b2 := startRestored(t, opts)
	waitFor(t, "expiry", func() bool { return b2.SessionCount() == 1 })
	c = dialRaw(t, b2.addr, packet.V5)
	if ack := c.connect(&packet.Connect{ClientID: "short", KeepAlive: 60}); ack.SessionPresent {
		t.Fatal("expired session came back")
	}
	resume(t, b2.addr, packet.V311, "long", 0)
}

// TestDelayedWillAcrossRestart: a will waiting out its delay is published
// after a restart.
func TestDelayedWillAcrossRestart(t *testing.T) {
	st := store.NewMemory()
	opts := storeOptions(st)
	b := startBroker(t, opts, nil)
	ws := mustConnect(t, b.addr, packet.V311, "ws", false)
	ws.subscribe(1, packet.Subscription{Filter: "will/#", QoS: 1})
	ws.nc.Close()
	w := dialRaw(t, b.addr, packet.V5)
	cp := &packet.Connect{ClientID: "w", CleanStart: true, KeepAlive: 60,
		Will: &packet.Will{Topic: "will/w", Payload: []byte("gone"), QoS: 1}}
	cp.Properties.SessionExpiry = 60
	cp.Properties.Set(packet.PropSessionExpiry)
	cp.Will.Properties.WillDelay = 1
	cp.Will.Properties.Set(packet.PropWillDelay)
	w.connect(cp)
	w.nc.Close() // no DISCONNECT: the will is due in 1 s
	waitFor(t, "disconnects", func() bool { return b.ClientCount() == 0 })
	b.Close()

	b2 := startRestored(t, opts)
	ws = resume(t, b2.addr, packet.V311, "ws", 0)
	if got := ws.receive(1); got[0] != "will/w=gone@1" {
		t.Fatalf("got %q", got)
	}
	b2.Close()
	// Published once: it is not in the store any more.
	b3 := startRestored(t, opts)
	ws = resume(t, b3.addr, packet.V311, "ws", 0)
	ws.expectNothing(1500 * time.Millisecond)
}

// TestAckBeforeShutdownIsKept: PUBACKs that have reached the broker when
// it shuts down are handled, so their messages are not sent again after
// the restart.
func TestAckBeforeShutdownIsKept(t *testing.T) {
	st := store.NewMemory()
	opts := storeOptions(st)
	b := startBroker(t, opts, nil)
	const n = 20
	var subs []*rawClient
	for i := range n {
		sub := mustConnect(t, b.addr, packet.V311, fmt.Sprintf("sub%d", i), false)
		sub.subscribe(1, packet.Subscription{Filter: "t", QoS: 1})
		subs = append(subs, sub)
	}
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("t", "once", 1, false, 1)
	var ids []uint16
	for _, sub := range subs {
		ids = append(ids, sub.expectPublish().PacketID)
	}
	for i, sub := range subs {
		sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: ids[i]})
	}
	b.Close()

	b2 := startRestored(t, opts)
	for i := range n {
		sub := resume(t, b2.addr, packet.V311, fmt.Sprintf("sub%d", i), 0)
		sub.expectNothing(20 * time.Millisecond)
	}
}

// TestSessionInfo: Session reports a session's connection, queue,
// in-flight messages and subscriptions.
func TestSessionInfo(t *testing.T) {
	o := testOptions()
	o.MaxInflightMessages = 2
	b := startBroker(t, o, nil)
	if _, ok := b.Session("nobody"); ok {
		t.Fatal("a session for a client that never connected")
	}
	sub := mustConnect(t, b.addr, packet.V311, "info", false)
	sub.subscribe(1, packet.Subscription{Filter: "q", QoS: 1}, packet.Subscription{Filter: "r"})
	sub.send(&packet.Disconnect{})
	waitFor(t, "the disconnect", func() bool { info, _ := b.Session("info"); return !info.Connected })
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	for i := range 5 {
		pub.publish("q", "12345", 1, false, uint16(i+1))
	}
	info, ok := b.Session("info")
	want := broker.SessionInfo{Connected: false, Queued: 5, QueuedBytes: info.QueuedBytes, Subscriptions: 2}
	if !ok || info != want || info.QueuedBytes < 25 {
		t.Fatalf("offline: %+v, %v; want %+v with at least 25 bytes", info, ok, want)
	}
	sub = mustConnect(t, b.addr, packet.V311, "info", false)
	for range 2 {
		sub.expectPublish() // not acknowledged
	}
	waitFor(t, "the in-flight window", func() bool { info, _ = b.Session("info"); return info.Inflight == 2 })
	if info.Queued != 3 || !info.Connected {
		t.Fatalf("online: %+v; want 2 in flight, 3 queued, connected", info)
	}
}
