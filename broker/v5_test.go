package broker_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

func v5Connect(t *testing.T, addr, id string, edit func(*packet.Connect)) (*rawClient, *packet.Connack) {
	t.Helper()
	c := dialRaw(t, addr, packet.V5)
	p := &packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 60}
	if edit != nil {
		edit(p)
	}
	ack := c.connect(p)
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	return c, ack
}

func TestV5PropertiesPassThrough(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub, _ := v5Connect(t, b.addr, "sub", nil)
	sub.subscribe(1, packet.Subscription{Filter: "props"})
	v3 := mustConnect(t, b.addr, packet.V311, "v3", true)
	v3.subscribe(1, packet.Subscription{Filter: "props"})

	pub, _ := v5Connect(t, b.addr, "pub", nil)
	p := &packet.Publish{Topic: "props", Payload: []byte(`{"a":1}`)}
	pr := &p.Properties
	pr.PayloadFormat = 1
	pr.Set(packet.PropPayloadFormat)
	pr.ContentType = "application/json"
	pr.Set(packet.PropContentType)
	pr.ResponseTopic = "reply/here"
	pr.Set(packet.PropResponseTopic)
	pr.CorrelationData = []byte{1, 2, 3}
	pr.Set(packet.PropCorrelationData)
	pr.User = []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "v2"}}
	pub.send(p)

	m := sub.expectPublish()
	got := &m.Properties
	if got.PayloadFormat != 1 || got.ContentType != "application/json" || got.ResponseTopic != "reply/here" ||
		!bytes.Equal(got.CorrelationData, []byte{1, 2, 3}) || !reflect.DeepEqual(got.User, pr.User) {
		t.Fatalf("properties not forwarded: %+v", got)
	}
	if m := v3.expectPublish(); string(m.Payload) != `{"a":1}` {
		t.Fatalf("3.1.1 subscriber got %+v", m)
	}
}

func TestV5MessageExpiry(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	// A persistent subscriber, offline while messages wait.
	edit := func(p *packet.Connect) {
		p.CleanStart = false
		p.Properties.SessionExpiry = 60
		p.Properties.Set(packet.PropSessionExpiry)
	}
	sub, _ := v5Connect(t, b.addr, "exp-sub", edit)
	sub.subscribe(1, packet.Subscription{Filter: "exp/#", QoS: 1})
	sub.send(&packet.Disconnect{})
	sub.expectClosed()

	pub, _ := v5Connect(t, b.addr, "pub", nil)
	short := &packet.Publish{Topic: "exp/short", Payload: []byte("s"), QoS: 1, PacketID: 1}
	short.Properties.MessageExpiry = 1
	short.Properties.Set(packet.PropMessageExpiry)
	long := &packet.Publish{Topic: "exp/long", Payload: []byte("l"), QoS: 1, PacketID: 2}
	long.Properties.MessageExpiry = 100
	long.Properties.Set(packet.PropMessageExpiry)
	pub.send(short)
	pub.expectAck(packet.PUBACK, 1)
	pub.send(long)
	pub.expectAck(packet.PUBACK, 2)

	// Wait out the short expiry, measured by the broker's own clock.
	time.Sleep(1100 * time.Millisecond)
	sub2, _ := v5Connect(t, b.addr, "exp-sub", edit)
	m := sub2.expectPublish()
	if m.Topic != "exp/long" {
		t.Fatalf("expired message delivered: %+v", m)
	}
	if e := m.Properties.MessageExpiry; !m.Properties.Has(packet.PropMessageExpiry) || e > 99 || e < 90 {
		t.Fatalf("remaining expiry %d, want 90..99", e)
	}
}

func TestV5TopicAliasFromClient(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub, _ := v5Connect(t, b.addr, "sub", nil)
	sub.subscribe(1, packet.Subscription{Filter: "alias/#"})

	pub, _ := v5Connect(t, b.addr, "pub", nil)
	p := &packet.Publish{Topic: "alias/one", Payload: []byte("1")}
	p.Properties.TopicAlias = 3
	p.Properties.Set(packet.PropTopicAlias)
	pub.send(p)
	p2 := &packet.Publish{Topic: "", Payload: []byte("2")}
	p2.Properties.TopicAlias = 3
	p2.Properties.Set(packet.PropTopicAlias)
	pub.send(p2)
	for _, want := range []string{"1", "2"} {
		m := sub.expectPublish()
		if m.Topic != "alias/one" || string(m.Payload) != want || m.Properties.Has(packet.PropTopicAlias) {
			t.Fatalf("got %+v", m)
		}
	}

	// Alias above the maximum (10): DISCONNECT 0x94.
	bad := &packet.Publish{Topic: "alias/x", Payload: []byte("x")}
	bad.Properties.TopicAlias = 11
	bad.Properties.Set(packet.PropTopicAlias)
	pub.send(bad)
	if d := pub.expectClosed(); d == nil || d.ReasonCode != packet.TopicAliasInvalid {
		t.Fatalf("DISCONNECT %+v, want 0x94", d)
	}

	// Unknown alias with an empty topic: protocol error.
	pub2, _ := v5Connect(t, b.addr, "pub2", nil)
	unk := &packet.Publish{Payload: []byte("x")}
	unk.Properties.TopicAlias = 4
	unk.Properties.Set(packet.PropTopicAlias)
	pub2.send(unk)
	if d := pub2.expectClosed(); d == nil || d.ReasonCode != packet.ProtocolError {
		t.Fatalf("DISCONNECT %+v, want 0x82", d)
	}
}

func TestV5TopicAliasToClient(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub, _ := v5Connect(t, b.addr, "sub", func(p *packet.Connect) {
		p.Properties.TopicAliasMaximum = 5
		p.Properties.Set(packet.PropTopicAliasMaximum)
	})
	sub.subscribe(1, packet.Subscription{Filter: "ta/#"})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("ta/x", "1", 0, false, 0)
	pub.publish("ta/x", "2", 0, false, 0)
	m1 := sub.expectPublish()
	m2 := sub.expectPublish()
	if m1.Topic != "ta/x" || m1.Properties.TopicAlias == 0 {
		t.Fatalf("first %+v: want topic and alias", m1)
	}
	if m2.Topic != "" || m2.Properties.TopicAlias != m1.Properties.TopicAlias {
		t.Fatalf("second %+v: want alias only", m2)
	}
}

func TestV5ReceiveMaximumToClient(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub, _ := v5Connect(t, b.addr, "sub", func(p *packet.Connect) {
		p.Properties.ReceiveMaximum = 2
		p.Properties.Set(packet.PropReceiveMaximum)
	})
	sub.subscribe(1, packet.Subscription{Filter: "rm", QoS: 1})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	for i := range 4 {
		pub.publish("rm", string(rune('a'+i)), 1, false, uint16(i+1))
	}
	m1, m2 := sub.expectPublish(), sub.expectPublish()
	sub.expectNothing(150 * time.Millisecond) // window full
	sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m1.PacketID})
	m3 := sub.expectPublish()
	sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m2.PacketID})
	m4 := sub.expectPublish()
	if got := string(m1.Payload) + string(m2.Payload) + string(m3.Payload) + string(m4.Payload); got != "abcd" {
		t.Fatalf("order %q", got)
	}
}

func TestV5ReceiveMaximumFromClient(t *testing.T) {
	o := testOptions()
	o.MaxInflightMessages = 2
	b := startBroker(t, o, nil)
	pub, ack := v5Connect(t, b.addr, "pub", nil)
	if ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("receive maximum %d", ack.Properties.ReceiveMaximum)
	}
	for id := uint16(1); id <= 3; id++ {
		pub.send(&packet.Publish{Topic: "q2", Payload: []byte("x"), QoS: 2, PacketID: id})
	}
	pub.expectAck(packet.PUBREC, 1)
	pub.expectAck(packet.PUBREC, 2)
	if d := pub.expectClosed(); d == nil || d.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Fatalf("DISCONNECT %+v, want 0x93", d)
	}
}

func TestV5MaximumPacketSizeToClient(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub, _ := v5Connect(t, b.addr, "sub", func(p *packet.Connect) {
		p.Properties.MaximumPacketSize = 64
		p.Properties.Set(packet.PropMaximumPacketSize)
	})
	sub.subscribe(1, packet.Subscription{Filter: "mps", QoS: 1})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("mps", string(make([]byte, 100)), 1, false, 1) // too large: never sent
	pub.publish("mps", "small", 1, false, 2)
	if m := sub.expectPublish(); string(m.Payload) != "small" {
		t.Fatalf("got %d bytes", len(m.Payload))
	}
}

func TestMaxPacketSizeFromClient(t *testing.T) {
	o := testOptions()
	o.MaxPacketSize = 100
	b := startBroker(t, o, nil)
	c, ack := v5Connect(t, b.addr, "big", nil)
	if ack.Properties.MaximumPacketSize != 100 {
		t.Fatalf("maximum packet size %d", ack.Properties.MaximumPacketSize)
	}
	c.send(&packet.Publish{Topic: "t", Payload: make([]byte, 200)})
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.PacketTooLarge {
		t.Fatalf("DISCONNECT %+v, want 0x95", d)
	}
}

func TestV5SubscriptionOptions(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	c, _ := v5Connect(t, b.addr, "self", nil)
	sub := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: "opt/nl", NoLocal: true},
		{Filter: "opt/rap", RetainAsPublished: true},
		{Filter: "opt/id/+"},
	}}
	c.send(sub)
	c.recv()
	sid := &packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "opt/id/#"}}}
	sid.Properties.SubscriptionIDs = []uint32{42}
	c.send(sid)
	c.recv()

	c.send(&packet.Publish{Topic: "opt/nl", Payload: []byte("mine")}) // no local: not back to me
	c.send(&packet.Publish{Topic: "opt/rap", Payload: []byte("r"), Retain: true})
	m := c.expectPublish()
	if m.Topic != "opt/rap" || !m.Retain {
		t.Fatalf("retain as published: %+v", m)
	}
	c.send(&packet.Publish{Topic: "opt/id/x", Payload: []byte("i")})
	m = c.expectPublish()
	if !reflect.DeepEqual(m.Properties.SubscriptionIDs, []uint32{42}) {
		t.Fatalf("subscription ids %v, want [42]", m.Properties.SubscriptionIDs)
	}
}

func TestV5RetainHandling(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("rh/x", "kept", 1, true, 1) // acknowledged: stored before we subscribe

	c, _ := v5Connect(t, b.addr, "rh", nil)
	// 2: never send retained.
	c.subscribe(1, packet.Subscription{Filter: "rh/+", RetainHandling: 2})
	c.expectNothing(100 * time.Millisecond)
	// 1: only for a new subscription.
	c.subscribe(2, packet.Subscription{Filter: "rh/#", RetainHandling: 1})
	c.expectPublish()
	c.subscribe(3, packet.Subscription{Filter: "rh/#", RetainHandling: 1})
	c.expectNothing(100 * time.Millisecond)
	// 0: always.
	c.subscribe(4, packet.Subscription{Filter: "rh/#", RetainHandling: 0})
	c.expectPublish()
}

func TestV5SessionExpiry(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	edit := func(p *packet.Connect) {
		p.CleanStart = false
		p.Properties.SessionExpiry = 1
		p.Properties.Set(packet.PropSessionExpiry)
	}
	c, _ := v5Connect(t, b.addr, "short", edit)
	c.send(&packet.Disconnect{})
	c.expectClosed()
	waitFor(t, "session expiry", func() bool { return b.SessionCount() == 0 })

	// Expiry 0 in CONNECT, then non-zero in DISCONNECT: protocol error.
	c2, _ := v5Connect(t, b.addr, "zero", nil)
	d := &packet.Disconnect{}
	d.Properties.SessionExpiry = 30
	d.Properties.Set(packet.PropSessionExpiry)
	c2.send(d)
	if got := c2.expectClosed(); got == nil || got.ReasonCode != packet.ProtocolError {
		t.Fatalf("DISCONNECT %+v, want 0x82", got)
	}
}

func TestV5NoMatchingSubscribers(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	c, _ := v5Connect(t, b.addr, "lonely", nil)
	c.send(&packet.Publish{Topic: "nobody", Payload: []byte("x"), QoS: 1, PacketID: 1})
	if a := c.expectAck(packet.PUBACK, 1); a.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("PUBACK reason %#x, want 0x10", a.ReasonCode)
	}
}
