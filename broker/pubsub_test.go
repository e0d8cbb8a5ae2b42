package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

func TestQoSMatrix(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	for _, pv := range versions {
		for _, sv := range versions {
			for pq := byte(0); pq <= 2; pq++ {
				for sq := byte(0); sq <= 2; sq++ {
					name := fmt.Sprintf("pub%s-q%d/sub%s-q%d", pv.name, pq, sv.name, sq)
					t.Run(name, func(t *testing.T) {
						topic := "m/" + name
						sub := mustConnect(t, b.addr, sv.v, "s"+name, true)
						if codes := sub.subscribe(3, packet.Subscription{Filter: topic, QoS: sq}); codes[0] != packet.ReasonCode(sq) {
							t.Fatalf("granted %d, want %d", codes[0], sq)
						}
						pub := mustConnect(t, b.addr, pv.v, "p"+name, true)
						pub.publish(topic, "payload", pq, false, 11)
						m := sub.expectPublish()
						want := min(pq, sq)
						if m.Topic != topic || string(m.Payload) != "payload" || m.QoS != want || m.Retain || m.Dup {
							t.Fatalf("got %+v, want QoS %d", m, want)
						}
						switch want {
						case 1:
							if m.PacketID == 0 {
								t.Fatal("no packet id")
							}
							sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
						case 2:
							sub.send(&packet.Ack{Kind: packet.PUBREC, PacketID: m.PacketID})
							sub.expectAck(packet.PUBREL, m.PacketID)
							sub.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: m.PacketID})
						}
						sub.ping()
					})
				}
			}
		}
	}
}

func TestQoS2InboundExactlyOnce(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub := mustConnect(t, b.addr, packet.V311, "sub", true)
	sub.subscribe(1, packet.Subscription{Filter: "x", QoS: 0})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.send(&packet.Publish{Topic: "x", Payload: []byte("1"), QoS: 2, PacketID: 5})
	pub.expectAck(packet.PUBREC, 5)
	// A duplicate before PUBREL is acknowledged but not routed again.
	pub.send(&packet.Publish{Topic: "x", Payload: []byte("1"), QoS: 2, PacketID: 5, Dup: true})
	pub.expectAck(packet.PUBREC, 5)
	pub.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 5})
	pub.expectAck(packet.PUBCOMP, 5)
	sub.expectPublish()
	sub.expectNothing(200 * time.Millisecond)
}

func TestOrderingPerTopic(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub := mustConnect(t, b.addr, packet.V311, "sub", true)
	sub.subscribe(1, packet.Subscription{Filter: "order", QoS: 1})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	const n = 200
	for i := range n {
		pub.send(&packet.Publish{Topic: "order", Payload: fmt.Appendf(nil, "%d", i), QoS: 1, PacketID: uint16(i + 1)})
	}
	for i := range n {
		m := sub.expectPublish()
		if string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, m.Payload)
		}
		sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	}
}

func TestRetained(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("ret/a", "first", 1, true, 1)
	pub.publish("ret/a", "second", 1, true, 2) // replaces
	pub.publish("ret/b", "b", 0, true, 0)
	pub.publish("ret/c", "c", 0, true, 0)
	pub.publish("ret/c", "", 0, true, 0) // clears
	pub.ping()                           // every publish above has been handled

	sub := mustConnect(t, b.addr, packet.V311, "sub", true)
	sub.subscribe(1, packet.Subscription{Filter: "ret/#", QoS: 1})
	got := map[string]string{}
	for range 2 {
		m := sub.expectPublish()
		if !m.Retain {
			t.Fatalf("retained message without retain flag: %+v", m)
		}
		got[m.Topic] = string(m.Payload)
		if m.QoS == 1 {
			sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
		}
	}
	if got["ret/a"] != "second" || got["ret/b"] != "b" || len(got) != 2 {
		t.Fatalf("retained %v", got)
	}
	sub.expectNothing(100 * time.Millisecond)

	// A live retained publish reaches existing subscribers without the flag.
	pub.publish("ret/a", "live", 0, true, 0)
	if m := sub.expectPublish(); m.Retain || string(m.Payload) != "live" {
		t.Fatalf("live retained %+v", m)
	}
}

func TestWildcardsAndDollarTopics(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub := mustConnect(t, b.addr, packet.V311, "sub", true)
	sub.subscribe(1,
		packet.Subscription{Filter: "#"},
		packet.Subscription{Filter: "+/status"},
		packet.Subscription{Filter: "$SYS/custom/+"},
	)
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("$internal/x", "hidden", 0, false, 0) // # does not match $ topics
	pub.publish("dev/status", "s", 0, false, 0)       // matches # and +/status: one copy
	m := sub.expectPublish()
	if m.Topic != "dev/status" {
		t.Fatalf("got %+v", m)
	}
	sub.expectNothing(150 * time.Millisecond)
}

func TestUnsubscribe(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub := mustConnect(t, b.addr, packet.V5, "sub", true)
	sub.subscribe(1, packet.Subscription{Filter: "u/1"})
	sub.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"u/1", "u/none"}})
	ack, ok := sub.recv().(*packet.Unsuback)
	if !ok || len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0] != 0 || ack.ReasonCodes[1] != packet.NoSubscriptionExisted {
		t.Fatalf("UNSUBACK %+v", ack)
	}
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("u/1", "x", 0, false, 0)
	sub.expectNothing(150 * time.Millisecond)
}

func TestSharedSubscriptionsRoundRobin(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	members := []*rawClient{
		mustConnect(t, b.addr, packet.V5, "m1", true),
		mustConnect(t, b.addr, packet.V311, "m2", true),
	}
	for _, m := range members {
		m.subscribe(1, packet.Subscription{Filter: "$share/g/jobs/+", QoS: 1})
	}
	plain := mustConnect(t, b.addr, packet.V311, "plain", true)
	plain.subscribe(1, packet.Subscription{Filter: "jobs/+"})

	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	const n = 10
	for i := range n {
		pub.publish("jobs/a", fmt.Sprint(i), 1, false, uint16(i+1))
	}
	counts := make([]int, len(members))
	for i, m := range members {
		for {
			p, err := m.tryRecv(200 * time.Millisecond)
			if err != nil {
				break
			}
			if pp, ok := p.(*packet.Publish); ok {
				counts[i]++
				m.send(&packet.Ack{Kind: packet.PUBACK, PacketID: pp.PacketID})
			}
		}
	}
	if counts[0]+counts[1] != n || counts[0] != n/2 {
		t.Fatalf("shared deliveries %v, want %d each", counts, n/2)
	}
	for range n {
		plain.expectPublish() // the ordinary subscription gets every message
	}
}

func TestWills(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	watcher := mustConnect(t, b.addr, packet.V5, "watcher", true)
	watcher.subscribe(1, packet.Subscription{Filter: "w/#", QoS: 2})

	connectWithWill := func(id string, v byte, will *packet.Will) *rawClient {
		c := dialRaw(t, b.addr, v)
		if ack := c.connect(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 60, Will: will}); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %#x", ack.ReasonCode)
		}
		return c
	}

	// Network loss: will sent, with its QoS and retain.
	c := connectWithWill("lost", packet.V311, &packet.Will{Topic: "w/lost", Payload: []byte("bye"), QoS: 1, Retain: true})
	c.nc.Close()
	m := watcher.expectPublish()
	if m.Topic != "w/lost" || m.QoS != 1 {
		t.Fatalf("will %+v", m)
	}
	watcher.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})

	// Normal DISCONNECT: no will.
	c = connectWithWill("polite", packet.V311, &packet.Will{Topic: "w/polite", Payload: []byte("x")})
	c.send(&packet.Disconnect{})
	c.expectClosed()
	watcher.expectNothing(150 * time.Millisecond)

	// v5 DISCONNECT 0x04: will sent.
	c = connectWithWill("asked", packet.V5, &packet.Will{Topic: "w/asked", Payload: []byte("x")})
	c.send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWill})
	c.expectClosed()
	if m := watcher.expectPublish(); m.Topic != "w/asked" {
		t.Fatalf("will %+v", m)
	}

	// The retained will is kept.
	late := mustConnect(t, b.addr, packet.V311, "late", true)
	late.subscribe(1, packet.Subscription{Filter: "w/lost"})
	if m := late.expectPublish(); !m.Retain || string(m.Payload) != "bye" {
		t.Fatalf("retained will %+v", m)
	}
}

// TestWillDelayTakeoverRace reconnects right after closing, so the broker
// often sees the new CONNECT while it is still ending the old connection:
// whichever comes first, a resumed session deletes a will that has a delay.
func TestWillDelayTakeoverRace(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	watcher := mustConnect(t, b.addr, packet.V5, "watcher", true)
	watcher.subscribe(1, packet.Subscription{Filter: "wr/#"})
	for i := range 40 {
		id := fmt.Sprintf("racer%d", i)
		will := &packet.Will{Topic: "wr/" + id, Payload: []byte("late")}
		will.Properties.WillDelay = 2
		will.Properties.Set(packet.PropWillDelay)
		conn := &packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 60, Will: will}
		conn.Properties.SessionExpiry = 60
		conn.Properties.Set(packet.PropSessionExpiry)
		c := dialRaw(t, b.addr, packet.V5)
		c.connect(conn)
		c2 := dialRaw(t, b.addr, packet.V5)
		c.nc.Close()
		conn.CleanStart = false
		conn.Will = nil
		c2.connect(conn)
	}
	watcher.expectNothing(2500 * time.Millisecond)
}

func TestWillDelay(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	watcher := mustConnect(t, b.addr, packet.V5, "watcher", true)
	watcher.subscribe(1, packet.Subscription{Filter: "wd/#"})

	will := &packet.Will{Topic: "wd/x", Payload: []byte("late")}
	will.Properties.WillDelay = 1
	will.Properties.Set(packet.PropWillDelay)
	conn := &packet.Connect{ClientID: "delayed", CleanStart: true, KeepAlive: 60, Will: will}
	conn.Properties.SessionExpiry = 60
	conn.Properties.Set(packet.PropSessionExpiry)

	// Reconnecting within the delay cancels the will.
	c := dialRaw(t, b.addr, packet.V5)
	c.connect(conn)
	c.nc.Close()
	c2 := dialRaw(t, b.addr, packet.V5)
	conn.CleanStart = false
	c2.connect(conn)
	watcher.expectNothing(1500 * time.Millisecond)

	// Not reconnecting: the will arrives after the delay.
	start := time.Now()
	c2.nc.Close()
	m := watcher.expectPublish()
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("will after %v, before its delay", el)
	}
	if m.Topic != "wd/x" || m.Properties.Has(packet.PropWillDelay) {
		t.Fatalf("will %+v", m)
	}
}

// onLine is a log handler that calls fn with each message logged.
type onLine struct{ fn func(string) }

func (h onLine) Enabled(context.Context, slog.Level) bool { return true }
func (h onLine) Handle(_ context.Context, r slog.Record) error {
	h.fn(r.Message)
	return nil
}
func (h onLine) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onLine) WithGroup(string) slog.Handler      { return h }

// TestNothingRoutedAfterDisconnect checks that a message published once
// the broker has read a client's DISCONNECT is queued for the client's
// persistent session, and reaches its next connection as a first
// delivery (DUP 0), not as a resend of something written to the
// connection that was ending.
func TestNothingRoutedAfterDisconnect(t *testing.T) {
	var srv atomic.Pointer[broker.Server]
	var armed atomic.Bool
	published := make(chan error, 1)
	opts := testOptions()
	opts.ConnectionMessages = true
	opts.Logger = slog.New(onLine{func(line string) {
		if line == "Client sub disconnected." && armed.CompareAndSwap(true, false) {
			_, err := srv.Load().Publish(broker.Message{Topic: "t", Payload: []byte("late"), QoS: 1})
			published <- err
		}
	}})
	b := startBroker(t, opts, nil)
	srv.Store(b.Server)

	for _, v := range []byte{packet.V311, packet.V5} {
		sub := dialRaw(t, b.addr, v)
		p := &packet.Connect{ClientID: "sub", KeepAlive: 60, CleanStart: true}
		if v == packet.V5 {
			p.Properties.SessionExpiry = 60
			p.Properties.Set(packet.PropSessionExpiry)
		} else {
			p.CleanStart = false // a 3.1.1 clean session ends with its connection
		}
		sub.connect(p)
		sub.subscribe(1, packet.Subscription{Filter: "t", QoS: 1})
		armed.Store(true)
		sub.send(&packet.Disconnect{})
		select {
		case err := <-published:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitTime):
			t.Fatal("the DISCONNECT was not logged")
		}
		sub.nc.Close()

		again := dialRaw(t, b.addr, v)
		p.CleanStart = false
		if ack := again.connect(p); !ack.SessionPresent {
			t.Fatalf("v%d: no session present", v)
		}
		m := again.expectPublish()
		if string(m.Payload) != "late" || m.Dup {
			t.Fatalf("v%d: got %q dup %v, want \"late\" as a first delivery", v, m.Payload, m.Dup)
		}
		again.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
		again.send(&packet.Disconnect{})
	}
}

// slowReader is an Authorizer whose read check for one topic waits until
// released: a delivery of that topic stays in progress meanwhile.
type slowReader struct {
	broker.AllowAll
	topic   string
	entered chan struct{}
	release chan struct{}
}

func (a *slowReader) Authorize(c *broker.ClientInfo, topic string, access broker.Access) bool {
	if access == broker.AccessRead && topic == a.topic {
		a.entered <- struct{}{}
		<-a.release
	}
	return true
}

// TestAckAfterDelivery checks that a publisher gets its PUBACK (QoS 1) or
// PUBCOMP (QoS 2) only once the message has reached every subscriber, as
// from Mosquitto: a client that publishes something else after the
// acknowledgement, or tells another client to, must find it queued
// behind the first message everywhere. The subscriber's delivery is held
// up in the Authorizer; the acknowledgement must wait for it.
func TestAckAfterDelivery(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			b := startBroker(t, testOptions(), nil)
			a := &slowReader{topic: "slow", entered: make(chan struct{}), release: make(chan struct{})}
			b.SetAuthorizer(a)
			released := false
			letGo := func() {
				if !released {
					released = true
					close(a.release)
				}
			}
			t.Cleanup(letGo)

			sub := mustConnect(t, b.addr, packet.V311, "sub", true)
			sub.subscribe(1, packet.Subscription{Filter: "slow", QoS: 2})
			pub := mustConnect(t, b.addr, packet.V311, "pub", true)
			pub.send(&packet.Publish{Topic: "slow", Payload: []byte("m"), QoS: qos, PacketID: 7})
			ack := packet.PUBACK
			if qos == 2 {
				pub.expectAck(packet.PUBREC, 7)
				pub.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 7})
				ack = packet.PUBCOMP
			}
			select {
			case <-a.entered:
			case <-time.After(waitTime):
				t.Fatal("the delivery never started")
			}
			pub.expectNothing(200 * time.Millisecond)
			letGo()
			pub.expectAck(ack, 7)
			if m := sub.expectPublish(); m.Topic != "slow" {
				t.Fatalf("got %q", m.Topic)
			}
		})
	}
}

// TestAckAfterDeliveryWhileReceiving is TestAckAfterDelivery for a
// publisher that is also receiving a stream of messages, so that its
// connection's writer is busy when the PUBACK is queued: the PUBACK must
// still wait for the delivery.
func TestAckAfterDeliveryWhileReceiving(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	a := &slowReader{topic: "slow", entered: make(chan struct{}), release: make(chan struct{})}
	b.SetAuthorizer(a)
	var once sync.Once
	letGo := func() { once.Do(func() { close(a.release) }) }
	t.Cleanup(letGo)

	sub := mustConnect(t, b.addr, packet.V311, "sub", true)
	sub.subscribe(1, packet.Subscription{Filter: "slow", QoS: 1})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.subscribe(1, packet.Subscription{Filter: "stream", QoS: 0})
	streamer := mustConnect(t, b.addr, packet.V311, "streamer", true)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		one, _ := packet.Append(nil, &packet.Publish{Topic: "stream", Payload: []byte("x")}, packet.V311)
		burst := bytes.Repeat(one, 50)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := streamer.nc.Write(burst); err != nil {
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	// Wait for the stream to reach the publisher.
	if _, ok := pub.recv().(*packet.Publish); !ok {
		t.Fatal("the stream does not arrive")
	}
	pub.send(&packet.Publish{Topic: "slow", Payload: []byte("m"), QoS: 1, PacketID: 7})
	select {
	case <-a.entered:
	case <-time.After(waitTime):
		t.Fatal("the delivery never started")
	}
	// While the delivery is held up, the stream goes on; no PUBACK.
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
		p, err := pub.tryRecv(time.Until(end))
		if err != nil {
			break
		}
		if a, ok := p.(*packet.Ack); ok {
			t.Fatalf("%s %d before the delivery was done", a.Kind, a.PacketID)
		}
	}
	letGo()
	for {
		switch p := pub.recv().(type) {
		case *packet.Publish:
		case *packet.Ack:
			if p.Kind != packet.PUBACK || p.PacketID != 7 {
				t.Fatalf("got %s %d", p.Kind, p.PacketID)
			}
			return
		default:
			t.Fatalf("unexpected %s", p.Type())
		}
	}
}

// TestRetainedPublishDuringSubscribe subscribes while a retained publish
// is between matching the subscriptions and storing the retained message:
// the subscriber must get the message once, retained (the publish came
// first), not lose it in between.
func TestRetainedPublishDuringSubscribe(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	matched, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	t.Cleanup(broker.SetRetainedMatchedHook(func(topic string) {
		if topic == "r/t" {
			close(matched)
			<-release
		}
	}))
	t.Cleanup(letGo)

	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.send(&packet.Publish{Topic: "r/t", Payload: []byte("v"), QoS: 1, Retain: true, PacketID: 1})
	<-matched
	sub := mustConnect(t, b.addr, packet.V311, "sub", true)
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "r/#", QoS: 1}}})
	// The subscription waits for the publish; give it time to overtake
	// it if it could (past the order gate's bounded wait, order.go).
	sub.expectNothing(300 * time.Millisecond)
	letGo()
	pub.expectAck(packet.PUBACK, 1)
	if p, ok := sub.recv().(*packet.Suback); !ok || p.PacketID != 1 {
		t.Fatalf("got %+v, want SUBACK 1", p)
	}
	m := sub.expectPublish()
	if m.Topic != "r/t" || !m.Retain {
		t.Fatalf("got %q retain=%v, want r/t retained", m.Topic, m.Retain)
	}
	sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
	sub.expectNothing(100 * time.Millisecond)
}

// TestRetainedPublishRacesSubscribe sends a retained PUBLISH and a
// SUBSCRIBE to its topic at the same moment on two connections, many
// times: each time the subscriber must get the message exactly once,
// live or retained, never both and never neither.
func TestRetainedPublishRacesSubscribe(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	sub := mustConnect(t, b.addr, packet.V311, "sub", true)
	encode := func(p packet.Packet) []byte {
		w, err := packet.Append(nil, p, packet.V311)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	var wrong []string
	for i := range rounds {
		id := uint16(i%60000 + 1)
		name := fmt.Sprintf("race/%d", i)
		pb := encode(&packet.Publish{Topic: name, Payload: []byte("v"), QoS: 1, Retain: true, PacketID: id})
		sb := encode(&packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: name, QoS: 1}}})
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, w := range []struct {
			c *rawClient
			b []byte
		}{{pub, pb}, {sub, sb}} {
			wg.Go(func() {
				<-start
				_, _ = w.c.nc.Write(w.b)
			})
		}
		close(start)
		wg.Wait()
		pub.expectAck(packet.PUBACK, id)
		// The PUBACK means the message reached the subscriber if it was
		// subscribed; the SUBACK and retained messages come before the
		// answer to a later PINGREQ.
		sub.send(&packet.Pingreq{})
		got := 0
	read:
		for {
			switch p := sub.recv().(type) {
			case *packet.Suback:
			case *packet.Publish:
				got++
				sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
			case *packet.Pingresp:
				break read
			default:
				t.Fatalf("unexpected %s", p.Type())
			}
		}
		if got != 1 {
			wrong = append(wrong, fmt.Sprintf("%s: %d copies", name, got))
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("%d of %d rounds: %v", len(wrong), rounds, wrong)
	}
}

// A session matched by several of its subscriptions among other
// subscribers gets one copy, however its subscriptions came (one
// SUBSCRIBE, separate ones, some of them gone again); sessions with one
// subscription each get theirs.
func TestOverlappingSubscriptionsAmongOthers(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	var singles []*rawClient
	for i := range 3 {
		c := mustConnect(t, b.addr, packet.V311, fmt.Sprintf("single-%d", i), true)
		c.subscribe(1, packet.Subscription{Filter: "o/+"})
		singles = append(singles, c)
	}
	multi := mustConnect(t, b.addr, packet.V5, "multi", true)
	multi.subscribe(1, packet.Subscription{Filter: "o/+"})
	if n, several := b.SessionIndexed("multi"); n != 1 || several {
		t.Fatalf("one subscription: indexed %d, several %v", n, several)
	}
	multi.subscribe(2, packet.Subscription{Filter: "o/#"})
	multi.subscribe(3, packet.Subscription{Filter: "#"}, packet.Subscription{Filter: "o/#"}) // o/# again: replaced
	if n, several := b.SessionIndexed("multi"); n != 3 || !several {
		t.Fatalf("three subscriptions: indexed %d, several %v", n, several)
	}
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	check := func(payload string) {
		t.Helper()
		pub.publish("o/x", payload, 0, false, 0)
		for _, c := range append(singles, multi) {
			if m := c.expectPublish(); string(m.Payload) != payload {
				t.Fatalf("got %q, want %q", m.Payload, payload)
			}
		}
		for _, c := range append(singles, multi) {
			c.expectNothing(50 * time.Millisecond)
		}
	}
	check("three")
	multi.send(&packet.Unsubscribe{PacketID: 4, Filters: []string{"#", "o/+"}})
	if _, ok := multi.recv().(*packet.Unsuback); !ok {
		t.Fatal("no UNSUBACK")
	}
	if n, several := b.SessionIndexed("multi"); n != 1 || !several {
		t.Fatalf("back to one subscription: indexed %d, several %v", n, several)
	}
	check("one")
}
