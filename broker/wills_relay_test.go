package broker_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// willRelay is a Relay and WillKeeper that records the wills it is given.
type willRelay struct {
	mu    sync.Mutex
	calls []string
	held  map[string]*broker.HeldWill
}

// Forward acknowledges at once.
func (r *willRelay) Forward(*broker.RelayedMessage) (int, func(string) bool, func() error, error) {
	return 1, nil, nil, nil
}

func (*willRelay) Subscribed(string)   {}
func (*willRelay) Unsubscribed(string) {}
func (*willRelay) Claim(string, bool) (*broker.SessionState, error) {
	return nil, nil
}

func (r *willRelay) HoldWill(w *broker.HeldWill) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("hold %s %d", w.ClientID, w.Seq))
	r.held[w.ClientID] = w
}

func (r *willRelay) DropWill(id string, seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("drop %s %d", id, seq))
}

func (r *willRelay) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *willRelay) will(id string) *broker.HeldWill {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held[id]
}

// A Relay that keeps wills is given the will of each connection with one,
// with its delay, the session's expiry and who connected, and told when
// the connection has ended, however it ended; PublishWill publishes a
// will from elsewhere if its client may publish it.
func TestWillKeeper(t *testing.T) {
	rl := &willRelay{held: map[string]*broker.HeldWill{}}
	opts := testOptions()
	opts.Relay = rl
	opts.Auth = &tableAuth{passwords: map[string]string{"u": "p"}, write: map[string][]string{"u": {"ok/"}, "": {"w/"}}}
	b := startBroker(t, opts, nil)
	sub := mustConnect(t, b.addr, packet.V5, "sub", true)
	sub.subscribe(1, packet.Subscription{Filter: "#", QoS: 1})

	none := mustConnect(t, b.addr, packet.V5, "none", true)
	a := dialRaw(t, b.addr, packet.V5)
	will := &packet.Will{Topic: "w/a", Payload: []byte("gone"), QoS: 1}
	will.Properties.WillDelay = 5
	will.Properties.Set(packet.PropWillDelay)
	cp := &packet.Connect{ClientID: "a", CleanStart: true, KeepAlive: 60, Will: will}
	cp.Properties.SessionExpiry = 3
	cp.Properties.Set(packet.PropSessionExpiry)
	if ack := a.connect(cp); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	waitFor(t, "the will held", func() bool { return rl.will("a") != nil })
	w := rl.will("a")
	if w.Message.Topic != "w/a" || string(w.Message.Payload) != "gone" || w.Message.QoS != 1 || w.Delay != 5 || w.Expiry != 3 || w.Due() != 3*time.Second {
		t.Fatalf("held will %+v", w)
	}
	if src := w.Message.Source; src == nil || src.HasUsername {
		t.Fatalf("held will's source %+v", src)
	}
	seqA := w.Seq
	none.send(&packet.Disconnect{})
	a.send(&packet.Disconnect{})
	waitFor(t, "a's will dropped", func() bool { return slices.Contains(rl.log(), fmt.Sprintf("drop a %d", seqA)) })

	// A connection lost: the will is published here, then dropped.
	c := dialRaw(t, b.addr, packet.V311)
	c.connect(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 60, Will: &packet.Will{Topic: "w/c", Payload: []byte("lost")}})
	waitFor(t, "c's will held", func() bool { return rl.will("c") != nil })
	c.nc.Close()
	if p := sub.expectPublish(); p.Topic != "w/c" {
		t.Fatalf("got %s, want c's will", p.Topic)
	}
	seqC := rl.will("c").Seq
	waitFor(t, "c's will dropped", func() bool { return slices.Contains(rl.log(), fmt.Sprintf("drop c %d", seqC)) })
	if seqC <= seqA {
		t.Fatalf("c's will numbered %d after a's %d", seqC, seqA)
	}
	for _, l := range rl.log() {
		if strings.HasPrefix(l, "hold none") || strings.HasPrefix(l, "hold sub") {
			t.Fatalf("a connection without a will held one: %v", rl.log())
		}
	}

	// Wills from elsewhere: published if their client may publish them.
	b.PublishWill(&broker.HeldWill{ClientID: "far", Message: broker.RelayedMessage{Topic: "denied/x", Payload: []byte("x"), QoS: 1, Origin: "far",
		Source: &broker.MessageSource{Username: "u", HasUsername: true, Listener: w.Message.Source.Listener}}})
	b.PublishWill(&broker.HeldWill{ClientID: "far", Message: broker.RelayedMessage{Topic: "ok/x", Payload: []byte("y"), QoS: 1, Origin: "far",
		Source: &broker.MessageSource{Username: "u", HasUsername: true, Listener: w.Message.Source.Listener}}})
	b.PublishWill(&broker.HeldWill{ClientID: "far", Message: broker.RelayedMessage{Topic: "$SYS/x", Payload: []byte("z"), Origin: "far"}})
	p := sub.expectPublish()
	if p.Topic != "ok/x" || string(p.Payload) != "y" {
		t.Fatalf("got %s %q, want only the will the client may publish", p.Topic, p.Payload)
	}
	sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
	sub.expectNothing(200 * time.Millisecond)
}
