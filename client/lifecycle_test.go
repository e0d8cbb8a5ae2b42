package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// TestServerDisconnect checks that a v5 server's DISCONNECT ends the client
// with a *DisconnectError carrying the reason code.
func TestServerDisconnect(t *testing.T) {
	srv, addr := startBroker(t, nil)
	c := connect(t, Options{Address: addr, ProtocolVersion: MQTT5})
	srv.Close()
	waitDone(t, c)
	var de *DisconnectError
	if !errors.As(c.Err(), &de) || de.ReasonCode != ServerShuttingDown {
		t.Fatalf("Err %v, want DISCONNECT 0x8B", c.Err())
	}
	if got := de.Error(); got != "server disconnected: Server shutting down" {
		t.Fatalf("text %q", got)
	}
	if _, err := c.Publish(testCtx(t), &Message{Topic: "x"}); !errors.Is(err, de) {
		t.Fatalf("Publish after the end: %v", err)
	}
}

// TestSessionTakenOver: a second connection with the same client id
// takes the session over [MQTT-3.1.4-3].
func TestSessionTakenOver(t *testing.T) {
	_, addr := startBroker(t, nil)
	first := connect(t, Options{Address: addr, ProtocolVersion: MQTT5, ClientID: "same"})
	connect(t, Options{Address: addr, ProtocolVersion: MQTT5, ClientID: "same"})
	waitDone(t, first)
	var de *DisconnectError
	if !errors.As(first.Err(), &de) || de.ReasonCode != SessionTakenOver {
		t.Fatalf("Err %v", first.Err())
	}
}

// TestBrokerSessionResumption subscribes with a persistent session, goes
// away, and receives what was published meanwhile on return.
func TestBrokerSessionResumption(t *testing.T) {
	_, addr := startBroker(t, nil)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			ctx := testCtx(t)
			o := Options{Address: addr, ProtocolVersion: ver.v, ClientID: "persist-" + ver.name, KeepSession: true}
			o.Properties.SessionExpiry = 300
			o.Properties.Set(PropSessionExpiry)
			c := connect(t, o)
			if _, err := c.Subscribe(ctx, nil, Subscription{Filter: "offline/" + ver.name, QoS: 2}); err != nil {
				t.Fatal(err)
			}
			stop(t, c)
			pub := connect(t, Options{Address: addr, ProtocolVersion: ver.v})
			for _, qos := range []byte{1, 2} {
				if _, err := pub.Publish(ctx, &Message{Topic: "offline/" + ver.name, QoS: qos, Payload: []byte{qos}}); err != nil {
					t.Fatal(err)
				}
			}
			on, got := collector()
			o.OnMessage = on
			c = connect(t, o)
			if ver.v != MQTT31 && !c.Connack().SessionPresent {
				t.Fatal("session not present")
			}
			for _, qos := range []byte{1, 2} {
				if m := receive(t, got); m.QoS != qos || m.Payload[0] != qos {
					t.Fatalf("got %+v", m)
				}
			}
		})
	}
}

// cuttableListener lets a test break server-side connections.
type cuttableListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *cuttableListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, nc)
		l.mu.Unlock()
	}
	return nc, err
}

func (l *cuttableListener) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, nc := range l.conns {
		nc.Close()
	}
	l.conns = nil
}

// TestAutoReconnect breaks the connection and checks that the client
// reconnects, calls OnConnect again and works afterwards.
func TestAutoReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &cuttableListener{Listener: ln}
	serveBroker(t, cl, nil)
	connected := make(chan *Connack, 4)
	lost := make(chan error, 4)
	on, got := collector()
	c := connect(t, Options{
		Address: ln.Addr().String(), ProtocolVersion: MQTT5, OnMessage: on,
		AutoReconnect: true, ReconnectDelay: time.Millisecond,
		OnConnect: func(ctx context.Context, c *Client, ack *Connack) {
			if _, err := c.Subscribe(ctx, nil, Subscription{Filter: "r", QoS: 1}); err != nil {
				t.Errorf("Subscribe in OnConnect: %v", err)
			}
			connected <- ack
		},
		OnConnectionLost: func(_ *Client, err error) { lost <- err },
	})
	<-connected
	cl.cut()
	if err := <-lost; !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("OnConnectionLost: %v", err)
	}
	select {
	case <-connected:
	case <-time.After(waitTime):
		t.Fatal("no reconnection")
	}
	if _, err := c.Publish(testCtx(t), &Message{Topic: "r", QoS: 1, Payload: []byte("back")}); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, got); string(m.Payload) != "back" {
		t.Fatalf("got %+v", m)
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
}

// TestNoReconnect checks that without AutoReconnect a lost connection
// ends the client and fails waiting calls.
func TestNoReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &cuttableListener{Listener: ln}
	serveBroker(t, cl, nil)
	c := connect(t, Options{Address: ln.Addr().String()})
	cl.cut()
	waitDone(t, c)
	if !errors.Is(c.Err(), ErrConnectionLost) {
		t.Fatalf("Err %v", c.Err())
	}
	if _, err := c.Subscribe(testCtx(t), nil, Subscription{Filter: "x"}); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Subscribe: %v", err)
	}
}

// TestOutgoingTopicAliases publishes through aliases to our broker.
func TestOutgoingTopicAliases(t *testing.T) {
	_, addr := startBroker(t, func(_ *broker.Options, l *broker.Listener) { l.MaxTopicAlias = 1 })
	on, got := collector()
	o := Options{Address: addr, ProtocolVersion: MQTT5, OnMessage: on}
	o.Properties.TopicAliasMaximum = 3 // the broker aliases towards us too
	o.Properties.Set(PropTopicAliasMaximum)
	sub := connect(t, o)
	ctx := testCtx(t)
	if _, err := sub.Subscribe(ctx, nil, Subscription{Filter: "alias/#"}); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, Options{Address: addr, ProtocolVersion: MQTT5, TopicAliases: true})
	topics := []string{"alias/one", "alias/one", "alias/two", "alias/one", "alias/two"}
	for _, tp := range topics {
		if _, err := pub.Publish(ctx, &Message{Topic: tp, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tp := range topics {
		if m := receive(t, got); m.Topic != tp {
			t.Fatalf("got %q, want %q", m.Topic, tp)
		}
	}
}

// TestDisconnectFromHandler disconnects from inside OnMessage, as
// mosquitto_sub -C does.
func TestDisconnectFromHandler(t *testing.T) {
	_, addr := startBroker(t, nil)
	var c *Client
	ready := make(chan struct{})
	c = connect(t, Options{Address: addr, OnMessage: func(cl *Client, m *Message) {
		<-ready
		if err := cl.Disconnect(context.Background(), Success, nil); err != nil {
			t.Errorf("Disconnect: %v", err)
		}
	}})
	close(ready)
	ctx := testCtx(t)
	if _, err := c.Subscribe(ctx, nil, Subscription{Filter: "h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &Message{Topic: "h"}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err %v", c.Err())
	}
}

func TestDisconnectSessionExpiry(t *testing.T) {
	_, addr := startBroker(t, nil)
	c := connect(t, Options{Address: addr, ProtocolVersion: MQTT5})
	var p Properties
	p.SessionExpiry = 10
	p.Set(PropSessionExpiry)
	if err := c.Disconnect(testCtx(t), Success, &p); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Disconnect: %v, want ErrInvalid [MQTT-3.14.2-2]", err)
	}
}

// TestMaxTopicAliases: the client uses no more aliases than
// MaxTopicAliases, even when the server allows more.
func TestMaxTopicAliases(t *testing.T) {
	s := newFakeServer(t)
	ack := &packet.Connack{}
	ack.Properties.TopicAliasMaximum = 10
	ack.Properties.Set(PropTopicAliasMaximum)
	c, fc := connectFake(t, s, Options{ProtocolVersion: MQTT5, TopicAliases: true, MaxTopicAliases: 2}, ack)
	type sent struct {
		topic string
		alias uint16
	}
	want := []sent{{"a", 1}, {"b", 2}, {"c", 0}, {"a", 1}, {"", 2}, {"c", 0}}
	for _, tp := range []string{"a", "b", "c", "a", "b", "c"} {
		if _, err := c.Send(testCtx(t), &Message{Topic: tp}); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range want {
		p := fc.readPublish()
		alias := uint16(0)
		if p.Properties.Has(PropTopicAlias) {
			alias = p.Properties.TopicAlias
		}
		if i == 3 {
			w.topic = "" // an alias already set up is sent without its topic
		}
		if p.Topic != w.topic || alias != w.alias {
			t.Fatalf("PUBLISH %d: topic %q alias %d, want %q alias %d", i, p.Topic, alias, w.topic, w.alias)
		}
	}
}

// TestBacklog counts the messages waiting for a busy handler.
func TestBacklog(t *testing.T) {
	s := newFakeServer(t)
	release := make(chan struct{})
	c, fc := connectFake(t, s, Options{OnMessage: func(*Client, *Message) { <-release }}, &packet.Connack{})
	for i := range 4 {
		fc.send(&packet.Publish{Topic: "x", QoS: 1, PacketID: uint16(i + 1)})
	}
	deadline := time.Now().Add(waitTime)
	for c.Backlog() != 3 { // one is in the handler
		if time.Now().After(deadline) {
			t.Fatalf("Backlog %d, want 3", c.Backlog())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	for c.Backlog() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Backlog %d after the handler returned, want 0", c.Backlog())
		}
		time.Sleep(time.Millisecond)
	}
}
