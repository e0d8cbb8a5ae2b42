package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

var versions = []struct {
	name string
	v    byte
}{{"3.1", packet.V31}, {"3.1.1", packet.V311}, {"5.0", packet.V5}}

func TestConnectEachVersion(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, b.addr, tc.v)
			ack := c.connect(&packet.Connect{ClientID: "c-" + tc.name, CleanStart: true, KeepAlive: 30})
			if ack.ReasonCode != 0 || ack.SessionPresent {
				t.Fatalf("CONNACK %+v", ack)
			}
			if tc.v == packet.V5 {
				if !ack.Properties.Has(packet.PropReceiveMaximum) || ack.Properties.ReceiveMaximum != 20 {
					t.Errorf("receive maximum %d, want 20", ack.Properties.ReceiveMaximum)
				}
				if ack.Properties.TopicAliasMaximum != 10 {
					t.Errorf("topic alias maximum %d, want 10", ack.Properties.TopicAliasMaximum)
				}
			}
			c.ping()
			c.send(&packet.Disconnect{})
			c.expectClosed()
		})
	}
}

func TestUnsupportedProtocolLevel(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	c := dialRaw(t, b.addr, packet.V311)
	// CONNECT "MQTT" level 6.
	c.sendBytes([]byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 0})
	ack, ok := c.recv().(*packet.Connack)
	if !ok || ack.ReasonCode != packet.V3UnacceptableProtocolVersion {
		t.Fatalf("got %+v, want CONNACK 1", ack)
	}
	c.expectClosed()
}

func TestFirstPacketMustBeConnect(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	c := dialRaw(t, b.addr, packet.V311)
	c.send(&packet.Pingreq{})
	c.expectClosed()
}

func TestSecondConnectClosesConnection(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			c := mustConnect(t, b.addr, tc.v, "twice", true)
			c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: tc.v, ClientID: "twice", CleanStart: true})
			// [MQTT-3.1.0-2] a protocol violation; Mosquitto closes the
			// connection without a DISCONNECT.
			if d := c.expectClosed(); d != nil {
				t.Fatalf("DISCONNECT %v, want none", d.ReasonCode)
			}
		})
	}
}

func TestZeroLengthClientID(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	cases := []struct {
		name  string
		v     byte
		clean bool
		want  packet.ReasonCode
	}{
		{"3.1 refused", packet.V31, true, packet.V3IdentifierRejected},
		{"3.1.1 clean accepted", packet.V311, true, 0},
		{"3.1.1 persistent refused", packet.V311, false, packet.V3IdentifierRejected},
		{"5 assigned", packet.V5, true, 0},
		{"5 persistent assigned", packet.V5, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, b.addr, tc.v)
			ack := c.connect(&packet.Connect{CleanStart: tc.clean})
			if ack.ReasonCode != tc.want {
				t.Fatalf("CONNACK %#x, want %#x", ack.ReasonCode, tc.want)
			}
			if tc.v == packet.V5 {
				id := ack.Properties.AssignedClientID
				if !strings.HasPrefix(id, "auto-") || len(id) != len("auto-")+36 {
					t.Fatalf("assigned id %q", id)
				}
			}
		})
	}
}

func TestZeroLengthClientIDDisallowed(t *testing.T) {
	l := broker.DefaultListener(0)
	l.AllowAnonymous = true
	l.AllowZeroLengthClientID = false
	b := startBroker(t, testOptions(), l)
	c := dialRaw(t, b.addr, packet.V5)
	// Mosquitto's code for it in 5.0: 0x80 Unspecified error.
	if ack := c.connect(&packet.Connect{CleanStart: true}); ack.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("CONNACK %#x, want 0x80", ack.ReasonCode)
	}
	c3 := dialRaw(t, b.addr, packet.V311)
	if ack := c3.connect(&packet.Connect{CleanStart: true}); ack.ReasonCode != packet.V3IdentifierRejected {
		t.Fatalf("CONNACK %#x, want 2", ack.ReasonCode)
	}
}

func TestAnonymousRefused(t *testing.T) {
	l := broker.DefaultListener(0)
	b := startBroker(t, testOptions(), l)
	for _, tc := range []struct {
		v    byte
		want packet.ReasonCode
	}{{packet.V311, packet.V3NotAuthorized}, {packet.V5, packet.NotAuthorized}} {
		c := dialRaw(t, b.addr, tc.v)
		if ack := c.connect(&packet.Connect{ClientID: "anon", CleanStart: true}); ack.ReasonCode != tc.want {
			t.Fatalf("v%d: CONNACK %#x, want %#x", tc.v, ack.ReasonCode, tc.want)
		}
		c.expectClosed()
	}
}

func TestMaxKeepalive(t *testing.T) {
	o := testOptions()
	o.MaxKeepalive = 30
	b := startBroker(t, o, nil)
	c := dialRaw(t, b.addr, packet.V5)
	ack := c.connect(&packet.Connect{ClientID: "ka5", CleanStart: true, KeepAlive: 0})
	if ack.ReasonCode != 0 || !ack.Properties.Has(packet.PropServerKeepAlive) || ack.Properties.ServerKeepAlive != 30 {
		t.Fatalf("CONNACK %+v, want Server Keep Alive 30", ack)
	}
	c3 := dialRaw(t, b.addr, packet.V311)
	if ack := c3.connect(&packet.Connect{ClientID: "ka3", CleanStart: true, KeepAlive: 60}); ack.ReasonCode != packet.V3IdentifierRejected {
		t.Fatalf("3.1.1 CONNACK %#x, want 2", ack.ReasonCode)
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	watcher := mustConnect(t, b.addr, packet.V311, "watcher", true)
	watcher.subscribe(1, packet.Subscription{Filter: "will/#"})

	c := dialRaw(t, b.addr, packet.V5)
	start := time.Now()
	c.connect(&packet.Connect{ClientID: "sleepy", CleanStart: true, KeepAlive: 1,
		Will: &packet.Will{Topic: "will/sleepy", Payload: []byte("gone")}})
	d := c.expectClosed()
	if el := time.Since(start); el < time.Second {
		t.Fatalf("closed after %v, before the keep alive", el)
	}
	if d == nil || d.ReasonCode != packet.KeepAliveTimeout {
		t.Fatalf("DISCONNECT %+v, want 0x8D", d)
	}
	if p := watcher.expectPublish(); p.Topic != "will/sleepy" || string(p.Payload) != "gone" {
		t.Fatalf("will %+v", p)
	}
}

func TestSessionTakeover(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	watcher := mustConnect(t, b.addr, packet.V311, "watcher", true)
	watcher.subscribe(1, packet.Subscription{Filter: "will/#"})

	old := dialRaw(t, b.addr, packet.V5)
	old.connect(&packet.Connect{ClientID: "dup", CleanStart: true, KeepAlive: 60,
		Will: &packet.Will{Topic: "will/dup", Payload: []byte("taken")}})
	newer := mustConnect(t, b.addr, packet.V5, "dup", true)
	d := old.expectClosed()
	if d == nil || d.ReasonCode != packet.SessionTakenOver {
		t.Fatalf("DISCONNECT %+v, want 0x8E", d)
	}
	if p := watcher.expectPublish(); p.Topic != "will/dup" {
		t.Fatalf("will %+v", p)
	}
	newer.ping()
}

func TestSessionPresentAndResume(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	for _, tc := range versions[1:] {
		t.Run(tc.name, func(t *testing.T) {
			id := "persist-" + tc.name
			c := dialRaw(t, b.addr, tc.v)
			conn := &packet.Connect{ClientID: id, CleanStart: false, KeepAlive: 60}
			if tc.v == packet.V5 {
				conn.Properties.SessionExpiry = 300
				conn.Properties.Set(packet.PropSessionExpiry)
			}
			if ack := c.connect(conn); ack.SessionPresent {
				t.Fatal("session present on first connect")
			}
			c.subscribe(1, packet.Subscription{Filter: "persist/" + tc.name, QoS: 1})
			c.send(&packet.Disconnect{})
			c.expectClosed()

			// Offline: messages are queued.
			p := mustConnect(t, b.addr, packet.V311, "pub-"+tc.name, true)
			p.publish("persist/"+tc.name, "queued", 1, false, 7)

			c2 := dialRaw(t, b.addr, tc.v)
			if ack := c2.connect(conn); !ack.SessionPresent {
				t.Fatal("session not present on reconnect")
			}
			m := c2.expectPublish()
			if string(m.Payload) != "queued" || m.QoS != 1 {
				t.Fatalf("got %+v", m)
			}
			c2.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})

			// Clean start discards the session.
			c2.send(&packet.Disconnect{})
			c2.expectClosed()
			c3 := dialRaw(t, b.addr, tc.v)
			conn.CleanStart = true
			if ack := c3.connect(conn); ack.SessionPresent {
				t.Fatal("session present after clean start")
			}
		})
	}
}

func TestRedeliveryWithDup(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	for _, qos := range []byte{1, 2} {
		id := "redeliver-" + string('0'+qos)
		c := mustConnect(t, b.addr, packet.V311, id, false)
		c.subscribe(1, packet.Subscription{Filter: "r/" + id, QoS: qos})
		p := mustConnect(t, b.addr, packet.V311, "p"+id, true)
		p.publish("r/"+id, "once", qos, false, 1)
		first := c.expectPublish()
		if first.Dup {
			t.Fatal("DUP on first delivery")
		}
		c.nc.Close() // no ack: the message stays in flight

		c2 := mustConnect(t, b.addr, packet.V311, id, false)
		again := c2.expectPublish()
		if !again.Dup || again.PacketID != first.PacketID || string(again.Payload) != "once" {
			t.Fatalf("redelivery %+v, first %+v", again, first)
		}
		if qos == 1 {
			c2.send(&packet.Ack{Kind: packet.PUBACK, PacketID: again.PacketID})
		} else {
			c2.send(&packet.Ack{Kind: packet.PUBREC, PacketID: again.PacketID})
			c2.expectAck(packet.PUBREL, again.PacketID)
			// Lose the connection between PUBREL and PUBCOMP: PUBREL again.
			c2.nc.Close()
			c3 := mustConnect(t, b.addr, packet.V311, id, false)
			c3.expectAck(packet.PUBREL, again.PacketID)
			c3.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: again.PacketID})
			c3.ping()
			c3.send(&packet.Disconnect{})
			continue
		}
		c2.ping()
		c2.send(&packet.Disconnect{})
	}
}
