package broker_test

import (
	"net"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// serveExtra adds a second listener l to a running test broker.
func serveExtra(t *testing.T, b *testBroker, l *broker.Listener) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, b.Server, ln, l).addr
}

func TestMountPoint(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	ml := broker.DefaultListener(0)
	ml.AllowAnonymous = true
	ml.MountPoint = "site1/"
	maddr := serveExtra(t, b, ml)

	for _, v := range []byte{packet.V311, packet.V5} {
		plain := mustConnect(t, b.addr, v, "plain", true)
		plain.subscribe(1, packet.Subscription{Filter: "site1/#", QoS: 1})
		mounted := mustConnect(t, maddr, v, "mounted", true)
		mounted.subscribe(1, packet.Subscription{Filter: "#", QoS: 1})
		shared := mustConnect(t, maddr, v, "shared", true)
		shared.subscribe(1, packet.Subscription{Filter: "$share/g/a/+", QoS: 0})

		// A publish from the mounted listener lands under the mount point.
		mounted.publish("a/b", "m", 0, false, 0)
		if p := plain.expectPublish(); p.Topic != "site1/a/b" {
			t.Fatalf("v%d plain got %q", v, p.Topic)
		}
		// ... and reaches mounted subscribers with the prefix stripped.
		if p := mounted.expectPublish(); p.Topic != "a/b" {
			t.Fatalf("v%d mounted got %q", v, p.Topic)
		}
		if p := shared.expectPublish(); p.Topic != "a/b" {
			t.Fatalf("v%d shared got %q", v, p.Topic)
		}
		// Messages outside the mount point never reach its clients.
		plain.publish("other/x", "o", 0, false, 0)
		plain.publish("site1/c", "in", 0, true, 0)
		if p := mounted.expectPublish(); p.Topic != "c" || string(p.Payload) != "in" {
			t.Fatalf("v%d mounted got %q %q", v, p.Topic, p.Payload)
		}
		if p := plain.expectPublish(); p.Topic != "site1/c" {
			t.Fatalf("v%d plain got %q", v, p.Topic)
		}
		mounted.expectNothing(100 * time.Millisecond)

		// Retained messages are found and delivered through the mount point.
		late := mustConnect(t, maddr, v, "late", true)
		late.subscribe(1, packet.Subscription{Filter: "c", QoS: 0})
		if p := late.expectPublish(); p.Topic != "c" || !p.Retain {
			t.Fatalf("v%d retained got %q retain=%v", v, p.Topic, p.Retain)
		}
		plain.publish("site1/c", "", 0, true, 0) // clear it for the next round
		plain.expectPublish()
		mounted.expectPublish()
		late.expectPublish()
		for _, c := range []*rawClient{plain, mounted, shared, late} {
			c.nc.Close()
		}
	}
}

func TestServerPublish(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	c := mustConnect(t, b.addr, packet.V5, "c", true)
	c.subscribe(1, packet.Subscription{Filter: "$SYS/broker/log/#", QoS: 2})
	if n, err := b.Publish(broker.Message{Topic: "$SYS/broker/log/N", Payload: []byte("hello"), QoS: 2, Expiry: 20 * time.Second}); err != nil || n != 1 {
		t.Fatalf("Publish: %d %v", n, err)
	}
	p := c.expectPublish()
	if p.Topic != "$SYS/broker/log/N" || string(p.Payload) != "hello" || p.QoS != 2 || p.Properties.MessageExpiry != 20 {
		t.Fatalf("got %+v", p)
	}
	if _, err := b.Publish(broker.Message{Topic: "a/+"}); err == nil {
		t.Fatal("Publish accepted a wildcard topic")
	}
}
