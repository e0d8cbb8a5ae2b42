package broker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/store"
)

// failingStore is a memory store whose writes fail while fail is set.
type failingStore struct {
	*store.Memory
	fail atomic.Bool
}

func (f *failingStore) Apply(ctx context.Context, ops ...store.Op) error {
	if f.fail.Load() {
		return errors.New("no space left on device")
	}
	return f.Memory.Apply(ctx, ops...)
}

func TestRetainedSurviveRestart(t *testing.T) {
	st := store.NewMemory()
	opts := testOptions()
	opts.Store = st
	b := startBroker(t, opts, nil)
	c := mustConnect(t, b.addr, packet.V5, "pub", true)
	props := packet.Properties{ContentType: "text/plain", ResponseTopic: "re/1", User: []packet.UserProperty{{Key: "k", Value: "v"}}}
	props.Set(packet.PropContentType)
	props.Set(packet.PropResponseTopic)
	c.send(&packet.Publish{Topic: "keep/a", Payload: []byte("A"), QoS: 1, PacketID: 1, Retain: true, Properties: props})
	c.expectAck(packet.PUBACK, 1)
	c.publish("keep/b", "B", 2, true, 2)
	c.publish("keep/c", "C", 1, true, 3)
	c.publish("keep/c", "", 1, true, 4) // cleared: must not come back
	exp := packet.Properties{MessageExpiry: 1}
	exp.Set(packet.PropMessageExpiry)
	c.send(&packet.Publish{Topic: "keep/gone", Payload: []byte("old"), QoS: 1, PacketID: 5, Retain: true, Properties: exp})
	c.expectAck(packet.PUBACK, 5)
	c.publish("plain", "not retained", 1, false, 6)
	c.nc.Close()
	b.Close()

	// A new broker on the same store, after the expiry passed.
	time.Sleep(1100 * time.Millisecond) // the expiry interval is wall-clock time, not a synchronisation
	opts2 := testOptions()
	opts2.Store = st
	b2 := startBroker(t, opts2, nil)
	if err := b2.Restore(); err != nil {
		t.Fatal(err)
	}
	s := mustConnect(t, b2.addr, packet.V5, "sub", true)
	s.subscribe(1, packet.Subscription{Filter: "#", QoS: 2})
	got := map[string]*packet.Publish{}
	released := false
	for len(got) < 2 || !released {
		switch p := s.recv().(type) {
		case *packet.Publish:
			got[p.Topic] = p
			kind := packet.PUBACK
			if p.QoS == 2 {
				kind = packet.PUBREC
			}
			s.send(&packet.Ack{Kind: kind, PacketID: p.PacketID})
		case *packet.Ack:
			s.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: p.PacketID})
			released = true
		}
	}
	s.expectNothing(200 * time.Millisecond)
	a, bb := got["keep/a"], got["keep/b"]
	if a == nil || bb == nil || !a.Retain || string(a.Payload) != "A" || string(bb.Payload) != "B" {
		t.Fatalf("restored %v", got)
	}
	if a.Properties.ContentType != "text/plain" || a.Properties.ResponseTopic != "re/1" || len(a.Properties.User) != 1 || a.QoS != 1 || bb.QoS != 2 {
		t.Fatalf("keep/a lost its properties or QoS: %+v / %+v", a, bb)
	}
}

func TestRetainedRefusedWhenStoreFails(t *testing.T) {
	st := &failingStore{Memory: store.NewMemory()}
	opts := testOptions()
	opts.Store = st
	b := startBroker(t, opts, nil)
	st.fail.Store(true)

	// v5: refused with 0x80, and nothing is retained.
	c5 := mustConnect(t, b.addr, packet.V5, "c5", true)
	c5.send(&packet.Publish{Topic: "r/x", Payload: []byte("x"), QoS: 1, PacketID: 1, Retain: true})
	if a := c5.expectAck(packet.PUBACK, 1); a.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("PUBACK %v, want 0x80", a.ReasonCode)
	}
	// QoS 2 is routed at PUBREL, where the store's failure closes the
	// connection without PUBCOMP.
	c5.send(&packet.Publish{Topic: "r/x", Payload: []byte("x"), QoS: 2, PacketID: 2, Retain: true})
	c5.expectAck(packet.PUBREC, 2)
	c5.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 2})
	c5.expectClosed()
	c5 = mustConnect(t, b.addr, packet.V5, "c5", true)
	// 3.1.1 cannot refuse: the connection closes without a PUBACK.
	c3 := mustConnect(t, b.addr, packet.V311, "c3", true)
	c3.send(&packet.Publish{Topic: "r/y", Payload: []byte("y"), QoS: 1, PacketID: 3, Retain: true})
	c3.expectClosed()
	// Non-retained traffic is not affected.
	c5.publish("plain", "p", 1, false, 4)

	st.fail.Store(false)
	s := mustConnect(t, b.addr, packet.V311, "s", true)
	s.subscribe(1, packet.Subscription{Filter: "r/#", QoS: 0})
	s.expectNothing(200 * time.Millisecond)
}
