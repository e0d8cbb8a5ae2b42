package cluster

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/packet"
)

// rawClient is a 3.1.1 client that answers nothing by itself, so that a
// test leaves messages in flight.
type rawClient struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, m *member, id string) (*rawClient, *packet.Connack) {
	t.Helper()
	nc, err := net.Dial("tcp", m.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	r := &rawClient{t: t, nc: nc}
	r.send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: id, KeepAlive: 60})
	ca, ok := r.read().(*packet.Connack)
	if !ok || ca.ReasonCode != 0 {
		t.Fatalf("CONNACK: %+v", ca)
	}
	return r, ca
}

func (r *rawClient) send(p packet.Packet) {
	r.t.Helper()
	b, err := packet.Append(nil, p, packet.V311)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) read() packet.Packet {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packet.ReadPacket(r.nc, packet.V311, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// show describes a packet a subscriber receives, for comparing sequences.
func show(p packet.Packet) string {
	switch p := p.(type) {
	case *packet.Publish:
		return fmt.Sprintf("PUBLISH q%d dup%v id%d %s", p.QoS, p.Dup, p.PacketID, p.Payload)
	case *packet.Ack:
		return fmt.Sprintf("%v id%d", p.Kind, p.PacketID)
	}
	return fmt.Sprintf("%T", p)
}

// TestTakeoverKeepsHandshakes checks that a session moving to another
// node resumes exactly as it would have on its own node: the QoS 1
// message sent and not acknowledged comes again with DUP and its packet
// id, the QoS 2 message whose PUBREC arrived gets its PUBREL again, and
// the queued message keeps the id it was given when queued.
func TestTakeoverKeepsHandshakes(t *testing.T) {
	tc := newCluster(t, 2)
	a, b := tc.members[0], tc.members[1]
	run := func(id string, back *member) []string {
		sub, _ := dialRaw(t, a, id)
		sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: id + "/#", QoS: 2}}})
		if _, ok := sub.read().(*packet.Suback); !ok {
			t.Fatal("no SUBACK")
		}
		pub := connect(t, b, id+"-pub", client.Options{})
		publish(t, pub, &client.Message{Topic: id + "/x", Payload: []byte("one"), QoS: 1})
		publish(t, pub, &client.Message{Topic: id + "/x", Payload: []byte("two"), QoS: 2})
		one, two := sub.read().(*packet.Publish), sub.read().(*packet.Publish)
		if string(one.Payload) != "one" || string(two.Payload) != "two" {
			t.Fatalf("got %s, %s", show(one), show(two))
		}
		sub.send(&packet.Ack{Kind: packet.PUBREC, PacketID: two.PacketID})
		if rel, ok := sub.read().(*packet.Ack); !ok || rel.Kind != packet.PUBREL {
			t.Fatalf("got %s, want PUBREL", show(rel))
		}
		sub.nc.Close()
		// "three" must find the session offline, queued, not sent to the
		// closing connection (which would be a DUP on resuming).
		deadline := time.Now().Add(10 * time.Second)
		for {
			d, ok := a.srv.SessionDetail(id)
			if ok && !d.Connected {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still connected on %s", id, a.name)
			}
			time.Sleep(5 * time.Millisecond)
		}
		publish(t, pub, &client.Message{Topic: id + "/x", Payload: []byte("three"), QoS: 1})

		again, ca := dialRaw(t, back, id)
		if !ca.SessionPresent {
			t.Fatal("session not present")
		}
		var got []string
		for range 3 {
			got = append(got, show(again.read()))
		}
		return got
	}
	same := run("same", a)
	moved := run("moved", b)
	want := []string{"PUBLISH q1 duptrue id1 one", "PUBREL id2", "PUBLISH q1 dupfalse id3 three"}
	if strings.Join(same, "; ") != strings.Join(want, "; ") {
		t.Errorf("resumed on its own node: %q, want %q", same, want)
	}
	if strings.Join(moved, "; ") != strings.Join(same, "; ") {
		t.Errorf("resumed on another node: %q, on its own node: %q", moved, same)
	}
}
