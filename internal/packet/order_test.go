package packet

import (
	"bytes"
	"slices"
	"testing"
)

// A forwarded PUBLISH keeps its publisher's property order, as Mosquitto
// forwards it: subscription identifiers first, message expiry last.
func TestPublishPropertyOrder(t *testing.T) {
	wire := frame(0x30, cat(str("t"), props(
		0x26, str("a"), str("1"),
		0x03, str("text/plain"),
		0x02, 0, 0, 0, 60,
		0x26, str("b"), str("2"),
		0x08, str("re"),
	), "x")...)
	p, err := decodeAll(t, V5, wire)
	if err != nil {
		t.Fatal(err)
	}
	pub := p.(*Publish)
	want := []PropID{PropUserProperty, PropContentType, PropMessageExpiry, PropUserProperty, PropResponseTopic}
	if got := pub.Properties.Order(); !slices.Equal(got, want) {
		t.Fatalf("Order() = %v, want %v", got, want)
	}
	// Re-encoded as is: the expiry moves to the end, the rest keeps its order.
	out, err := Append(nil, pub, V5)
	if err != nil {
		t.Fatal(err)
	}
	expect := frame(0x30, cat(str("t"), props(
		0x26, str("a"), str("1"),
		0x03, str("text/plain"),
		0x26, str("b"), str("2"),
		0x08, str("re"),
		0x02, 0, 0, 0, 60,
	), "x")...)
	if !bytes.Equal(out, expect) {
		t.Fatalf("re-encoded\n% x\nwant\n% x", out, expect)
	}
	// With subscription identifiers added by the broker: they come first.
	pub.Properties.SubscriptionIDs = []uint32{7}
	out, _ = Append(nil, pub, V5)
	q, err := decodeAll(t, V5, out)
	if err != nil {
		t.Fatal(err)
	}
	want = []PropID{PropSubscriptionID, PropUserProperty, PropContentType, PropUserProperty, PropResponseTopic, PropMessageExpiry}
	if got := q.(*Publish).Properties.Order(); !slices.Equal(got, want) {
		t.Fatalf("forwarded order %v, want %v", got, want)
	}
	// Built, not decoded: no order, identifier order on the wire.
	var built Properties
	built.ContentType = "x"
	built.Set(PropContentType)
	if built.Order() != nil {
		t.Fatal("built properties report an order")
	}
}
