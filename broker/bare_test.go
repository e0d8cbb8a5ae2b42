//go:build linux

package broker_test

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// waitBare waits until the connection of id is bare (want true) or has
// its net.Conn (want false).
func waitBare(t *testing.T, b *testBroker, id string, want bool) {
	t.Helper()
	waitFor(t, id+" bare: "+map[bool]string{true: "yes", false: "no"}[want], func() bool {
		bare, _ := b.BareState(id)
		return bare == want
	})
}

// bareOptions are testOptions with bare idle connections allowed.
func bareOptions() broker.Options {
	o := testOptions()
	o.BareIdle = true
	return o
}

// quiet waits longer than the parker's hot gap: the client's next packet
// is a quiet burst, after which its connection is parked at once (a busy
// one keeps its reader until the parker's idle nudge, seconds later).
func quiet() { time.Sleep(60 * time.Millisecond) }

// A parked connection with nothing to write gives up its net.Conn; a
// delivery and a packet from the client each bring it back, and it goes
// bare again when quiet.
func TestIdleConnectionGoesBare(t *testing.T) {
	t.Cleanup(broker.SetBareHold(100 * time.Millisecond))
	b := startBroker(t, bareOptions(), nil)
	sub := mustConnect(t, b.addr, packet.V5, "sub", true)
	quiet()
	sub.subscribe(1, packet.Subscription{Filter: "t", QoS: 1})
	waitBare(t, b, "sub", true)

	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	time.Sleep(150 * time.Millisecond) // longer than bareHold: not hot
	// publish waits for the PUBACK, which waits for the delivery.
	pub.publish("t", "to a bare subscriber", 1, false, 1)
	p := sub.expectPublish()
	if string(p.Payload) != "to a bare subscriber" || p.QoS != 1 {
		t.Fatalf("got %q QoS %d", p.Payload, p.QoS)
	}
	// Its PUBACK wakes the reader, which comes back too.
	sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
	waitBare(t, b, "sub", true)

	time.Sleep(150 * time.Millisecond)
	sub.ping()
	sub.subscribe(2, packet.Subscription{Filter: "u"})
	waitBare(t, b, "sub", true)
	pub.publish("u", "again", 0, false, 0)
	if p := sub.expectPublish(); string(p.Payload) != "again" {
		t.Fatalf("got %q", p.Payload)
	}
}

// A connection that comes back soon after going bare is hot: it keeps its
// net.Conn while it is busy, and goes bare once quiet for bareHold.
func TestHotConnectionStaysUntilQuiet(t *testing.T) {
	t.Cleanup(broker.SetBareHold(time.Second))
	b := startBroker(t, bareOptions(), nil)
	sub := mustConnect(t, b.addr, packet.V311, "sub", true)
	sub.subscribe(1, packet.Subscription{Filter: "t"})
	waitBare(t, b, "sub", true)
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	for range 20 {
		pub.publish("t", "x", 0, false, 0)
		sub.expectPublish()
		time.Sleep(10 * time.Millisecond)
	}
	if bare, hot := b.BareState("sub"); bare || !hot {
		t.Fatalf("receiving a stream: bare %v, hot %v; want a hot connection with its net.Conn", bare, hot)
	}
	start := time.Now()
	waitBare(t, b, "sub", true)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("went bare %v after the stream, before it was quiet for bareHold", d)
	}
	pub.publish("t", "after", 0, false, 0)
	if p := sub.expectPublish(); string(p.Payload) != "after" {
		t.Fatalf("got %q", p.Payload)
	}
}

// A bare connection whose client falls silent is still disconnected at
// one and a half times its keep alive.
func TestBareConnectionKeepAlive(t *testing.T) {
	b := startBroker(t, bareOptions(), nil)
	c := dialRaw(t, b.addr, packet.V5)
	if ack := c.connect(&packet.Connect{ClientID: "silent", CleanStart: true, KeepAlive: 1}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	waitBare(t, b, "silent", true)
	start := time.Now()
	d := c.expectClosed()
	if d == nil || d.ReasonCode != packet.KeepAliveTimeout {
		t.Fatalf("got DISCONNECT %v, want keep alive timeout", d)
	}
	if e := time.Since(start); e > 3*time.Second {
		t.Fatalf("disconnected after %v", e)
	}
}

// Taking over a bare connection's session sends it its DISCONNECT and
// closes it; a bare client's will goes out when its socket closes.
func TestBareConnectionTakeoverAndWill(t *testing.T) {
	b := startBroker(t, bareOptions(), nil)
	watcher := mustConnect(t, b.addr, packet.V311, "watcher", true)
	watcher.subscribe(1, packet.Subscription{Filter: "will/#"})

	old := mustConnect(t, b.addr, packet.V5, "dev", true)
	waitBare(t, b, "dev", true)
	mustConnect(t, b.addr, packet.V5, "dev", true)
	if d := old.expectClosed(); d == nil || d.ReasonCode != packet.SessionTakenOver {
		t.Fatalf("got DISCONNECT %v, want session taken over", d)
	}

	w := dialRaw(t, b.addr, packet.V311)
	if ack := w.connect(&packet.Connect{ClientID: "willer", CleanStart: true, KeepAlive: 60,
		Will: &packet.Will{Topic: "will/willer", Payload: []byte("gone")}}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	waitBare(t, b, "willer", true)
	w.nc.Close()
	if p := watcher.expectPublish(); p.Topic != "will/willer" || string(p.Payload) != "gone" {
		t.Fatalf("got %s %q", p.Topic, p.Payload)
	}
}

// Coming back keeps set_tcp_nodelay: a new net.Conn turns Nagle's
// algorithm off, and the broker turns it on again when so configured.
func TestBareConnectionKeepsNoDelay(t *testing.T) {
	t.Cleanup(broker.SetBareHold(50 * time.Millisecond))
	for _, noDelay := range []bool{false, true} {
		o := bareOptions()
		o.SetTCPNoDelay = noDelay
		b := startBroker(t, o, nil)
		sub := mustConnect(t, b.addr, packet.V311, "sub", true)
		quiet()
		sub.subscribe(1, packet.Subscription{Filter: "t"})
		waitBare(t, b, "sub", true)
		time.Sleep(100 * time.Millisecond)
		pub := mustConnect(t, b.addr, packet.V311, "pub", true)
		pub.publish("t", "x", 0, false, 0)
		sub.expectPublish()
		on, err := b.NoDelay("sub")
		if err != nil {
			t.Fatal(err)
		}
		if on != noDelay {
			t.Fatalf("set_tcp_nodelay %v: TCP_NODELAY %v after coming back", noDelay, on)
		}
	}
}

// Unix-socket connections go bare and come back too.
func TestBareUnixConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "midge.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l := broker.DefaultListener(0)
	l.AllowAnonymous = true
	t.Cleanup(broker.SetBareHold(100 * time.Millisecond))
	b := serve(t, broker.New(bareOptions()), ln, l)
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, nc: nc, version: packet.V311}
	t.Cleanup(func() { nc.Close() })
	if ack := c.connect(&packet.Connect{ClientID: "local", CleanStart: true, KeepAlive: 60}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	quiet()
	c.subscribe(1, packet.Subscription{Filter: "t"})
	waitBare(t, b, "local", true)
	c.ping()
	c.publish("t", "self", 0, false, 0)
	if p := c.expectPublish(); string(p.Payload) != "self" {
		t.Fatalf("got %q", p.Payload)
	}
}

// The address a client is known by stays as it was when the connection
// is bare: its own copy, not the socket's.
func TestBareConnectionRemoteAddress(t *testing.T) {
	b := startBroker(t, bareOptions(), nil)
	c := mustConnect(t, b.addr, packet.V311, "dev", true)
	waitBare(t, b, "dev", true)
	d, ok := b.SessionDetail("dev")
	if want := c.nc.LocalAddr().String(); !ok || d.RemoteAddr != want {
		t.Fatalf("bare connection's address %q, want %q", d.RemoteAddr, want)
	}
}
