package client

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/midge-mqtt/midge/broker"
)

var versions = []struct {
	name string
	v    byte
}{{"3.1", MQTT31}, {"3.1.1", MQTT311}, {"5", MQTT5}}

// TestPubSub sends every QoS both ways through the broker with every
// protocol version.
func TestPubSub(t *testing.T) {
	_, addr := startBroker(t, nil)
	for _, ver := range versions {
		for qos := range byte(3) {
			t.Run(fmt.Sprintf("v%s/qos%d", ver.name, qos), func(t *testing.T) {
				on, got := collector()
				sub := connect(t, Options{Address: addr, ProtocolVersion: ver.v, ClientID: "sub", OnMessage: on})
				pub := connect(t, Options{Address: addr, ProtocolVersion: ver.v, ClientID: "pub"})
				ctx := testCtx(t)
				sa, err := sub.Subscribe(ctx, nil, Subscription{Filter: "t/#", QoS: qos})
				if err != nil {
					t.Fatal(err)
				}
				if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != ReasonCode(qos) {
					t.Fatalf("SUBACK %v, want granted QoS %d", sa.ReasonCodes, qos)
				}
				for i := range 3 {
					ack, err := pub.Publish(ctx, &Message{Topic: "t/a", Payload: fmt.Appendf(nil, "m%d", i), QoS: qos})
					if err != nil || ack == nil || ack.ReasonCode != Success {
						t.Fatalf("Publish: %v %v", ack, err)
					}
				}
				for i := range 3 {
					m := receive(t, got)
					if m.Topic != "t/a" || !bytes.Equal(m.Payload, fmt.Appendf(nil, "m%d", i)) || m.QoS != qos || m.Retain {
						t.Fatalf("got %+v", m)
					}
					if (qos > 0) != (m.PacketID != 0) {
						t.Fatalf("packet id %d at QoS %d", m.PacketID, qos)
					}
				}
				ua, err := sub.Unsubscribe(ctx, nil, "t/#")
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{true: 1, false: 0}[ver.v == MQTT5]; len(ua.ReasonCodes) != want {
					t.Fatalf("UNSUBACK codes %v", ua.ReasonCodes)
				}
			})
		}
	}
}

// TestProperties round-trips the MQTT 5 message properties and the
// subscription identifier.
func TestProperties(t *testing.T) {
	_, addr := startBroker(t, nil)
	on, got := collector()
	sub := connect(t, Options{Address: addr, ProtocolVersion: MQTT5, OnMessage: on})
	ctx := testCtx(t)
	var sp Properties
	sp.SubscriptionIDs = []uint32{42}
	sp.User = []UserProperty{{Key: "sub", Value: "x"}}
	if _, err := sub.Subscribe(ctx, &sp, Subscription{Filter: "p/+", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	var p Properties
	p.PayloadFormat = 1
	p.Set(PropPayloadFormat)
	p.MessageExpiry = 60
	p.Set(PropMessageExpiry)
	p.ContentType = "text/plain"
	p.Set(PropContentType)
	p.ResponseTopic = "reply/here"
	p.Set(PropResponseTopic)
	p.CorrelationData = []byte{1, 2, 3}
	p.Set(PropCorrelationData)
	p.User = []UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}
	if _, err := sub.Publish(ctx, &Message{Topic: "p/q", Payload: []byte("hi"), QoS: 1, Properties: p}); err != nil {
		t.Fatal(err)
	}
	m := receive(t, got)
	mp := &m.Properties
	if !mp.Has(PropPayloadFormat) || mp.PayloadFormat != 1 || !mp.Has(PropMessageExpiry) || mp.MessageExpiry == 0 ||
		mp.ContentType != "text/plain" || mp.ResponseTopic != "reply/here" || !bytes.Equal(mp.CorrelationData, []byte{1, 2, 3}) ||
		len(mp.User) != 2 || mp.User[1].Value != "w" || len(mp.SubscriptionIDs) != 1 || mp.SubscriptionIDs[0] != 42 {
		t.Fatalf("properties %+v", mp)
	}
}

func TestRetained(t *testing.T) {
	_, addr := startBroker(t, nil)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			ctx := testCtx(t)
			pub := connect(t, Options{Address: addr, ProtocolVersion: ver.v})
			topic := "retained/" + ver.name
			if _, err := pub.Publish(ctx, &Message{Topic: topic, Payload: []byte("kept"), QoS: 1, Retain: true}); err != nil {
				t.Fatal(err)
			}
			on, got := collector()
			sub := connect(t, Options{Address: addr, ProtocolVersion: ver.v, OnMessage: on})
			if _, err := sub.Subscribe(ctx, nil, Subscription{Filter: topic, QoS: 1}); err != nil {
				t.Fatal(err)
			}
			if m := receive(t, got); !m.Retain || string(m.Payload) != "kept" {
				t.Fatalf("got %+v", m)
			}
		})
	}
}

func TestWill(t *testing.T) {
	_, addr := startBroker(t, nil)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			ctx := testCtx(t)
			on, got := collector()
			sub := connect(t, Options{Address: addr, ProtocolVersion: ver.v, OnMessage: on})
			if _, err := sub.Subscribe(ctx, nil, Subscription{Filter: "will/#", QoS: 2}); err != nil {
				t.Fatal(err)
			}
			w := &Will{Topic: "will/" + ver.name, Payload: []byte("gone"), QoS: 1}
			w.Properties.ContentType = "text/plain"
			w.Properties.Set(PropContentType)
			c, err := Connect(ctx, Options{Address: addr, ProtocolVersion: ver.v, Will: w})
			if err != nil {
				t.Fatal(err)
			}
			c.Close() // no DISCONNECT: the will goes out
			waitDone(t, c)
			if !errors.Is(c.Err(), ErrClosed) {
				t.Fatalf("Err %v", c.Err())
			}
			m := receive(t, got)
			if m.Topic != w.Topic || string(m.Payload) != "gone" || m.QoS != 1 {
				t.Fatalf("got %+v", m)
			}
			if ver.v == MQTT5 && m.Properties.ContentType != "text/plain" {
				t.Fatalf("will properties lost: %+v", m.Properties)
			}
		})
	}
}

// TestDisconnectKeepsWillUnsent checks that a normal DISCONNECT drops the
// will [MQTT-3.1.2-10] and DisconnectWithWill sends it.
func TestDisconnectWithWill(t *testing.T) {
	_, addr := startBroker(t, nil)
	ctx := testCtx(t)
	on, got := collector()
	sub := connect(t, Options{Address: addr, ProtocolVersion: MQTT5, OnMessage: on})
	if _, err := sub.Subscribe(ctx, nil, Subscription{Filter: "will/#"}); err != nil {
		t.Fatal(err)
	}
	quiet, err := Connect(ctx, Options{Address: addr, ProtocolVersion: MQTT5, Will: &Will{Topic: "will/quiet"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := quiet.Disconnect(ctx, Success, nil); err != nil {
		t.Fatal(err)
	}
	waitDone(t, quiet)
	loud, err := Connect(ctx, Options{Address: addr, ProtocolVersion: MQTT5, Will: &Will{Topic: "will/loud"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := loud.Disconnect(ctx, DisconnectWithWill, nil); err != nil {
		t.Fatal(err)
	}
	waitDone(t, loud)
	if m := receive(t, got); m.Topic != "will/loud" {
		t.Fatalf("got will %q", m.Topic)
	}
	// A second, normal publish proves nothing else was queued before it.
	if _, err := sub.Publish(ctx, &Message{Topic: "will/marker", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, got); m.Topic != "will/marker" {
		t.Fatalf("got %q, want the marker", m.Topic)
	}
}

// TestConnectRefused checks the error texts of refused connections.
func TestConnectRefused(t *testing.T) {
	_, addr := startBroker(t, func(_ *broker.Options, l *broker.Listener) { l.AllowAnonymous = false })
	for _, tc := range []struct {
		v    byte
		text string
	}{
		{MQTT31, "Connection Refused: not authorised."},
		{MQTT311, "Connection Refused: not authorised."},
		{MQTT5, "Not authorized"},
	} {
		_, err := Connect(testCtx(t), Options{Address: addr, ProtocolVersion: tc.v})
		var ce *ConnectError
		if !errors.As(err, &ce) || err.Error() != tc.text {
			t.Errorf("v%d: error %v, want %q", tc.v, err, tc.text)
		}
	}
}

func TestConnackAndAssignedID(t *testing.T) {
	_, addr := startBroker(t, nil)
	c := connect(t, Options{Address: addr, ProtocolVersion: MQTT5})
	ack := c.Connack()
	if ack.SessionPresent || ack.ReasonCode != Success || !ack.Properties.Has(PropAssignedClientID) {
		t.Fatalf("CONNACK %+v", ack)
	}
	if c.ClientID() == "" || c.ClientID() != ack.Properties.AssignedClientID {
		t.Fatalf("ClientID %q", c.ClientID())
	}
}

func TestReasonStrings(t *testing.T) {
	for code, want := range map[ReasonCode]string{
		0x87: "Not authorized", 0x86: "Bad User Name or Password", 0x95: "Packet too large",
		0x10: "No matching subscribers", 0x8B: "Server shutting down", 0x03: "Unknown reason",
	} {
		if got := ReasonString(code); got != want {
			t.Errorf("ReasonString(%#x) = %q, want %q", code, got, want)
		}
	}
	for code, want := range map[ReasonCode]string{
		1: "Connection Refused: unacceptable protocol version.",
		2: "Connection Refused: identifier rejected.",
		3: "Connection Refused: broker unavailable.",
		4: "Connection Refused: bad user name or password.",
		5: "Connection Refused: not authorised.",
	} {
		if got := (&ConnectError{ReasonCode: code, ProtocolVersion: MQTT311}).Error(); got != want {
			t.Errorf("code %d: %q, want %q", code, got, want)
		}
	}
}

// TestConcurrentPublish publishes from many goroutines through a small
// in-flight window and counts every message at the subscriber.
func TestConcurrentPublish(t *testing.T) {
	_, addr := startBroker(t, nil)
	got := make(chan *Message, 200)
	sub := connect(t, Options{Address: addr, ProtocolVersion: MQTT5, OnMessage: func(_ *Client, m *Message) { got <- m }})
	ctx := testCtx(t)
	if _, err := sub.Subscribe(ctx, nil, Subscription{Filter: "c/#", QoS: 2}); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, Options{Address: addr, ProtocolVersion: MQTT5, MaxInflight: 3, TopicAliases: true})
	errs := make(chan error, 200)
	for i := range 200 {
		go func() {
			_, err := pub.Publish(ctx, &Message{Topic: fmt.Sprintf("c/%d", i%7), QoS: byte(1 + i%2)})
			errs <- err
		}()
	}
	for range 200 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for range 200 {
		receive(t, got)
	}
}
