package broker_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

func TestIntrospection(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub := mustConnect(t, b.addr, packet.V5, "watcher", true)
	sub.subscribe(1, packet.Subscription{Filter: "a/#", QoS: 1}, packet.Subscription{Filter: "$share/g/b/+", QoS: 0})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	pub.publish("a/x", "hello", 1, true, 7)
	sub.expectPublish()
	pub.publish("b/y", "world", 0, true, 0)
	pub.ping() // the QoS 0 publish was handled
	sub.expectPublish()

	sessions := b.Sessions()
	if len(sessions) != 2 || sessions[0].ClientID != "pub" || sessions[1].ClientID != "watcher" {
		t.Fatalf("sessions %+v", sessions)
	}
	w := sessions[1]
	if !w.Connected || w.ProtocolVersion != packet.V5 || w.RemoteAddr == "" || w.ConnectedAt.IsZero() || w.KeepAlive != 60*time.Second {
		t.Errorf("watcher %+v", w)
	}
	if len(w.Subscriptions) != 2 || w.Subscriptions[0].Filter != "$share/g/b/+" || w.Subscriptions[1].Filter != "a/#" || w.Subscriptions[1].QoS != 1 {
		t.Errorf("subscriptions %+v", w.Subscriptions)
	}
	if _, ok := b.SessionDetail("nobody"); ok {
		t.Error("a session for an unknown client")
	}

	var topics []string
	if err := b.Retained("#", func(m broker.RetainedMessage) bool {
		topics = append(topics, m.Topic+"="+string(m.Payload))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(topics) != 2 || topics[0] != "a/x=hello" || topics[1] != "b/y=world" {
		t.Errorf("retained %v", topics)
	}
	if err := b.Retained("a/#/b", func(broker.RetainedMessage) bool { return true }); err == nil {
		t.Error("a bad filter was accepted")
	}
	if err := b.DeleteRetained("a/x"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteRetained("a/x"); !errors.Is(err, broker.ErrNoRetained) {
		t.Errorf("second delete: %v", err)
	}
	sub.expectNothing(100 * time.Millisecond) // deleting publishes nothing
	late := mustConnect(t, b.addr, packet.V311, "late", true)
	late.subscribe(1, packet.Subscription{Filter: "a/x", QoS: 0})
	late.expectNothing(100 * time.Millisecond)

	st := b.Stats()
	if st.PublishReceivedQoS != [3]int64{1, 1, 0} || st.PublishSentQoS[1] != 1 || st.Sessions != 3 {
		t.Errorf("stats %+v", st)
	}

	if !b.Disconnect("watcher") {
		t.Fatal("Disconnect found no client")
	}
	if d := sub.expectClosed(); d == nil || d.ReasonCode != packet.AdministrativeAction {
		t.Errorf("disconnect %+v, want reason 0x98", d)
	}
	if b.Disconnect("watcher") || b.Disconnect("nobody") {
		t.Error("Disconnect of a client not connected reported true")
	}
	if len(b.Listeners()) != 1 {
		t.Errorf("listeners %+v", b.Listeners())
	}
}

func TestRefusedAndDeniedCounted(t *testing.T) {
	l := broker.DefaultListener(0)
	l.AllowAnonymous = false
	b := startBroker(t, testOptions(), l)
	c := dialRaw(t, b.addr, packet.V5)
	if ack := c.connect(&packet.Connect{ClientID: "x", CleanStart: true}); ack.ReasonCode == packet.Success {
		t.Fatal("anonymous client accepted")
	}
	c3 := dialRaw(t, b.addr, packet.V311)
	c3.connect(&packet.Connect{ClientID: "y", CleanStart: true})
	st := b.Stats()
	if st.Refused[byte(packet.NotAuthorized)] != 2 || len(st.Refused) != 1 {
		t.Errorf("refused %v, want 2 under 0x87", st.Refused)
	}
}

func TestControlHandler(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	got := make(chan string, 4)
	b.HandleControl("$CONTROL/test/v1", func(ci *broker.ClientInfo, topic string, payload []byte) {
		got <- ci.ClientID + " " + topic + " " + string(payload)
		_, _ = b.Publish(broker.Message{Topic: "$CONTROL/test/v1/response", Payload: []byte("ok")})
	})
	c := mustConnect(t, b.addr, packet.V311, "ctl", true)
	c.subscribe(1, packet.Subscription{Filter: "$CONTROL/#", QoS: 0})
	c.send(&packet.Publish{Topic: "$CONTROL/test/v1", Payload: []byte("req"), QoS: 1, PacketID: 3})
	// The response (published before the PUBACK, as Mosquitto's
	// plugins do) and the PUBACK; the request itself is not routed.
	for range 2 {
		switch p := c.recv().(type) {
		case *packet.Publish:
			if p.Topic != "$CONTROL/test/v1/response" {
				t.Errorf("received %q", p.Topic)
			}
		case *packet.Ack:
			if p.Kind != packet.PUBACK || p.PacketID != 3 {
				t.Errorf("ack %+v", p)
			}
		default:
			t.Errorf("received %s", p.Type())
		}
	}
	if s := <-got; s != "ctl $CONTROL/test/v1 req" {
		t.Errorf("handler got %q", s)
	}
	// Another $CONTROL topic, or one whose handler is gone, goes
	// nowhere, as in Mosquitto; the publisher is answered all the same.
	b.HandleControl("$CONTROL/test/v1", nil)
	c.publish("$CONTROL/other", "x", 1, false, 4)
	c.publish("$CONTROL/test/v1", "y", 2, false, 5)
	c.publish("$CONTROL/test/v1", "z", 0, false, 0)
	c.ping()
	c.expectNothing(50 * time.Millisecond)
	if len(got) != 0 {
		t.Errorf("handler called after removal: %q", <-got)
	}
}

func TestDisconnectUsername(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	connectUser := func(id, user string, v byte) *rawClient {
		c := dialRaw(t, b.addr, v)
		p := &packet.Connect{ClientID: id, CleanStart: true}
		if user != "" {
			p.Username, p.UsernameFlag = user, true
		}
		if ack := c.connect(p); ack.ReasonCode != 0 {
			t.Fatalf("%s refused", id)
		}
		return c
	}
	a1 := connectUser("a1", "alice", packet.V5)
	a2 := connectUser("a2", "alice", packet.V311)
	bob := connectUser("b", "bob", packet.V5)
	anon := connectUser("n", "", packet.V311)
	if n := b.DisconnectUsername("alice", true, false); n != 2 {
		t.Errorf("disconnected %d of alice's, want 2", n)
	}
	if d := a1.expectClosed(); d == nil || d.ReasonCode != packet.AdministrativeAction {
		t.Errorf("v5 client got %+v, want DISCONNECT 0x98", d)
	}
	a2.expectClosed()
	bob.ping()
	anon.ping()
	if n := b.DisconnectUsername("", false, false); n != 1 {
		t.Errorf("disconnected %d without username, want 1", n)
	}
	anon.expectClosed()
	bob.ping()
}

// revokingAuth allows every subscription until revoked, then none under
// "secret/".
type revokingAuth struct{ revoked atomic.Bool }

func (*revokingAuth) Authenticate(*broker.ClientInfo) byte { return 0 }
func (a *revokingAuth) Authorize(_ *broker.ClientInfo, t string, access broker.Access) bool {
	return access != broker.AccessSubscribe || !a.revoked.Load() || !strings.HasPrefix(t, "secret/")
}

func TestDisconnectUsernameDropsRevokedSubscriptions(t *testing.T) {
	opts := testOptions()
	a := &revokingAuth{}
	opts.Auth = a
	b := startBroker(t, opts, nil)
	for _, expiry := range []uint32{3600, 0} {
		c := dialRaw(t, b.addr, packet.V5)
		p := &packet.Connect{ClientID: "kept", CleanStart: true, Username: "u", UsernameFlag: true}
		if expiry > 0 {
			p.Properties.SessionExpiry = expiry
			p.Properties.Set(packet.PropSessionExpiry)
		}
		c.connect(p)
		c.subscribe(1, packet.Subscription{Filter: "secret/#", QoS: 1}, packet.Subscription{Filter: "open/#", QoS: 1})
		a.revoked.Store(true)
		b.DisconnectUsername("u", true, false)
		c.expectClosed()
		if expiry == 0 {
			waitFor(t, "the session without expiry to end", func() bool { _, ok := b.SessionDetail("kept"); return !ok })
		} else if d, ok := b.SessionDetail("kept"); !ok || len(d.Subscriptions) != 1 || d.Subscriptions[0].Filter != "open/#" {
			t.Errorf("persistent session after the kick: %+v", d)
		}
		a.revoked.Store(false)
	}
}
