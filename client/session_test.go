package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

func v5Connack(present bool) *packet.Connack {
	return &packet.Connack{SessionPresent: present}
}

// TestRedeliveryOnResume loses the connection with a QoS 1 and a QoS 2
// message unacknowledged and checks that they are resent with DUP and
// their identifiers, the PUBRECed one as PUBREL [MQTT-4.4.0-1].
func TestRedeliveryOnResume(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			s := newFakeServer(t)
			c, fc := connectFake(t, s, Options{ProtocolVersion: ver.v, ClientID: "resume",
				KeepSession: true, AutoReconnect: true, ReconnectDelay: time.Millisecond}, v5Connack(false))
			ctx := testCtx(t)
			errs := make(chan error, 3)
			publish := func(topic string, qos byte) {
				go func() {
					_, err := c.Publish(ctx, &Message{Topic: topic, QoS: qos})
					errs <- err
				}()
			}
			publish("a", 1)
			p1 := fc.readPublish()
			publish("b", 2)
			p2 := fc.readPublish()
			publish("c", 2)
			p3 := fc.readPublish()
			fc.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p3.PacketID})
			fc.readAck(packet.PUBREL, p3.PacketID)
			fc.nc.Close()

			fc = s.accept(ver.v, v5Connack(true))
			r1, r2 := fc.readPublish(), fc.readPublish()
			if r1.PacketID != p1.PacketID || !r1.Dup || r1.Topic != "a" || r2.PacketID != p2.PacketID || !r2.Dup || r2.Topic != "b" {
				t.Fatalf("resent %+v %+v, want DUP copies of %d and %d", r1, r2, p1.PacketID, p2.PacketID)
			}
			fc.readAck(packet.PUBREL, p3.PacketID)
			fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p1.PacketID})
			fc.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p2.PacketID})
			fc.readAck(packet.PUBREL, p2.PacketID)
			fc.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: p2.PacketID})
			fc.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: p3.PacketID})
			for range 3 {
				if err := <-errs; err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
		})
	}
}

// TestLostSessionResendsAsNew checks what happens when the server has no
// session on reconnection: unacknowledged messages go again as new ones.
func TestLostSessionResendsAsNew(t *testing.T) {
	s := newFakeServer(t)
	c, fc := connectFake(t, s, Options{ProtocolVersion: MQTT5, AutoReconnect: true, ReconnectDelay: time.Millisecond}, v5Connack(false))
	done := make(chan error, 1)
	go func() {
		_, err := c.Publish(testCtx(t), &Message{Topic: "a", QoS: 1})
		done <- err
	}()
	fc.readPublish()
	fc.nc.Close()
	fc = s.accept(MQTT5, v5Connack(false))
	p := fc.readPublish()
	if p.Dup {
		t.Fatal("DUP set on a message resent into a new session")
	}
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestInboundQoS2ExactlyOnce resends an incoming QoS 2 message after a
// lost connection and checks it is PUBRECed each time, delivered once
// when PUBREL arrives (as libmosquitto does), and completed by PUBCOMP.
func TestInboundQoS2ExactlyOnce(t *testing.T) {
	s := newFakeServer(t)
	on, got := collector()
	_, fc := connectFake(t, s, Options{ClientID: "eo", KeepSession: true,
		AutoReconnect: true, ReconnectDelay: time.Millisecond, OnMessage: on}, v5Connack(false))
	pub := &packet.Publish{Topic: "x", QoS: 2, PacketID: 7, Payload: []byte("once")}
	fc.send(pub)
	fc.readAck(packet.PUBREC, 7)
	select {
	case m := <-got:
		t.Fatalf("delivered %q before PUBREL", m.Payload)
	default:
	}
	fc.nc.Close()

	fc = s.accept(MQTT311, v5Connack(true))
	pub.Dup = true
	fc.send(pub)
	fc.readAck(packet.PUBREC, 7)
	fc.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 7})
	if m := receive(t, got); string(m.Payload) != "once" || m.PacketID != 7 {
		t.Fatalf("got %+v", m)
	}
	fc.readAck(packet.PUBCOMP, 7)
	// The identifier is free again: the same id is a new message.
	pub.Dup = false
	pub.Payload = []byte("again")
	fc.send(pub)
	fc.readAck(packet.PUBREC, 7)
	fc.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 7})
	if m := receive(t, got); string(m.Payload) != "again" {
		t.Fatalf("got %q, want the new message (the resent one was delivered twice?)", m.Payload)
	}
	fc.readAck(packet.PUBCOMP, 7)
	select {
	case m := <-got:
		t.Fatalf("delivered %q twice", m.Payload)
	default:
	}
}

// TestAckAfterHandler checks that the PUBACK waits for OnMessage.
func TestAckAfterHandler(t *testing.T) {
	s := newFakeServer(t)
	release := make(chan struct{})
	handled := make(chan struct{})
	_, fc := connectFake(t, s, Options{OnMessage: func(*Client, *Message) {
		close(handled)
		<-release
	}}, v5Connack(false))
	fc.send(&packet.Publish{Topic: "x", QoS: 1, PacketID: 3})
	<-handled
	if p, err := fc.readWithin(50 * time.Millisecond); err == nil {
		t.Fatalf("got %s before the handler returned", p.Type())
	}
	close(release)
	fc.readAck(packet.PUBACK, 3)
}

// TestServerReceiveMaximum checks that the client sends no more QoS 1
// messages than the server's Receive Maximum allows [MQTT-3.3.4-7].
func TestServerReceiveMaximum(t *testing.T) {
	s := newFakeServer(t)
	ack := v5Connack(false)
	ack.Properties.ReceiveMaximum = 2
	ack.Properties.Set(PropReceiveMaximum)
	c, fc := connectFake(t, s, Options{ProtocolVersion: MQTT5}, ack)
	ctx := testCtx(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := c.Publish(ctx, &Message{Topic: "w", QoS: 1})
			errs <- err
		}()
	}
	a, b := fc.readPublish(), fc.readPublish()
	if p, err := fc.readWithin(100 * time.Millisecond); err == nil {
		t.Fatalf("third %s sent beyond Receive Maximum 2", p.Type())
	}
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: a.PacketID})
	d := fc.readPublish()
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: b.PacketID})
	e := fc.readPublish()
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: d.PacketID})
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: e.PacketID})
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestClientReceiveMaximum has the server exceed the Receive Maximum the
// client announced: the client disconnects with 0x93 [MQTT-3.3.4-9].
func TestClientReceiveMaximum(t *testing.T) {
	s := newFakeServer(t)
	release := make(chan struct{})
	o := Options{ProtocolVersion: MQTT5, OnMessage: func(*Client, *Message) { <-release }}
	o.Properties.ReceiveMaximum = 1
	o.Properties.Set(PropReceiveMaximum)
	c, fc := connectFake(t, s, o, v5Connack(false))
	defer close(release)
	fc.send(&packet.Publish{Topic: "x", QoS: 1, PacketID: 1})
	fc.send(&packet.Publish{Topic: "x", QoS: 2, PacketID: 2})
	p := fc.read()
	if d, ok := p.(*packet.Disconnect); !ok || d.ReasonCode != ReceiveMaximumExceeded {
		t.Fatalf("got %+v, want DISCONNECT 0x93", p)
	}
	select {
	case <-c.ctx.Done():
	case <-time.After(waitTime):
		t.Fatal("client still running")
	}
	if !errors.Is(c.Err(), ErrProtocol) {
		t.Fatalf("Err %v", c.Err())
	}
}

// TestPubrecFailure ends a QoS 2 exchange at a failing PUBREC.
func TestPubrecFailure(t *testing.T) {
	s := newFakeServer(t)
	c, fc := connectFake(t, s, Options{ProtocolVersion: MQTT5}, v5Connack(false))
	type result struct {
		ack *Ack
		err error
	}
	done := make(chan result, 1)
	go func() {
		ack, err := c.Publish(testCtx(t), &Message{Topic: "x", QoS: 2})
		done <- result{ack, err}
	}()
	p := fc.readPublish()
	fc.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p.PacketID, ReasonCode: QuotaExceeded})
	r := <-done
	var re *ReasonError
	if !errors.As(r.err, &re) || re.ReasonCode != QuotaExceeded || r.ack == nil || r.ack.ReasonCode != QuotaExceeded {
		t.Fatalf("Publish: %v %v", r.ack, r.err)
	}
	if r.err.Error() != "client: PUBREC: Quota exceeded" {
		t.Fatalf("text %q", r.err)
	}
}

// TestInflightWindowContext checks that Publish waiting for a window slot
// gives up with its context.
func TestInflightWindowContext(t *testing.T) {
	s := newFakeServer(t)
	c, fc := connectFake(t, s, Options{MaxInflight: 1}, v5Connack(false))
	go c.Publish(testCtx(t), &Message{Topic: "x", QoS: 1})
	fc.readPublish()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Publish(ctx, &Message{Topic: "x", QoS: 1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish: %v, want deadline exceeded", err)
	}
}

func TestKeepAlive(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		s := newFakeServer(t)
		c, fc := connectFake(t, s, Options{KeepAlive: 20 * time.Millisecond}, v5Connack(false))
		for range 3 {
			if p := fc.read(); p.Type() != packet.PINGREQ {
				t.Fatalf("got %s", p.Type())
			}
			fc.send(&packet.Pingresp{})
		}
		if c.Err() != nil {
			t.Fatal(c.Err())
		}
	})
	t.Run("unanswered", func(t *testing.T) {
		s := newFakeServer(t)
		c, fc := connectFake(t, s, Options{KeepAlive: 20 * time.Millisecond}, v5Connack(false))
		if p := fc.read(); p.Type() != packet.PINGREQ {
			t.Fatalf("got %s", p.Type())
		}
		waitDone(t, c)
		if !errors.Is(c.Err(), ErrKeepAliveTimeout) {
			t.Fatalf("Err %v", c.Err())
		}
	})
	t.Run("server keep alive", func(t *testing.T) {
		s := newFakeServer(t)
		ack := v5Connack(false)
		ack.Properties.ServerKeepAlive = 1
		ack.Properties.Set(PropServerKeepAlive)
		_, fc := connectFake(t, s, Options{ProtocolVersion: MQTT5, KeepAlive: time.Hour}, ack)
		if p := fc.read(); p.Type() != packet.PINGREQ {
			t.Fatalf("got %s", p.Type())
		}
	})
}

// TestInboundTopicAlias resolves aliases set by the server and refuses
// ones above the announced maximum.
func TestInboundTopicAlias(t *testing.T) {
	s := newFakeServer(t)
	on, got := collector()
	o := Options{ProtocolVersion: MQTT5, OnMessage: on}
	o.Properties.TopicAliasMaximum = 2
	o.Properties.Set(PropTopicAliasMaximum)
	c, fc := connectFake(t, s, o, v5Connack(false))
	p := &packet.Publish{Topic: "long/topic", Payload: []byte("1")}
	p.Properties.TopicAlias = 2
	p.Properties.Set(PropTopicAlias)
	fc.send(p)
	p.Topic, p.Payload = "", []byte("2")
	fc.send(p)
	for _, want := range []string{"1", "2"} {
		m := receive(t, got)
		if m.Topic != "long/topic" || string(m.Payload) != want || m.Properties.Has(PropTopicAlias) {
			t.Fatalf("got %+v", m)
		}
	}
	p.Properties.TopicAlias = 3
	fc.send(p)
	if d, ok := fc.read().(*packet.Disconnect); !ok || d.ReasonCode != TopicAliasInvalid {
		t.Fatalf("got %+v, want DISCONNECT 0x94", d)
	}
	waitDone(t, c)
}

func TestPacketLimits(t *testing.T) {
	s := newFakeServer(t)
	ack := v5Connack(false)
	ack.Properties.MaximumPacketSize = 100
	ack.Properties.Set(PropMaximumPacketSize)
	ack.Properties.MaximumQoS = 1
	ack.Properties.Set(PropMaximumQoS)
	ack.Properties.RetainAvailable = 0
	ack.Properties.Set(PropRetainAvailable)
	c, _ := connectFake(t, s, Options{ProtocolVersion: MQTT5}, ack)
	ctx := testCtx(t)
	if _, err := c.Publish(ctx, &Message{Topic: "x", Payload: make([]byte, 100)}); !errors.Is(err, ErrPacketTooLarge) {
		t.Errorf("large: %v", err)
	}
	if _, err := c.Publish(ctx, &Message{Topic: "x", QoS: 2}); !errors.Is(err, ErrQoSNotSupported) {
		t.Errorf("QoS 2: %v", err)
	}
	if _, err := c.Publish(ctx, &Message{Topic: "x", Retain: true}); !errors.Is(err, ErrRetainNotSupported) {
		t.Errorf("retain: %v", err)
	}
	if _, err := c.Publish(ctx, &Message{Topic: "x/#"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("wildcard topic: %v", err)
	}
}

// TestConnectContext bounds Connect by its context when the server never
// answers.
func TestConnectContext(t *testing.T) {
	s := newFakeServer(t)
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		if nc, err := s.ln.Accept(); err == nil {
			t.Cleanup(func() { nc.Close() })
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Connect(ctx, Options{Address: s.addr()}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect: %v", err)
	}
	<-accepted
}

// TestOnSubackInOrder: a message that arrives before the SUBACK reaches
// OnMessage before OnSuback sees the SUBACK.
func TestOnSubackInOrder(t *testing.T) {
	s := newFakeServer(t)
	events := make(chan string, 4)
	c, fc := connectFake(t, s, Options{
		OnMessage: func(_ *Client, m *Message) { events <- "message " + m.Topic },
		OnSuback:  func(_ *Client, a *Suback) { events <- fmt.Sprintf("suback %d", a.ReasonCodes) },
	}, v5Connack(false))
	done := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(context.Background(), nil, Subscription{Filter: "a/#", QoS: 1})
		done <- err
	}()
	sub, ok := fc.read().(*packet.Subscribe)
	if !ok {
		t.Fatal("expected SUBSCRIBE")
	}
	fc.send(&packet.Publish{Topic: "a/queued", Payload: []byte("x")})
	fc.send(&packet.Suback{PacketID: sub.PacketID, ReasonCodes: []packet.ReasonCode{1}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"message a/queued", "suback [1]"} {
		select {
		case got := <-events:
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
}

// TestManualAckInOrder acknowledges messages out of order: the PUBACKs
// and PUBCOMPs still go out in arrival order [MQTT-4.6.0-2], each once
// all before it are acknowledged.
func TestManualAckInOrder(t *testing.T) {
	s := newFakeServer(t)
	got := make(chan *Message, 4)
	c, fc := connectFake(t, s, Options{ProtocolVersion: MQTT5, ManualAck: true,
		OnMessage: func(_ *Client, m *Message) { got <- m }}, v5Connack(false))
	fc.send(&packet.Publish{Topic: "x", QoS: 1, PacketID: 1})
	fc.send(&packet.Publish{Topic: "x", QoS: 1, PacketID: 2})
	fc.send(&packet.Publish{Topic: "x", QoS: 2, PacketID: 3})
	fc.readAck(packet.PUBREC, 3)
	fc.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 3})
	m1, m2, m3 := <-got, <-got, <-got
	c.Ack(m2)
	c.Ack(m3)
	if p, err := fc.readWithin(50 * time.Millisecond); err == nil {
		t.Fatalf("got %s %+v while the first message is not acknowledged", p.Type(), p)
	}
	c.Ack(m1)
	c.Ack(m1) // again: nothing more
	fc.readAck(packet.PUBACK, 1)
	fc.readAck(packet.PUBACK, 2)
	fc.readAck(packet.PUBCOMP, 3)
	fc.send(&packet.Publish{Topic: "x", QoS: 0})
	c.Ack(<-got) // QoS 0: nothing to send
	if p, err := fc.readWithin(50 * time.Millisecond); err == nil {
		t.Fatalf("got %s %+v after acknowledging QoS 0", p.Type(), p)
	}
}

// TestSendPipelines has several messages in flight from one goroutine,
// in order, each Pending answered by its own acknowledgement.
func TestSendPipelines(t *testing.T) {
	s := newFakeServer(t)
	c, fc := connectFake(t, s, Options{ProtocolVersion: MQTT5}, v5Connack(false))
	ctx := testCtx(t)
	var ps []*Pending
	for i := range 3 {
		p, err := c.Send(ctx, &Message{Topic: "t", Payload: []byte{byte('a' + i)}, QoS: 1})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	var ids []uint16
	for i := range 3 {
		pub := fc.readPublish()
		if string(pub.Payload) != string(rune('a'+i)) {
			t.Fatalf("message %d is %q", i, pub.Payload)
		}
		ids = append(ids, pub.PacketID)
	}
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: ids[2], ReasonCode: NotAuthorized})
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: ids[0]})
	if _, err := ps[0].Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var re *ReasonError
	if _, err := ps[2].Wait(ctx); !errors.As(err, &re) || re.ReasonCode != NotAuthorized {
		t.Fatalf("third: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := ps[1].Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second, not acknowledged: %v", err)
	}
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: ids[1]})
	if _, err := ps[1].Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestQoS2IdentifierReusedAfterPubcomp: a PUBLISH that reuses the
// identifier of a message whose PUBCOMP has just been written is a new
// message, even when it arrives before the client has forgotten the old
// one (the PUBCOMP's writer clears the identifier after the write).
func TestQoS2IdentifierReusedAfterPubcomp(t *testing.T) {
	s := newFakeServer(t)
	on, got := collector()
	c, fc := connectFake(t, s, Options{ClientID: "reuse", OnMessage: on}, v5Connack(false))
	// The moment between the PUBCOMP's write and the clearing.
	c.mu.Lock()
	c.sess.in2[9] = handled
	c.mu.Unlock()
	fc.send(&packet.Publish{Topic: "x", QoS: 2, PacketID: 9, Payload: []byte("new")})
	fc.readAck(packet.PUBREC, 9)
	fc.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 9})
	if m := receive(t, got); string(m.Payload) != "new" {
		t.Fatalf("got %q, want the new message", m.Payload)
	}
	fc.readAck(packet.PUBCOMP, 9)
}
