package cluster

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

func TestWireRoundTrip(t *testing.T) {
	props := packet.Properties{MessageExpiry: 30, ContentType: "text/plain"}
	props.Set(packet.PropMessageExpiry)
	props.Set(packet.PropContentType)
	for _, m := range []*broker.RelayedMessage{
		{Topic: "a/b", Payload: []byte("x"), QoS: 1, Origin: "pub", Properties: props},
		{Topic: "a/c", Payload: []byte("kept"), QoS: 0, Retain: true, Origin: "pub", Source: &broker.MessageSource{Username: "alice", HasUsername: true, Listener: "0.0.0.0:1883"}},
		{Topic: "a/d", Payload: []byte("kept"), QoS: 2, Retain: true, Source: &broker.MessageSource{}, Shared: []string{"$share/g/a/#"}},
	} {
		b, err := appendMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeMessage(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		if got.Topic != m.Topic || string(got.Payload) != string(m.Payload) || got.QoS != m.QoS || got.Retain != m.Retain ||
			got.Origin != m.Origin || !reflect.DeepEqual(got.Source, m.Source) || !reflect.DeepEqual(got.Shared, m.Shared) ||
			got.Properties.MessageExpiry != m.Properties.MessageExpiry || got.Properties.ContentType != m.Properties.ContentType {
			t.Errorf("sent %+v, got %+v", m, got)
		}
		for cut := range len(b) - 1 {
			if _, err := decodeMessage(b[:cut]); err == nil {
				t.Errorf("%s: %d of %d bytes decoded", m.Topic, cut, len(b))
			}
		}
	}
	// The format before the source was carried: origin, shared, PUBLISH.
	old := []byte{1}
	old = appendString(old, "pub")
	old = binary.AppendUvarint(old, 0)
	old, _ = packet.AppendPublish(old, &packet.Publish{Topic: "t", Payload: []byte("p"), QoS: 1, PacketID: wirePacketID}, packet.V5)
	if got, err := decodeMessage(old); err != nil || got.Origin != "pub" || got.Topic != "t" || got.Source != nil {
		t.Errorf("format 1: %+v, %v", got, err)
	}
}

// A publisher's listener crosses as its place in the configuration, so
// that nodes whose listeners have other ports agree on it; a listener the
// configuration does not list crosses by its name.
func TestListenerCrossesByPlace(t *testing.T) {
	a := &Node{cfg: Config{Listeners: []string{":1883", "127.0.0.1:8883", "/run/m.sock"}}}
	b := &Node{cfg: Config{Listeners: []string{":21883", "127.0.0.1:28883", "/run/m2.sock"}}}
	for _, c := range []struct{ from, want string }{
		{"127.0.0.1:8883", "127.0.0.1:28883"},
		{"/run/m.sock", "/run/m2.sock"},
		{"10.0.0.1:1", "10.0.0.1:1"},
	} {
		src := &broker.MessageSource{Username: "u", HasUsername: true, Listener: c.from}
		m := &broker.RelayedMessage{Topic: "t", Payload: []byte("x"), Retain: true, Source: src}
		wire, err := a.encode(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if src.Listener != c.from {
			t.Fatalf("encode changed the message's source to %q", src.Listener)
		}
		got, err := b.decode(wire)
		if err != nil {
			t.Fatal(err)
		}
		if got.Source.Listener != c.want || got.Source.Username != "u" {
			t.Errorf("%s arrived as %+v, want listener %s", c.from, got.Source, c.want)
		}
	}
	// A place the receiving node has no listener for stays unknown.
	few := &Node{cfg: Config{Listeners: []string{":1"}}}
	wire, _ := a.encode(nil, &broker.RelayedMessage{Topic: "t", Retain: true, Source: &broker.MessageSource{Listener: "/run/m.sock"}})
	if got, _ := few.decode(wire); got.Source.Listener != "#3" {
		t.Errorf("a place beyond the listeners here arrived as %q", got.Source.Listener)
	}
}
