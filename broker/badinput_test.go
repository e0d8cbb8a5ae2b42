package broker_test

import (
	"bytes"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// TestMalformedPacketsCloseOnlyThatConnection sends each kind of bad input
// on its own connection and checks the reason code, and that a bystander
// keeps working. As Mosquitto, a bad PUBLISH, SUBSCRIBE or UNSUBSCRIBE is
// answered with a DISCONNECT carrying the reason; after any other bad
// packet the connection closes without one (want 0).
func TestMalformedPacketsCloseOnlyThatConnection(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	bystander := mustConnect(t, b.addr, packet.V311, "bystander", true)
	bystander.subscribe(1, packet.Subscription{Filter: "ok"})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)

	cases := []struct {
		name string
		raw  []byte
		want packet.ReasonCode // v5 DISCONNECT reason; 0: none
	}{
		{"wildcard in topic", []byte{0x30, 5, 0, 3, 'a', '/', '#'}, packet.ProtocolError},
		{"plus in topic", []byte{0x30, 5, 0, 3, 'a', '/', '+'}, packet.ProtocolError},
		{"QoS 3", []byte{0x36, 6, 0, 1, 'a', 0, 1, 0}, packet.MalformedPacket},
		{"PUBLISH packet id 0", []byte{0x32, 6, 0, 1, 'a', 0, 0, 0}, packet.ProtocolError},
		{"PUBLISH property not allowed", []byte{0x30, 10, 0, 1, 'a', 5, 0x11, 0, 0, 0, 0, 'x'}, packet.MalformedPacket},
		{"PUBLISH truncated properties", []byte{0x32, 5, 0, 1, 'a', 0, 1}, packet.MalformedPacket},
		{"PUBLISH duplicate property", []byte{0x30, 8, 0, 1, 'a', 4, 0x01, 1, 0x01, 1}, packet.ProtocolError},
		{"invalid UTF-8 topic", []byte{0x30, 5, 0, 2, 0xff, 0xfe, 0}, packet.MalformedPacket},
		{"U+0000 in topic", []byte{0x30, 5, 0, 2, 'a', 0, 0}, packet.MalformedPacket},
		{"reserved flags on PINGREQ", []byte{0xC1, 0}, 0},
		{"PINGREQ with a body", []byte{0xC0, 1, 0}, 0},
		{"SUBSCRIBE wrong flags", []byte{0x80, 6, 0, 1, 0, 1, 'a', 0}, packet.MalformedPacket},
		{"SUBSCRIBE packet id 0", []byte{0x82, 6, 0, 0, 0, 0, 1, 'a', 0}, packet.MalformedPacket},
		{"SUBSCRIBE subscription id 0", []byte{0x82, 8, 0, 1, 2, 0x0B, 0, 0, 1, 'a', 0}, packet.MalformedPacket},
		{"SUBSCRIBE QoS 3", []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 3}, packet.MalformedPacket},
		{"empty SUBSCRIBE", []byte{0x82, 3, 0, 1, 0}, packet.MalformedPacket},
		{"UNSUBSCRIBE packet id 0", []byte{0xA2, 6, 0, 0, 0, 0, 1, 'a'}, packet.MalformedPacket},
		{"UNSUBSCRIBE property not allowed", []byte{0xA2, 11, 0, 1, 5, 0x11, 0, 0, 0, 0, 0, 1, 'a'}, packet.MalformedPacket},
		{"remaining length too long", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 0},
		{"non-minimal remaining length", []byte{0xC0, 0x80, 0x00}, 0},
		{"subscription id from client", []byte{0x30, 7, 0, 1, 'a', 2, 0x0B, 1, 'x'}, packet.ProtocolError},
		{"truncated body", []byte{0x30, 10, 0, 8, 'a'}, 0},
		{"reserved packet type 0", []byte{0x0A, 0xC0, 't'}, packet.ProtocolError},
		{"CONNACK from client", []byte{0x20, 3, 0, 0, 0}, 0},
		{"SUBACK from client", []byte{0x90, 3, 0, 1, 0}, 0},
		{"UNSUBACK from client", []byte{0xB0, 3, 0, 1, 0}, 0},
		{"PINGRESP from client", []byte{0xD0, 0}, 0},
		{"bad subscription filter", []byte{0x82, 8, 0, 1, 0, 0, 3, 'a', '#', 'b', 0}, packet.MalformedPacket},
		{"PUBACK too short", []byte{0x40, 1, 0}, 0},
		{"PUBACK packet id 0", []byte{0x40, 2, 0, 0}, 0},
		{"PUBREL wrong flags", []byte{0x60, 2, 0, 1}, 0},
		{"PUBACK bad reason code", []byte{0x40, 3, 0, 1, 0x8F}, 0},
		{"PUBACK property length overrun", []byte{0x40, 4, 0, 1, 0, 5}, 0},
		{"truncated PUBACK", []byte{0x40, 2, 0}, 0},
		{"DISCONNECT bad reason code", []byte{0xE0, 1, 0x03}, packet.ProtocolError},
		{"DISCONNECT reserved flags", []byte{0xE1, 0}, packet.MalformedPacket},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := v5Connect(t, b.addr, "bad", nil)
			c.sendBytes(tc.raw)
			if tc.name == "truncated body" || tc.name == "truncated PUBACK" {
				c.nc.(*net.TCPConn).CloseWrite()
			}
			d := c.expectClosed()
			switch {
			case tc.want == 0 && d != nil:
				t.Fatalf("DISCONNECT %v, want none", d.ReasonCode)
			case tc.want != 0 && (d == nil || d.ReasonCode != tc.want):
				t.Fatalf("DISCONNECT %+v, want %#x", d, byte(tc.want))
			}
			pub.publish("ok", tc.name, 0, false, 0)
			if m := bystander.expectPublish(); string(m.Payload) != tc.name {
				t.Fatalf("bystander got %+v", m)
			}
		})
	}
}

func TestNoConnectTimeout(t *testing.T) {
	o := testOptions()
	o.ConnectTimeout = 200 * time.Millisecond
	b := startBroker(t, o, nil)
	c := dialRaw(t, b.addr, packet.V311)
	c.expectClosed()
}

func TestMessageSizeLimit(t *testing.T) {
	o := testOptions()
	o.MessageSizeLimit = 10
	b := startBroker(t, o, nil)
	sub := mustConnect(t, b.addr, packet.V311, "sub", true)
	sub.subscribe(1, packet.Subscription{Filter: "big"})
	c, _ := v5Connect(t, b.addr, "pub", nil)
	c.send(&packet.Publish{Topic: "big", Payload: make([]byte, 11), QoS: 1, PacketID: 1})
	// 0x95 Packet too large, which Mosquitto sends although the
	// specification does not list it for PUBACK.
	if a := c.expectAck(packet.PUBACK, 1); a.ReasonCode != packet.PacketTooLarge {
		t.Fatalf("PUBACK %#x, want 0x95", a.ReasonCode)
	}
	sub.expectNothing(100 * time.Millisecond)
}

func TestRetainUnavailable(t *testing.T) {
	o := testOptions()
	o.RetainAvailable = false
	b := startBroker(t, o, nil)
	c, ack := v5Connect(t, b.addr, "r", nil)
	if !ack.Properties.Has(packet.PropRetainAvailable) || ack.Properties.RetainAvailable != 0 {
		t.Fatal("Retain Available 0 not announced")
	}
	c.send(&packet.Publish{Topic: "x", Payload: []byte("x"), Retain: true})
	if d := c.expectClosed(); d == nil || d.ReasonCode != packet.RetainNotSupported {
		t.Fatalf("DISCONNECT %+v, want 0x9A", d)
	}
}

func TestSlowSubscriberDoesNotBlockOthers(t *testing.T) {
	o := testOptions()
	o.MaxQueuedMessages = 100
	b := startBroker(t, o, nil)
	// The slow subscriber never reads.
	slow := mustConnect(t, b.addr, packet.V311, "slow", true)
	slow.subscribe(1, packet.Subscription{Filter: "flood"})
	fast := mustConnect(t, b.addr, packet.V311, "fast", true)
	fast.subscribe(1, packet.Subscription{Filter: "news"})
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)

	payload := make([]byte, 4096)
	const n = 3000 // ~12 MB: far beyond the slow socket's buffers
	for range n {
		pub.send(&packet.Publish{Topic: "flood", Payload: payload})
	}
	pub.ping() // the publisher was never blocked by the slow socket
	pub.publish("news", "still moving", 1, false, 1)
	if m := fast.expectPublish(); string(m.Payload) != "still moving" {
		t.Fatalf("got %+v", m)
	}
	if b.Stats().Dropped == 0 {
		t.Fatal("no drops counted for the slow subscriber")
	}
}

// TestBadInitialPacketsUseNoMemory sends, as the first packet of 14
// connections, each packet type but CONNECT announcing a body of about
// 256 MB, and checks that the broker closes them without reading or
// allocating the bodies (Mosquitto's 01-bad-initial-packets checks the
// same through its process size).
func TestBadInitialPacketsUseNoMemory(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	junk := bytes.Repeat([]byte{1}, 1<<20)
	for typ := byte(2); typ <= 15; typ++ {
		c := dialRaw(t, b.addr, packet.V311)
		// Remaining length 0x80 0x80 0x80 0x74: 243 MB.
		c.sendBytes([]byte{typ << 4, 0x80, 0x80, 0x80, 0x74})
		_ = c.nc.SetWriteDeadline(time.Now().Add(waitTime))
		_, _ = c.nc.Write(junk) // may fail once the broker has closed
		if d := c.expectClosed(); d != nil {
			t.Fatalf("type %d: DISCONNECT before CONNECT", typ)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 16<<20 {
		t.Fatalf("heap grew by %d MB", grown>>20)
	}
}
