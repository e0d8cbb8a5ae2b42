// Package storetest is a conformance suite for store.Store
// implementations: every backend runs the same round-trip, atomicity and
// concurrency tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/store"
)

// Contents is everything a Load returned, grouped for comparison.
type Contents struct {
	Sessions map[string]store.Session
	Inbound  map[string][]uint16
	// Held are the inbound messages awaiting PUBREL, by client and id.
	Held     map[string]map[uint16]store.Message
	Outgoing map[string][]store.Outgoing
	Wills    map[string]store.Will
	Retained map[string]store.Message
}

// NewContents returns empty Contents.
func NewContents() *Contents {
	return &Contents{
		Sessions: map[string]store.Session{},
		Inbound:  map[string][]uint16{},
		Held:     map[string]map[uint16]store.Message{},
		Outgoing: map[string][]store.Outgoing{},
		Wills:    map[string]store.Will{},
		Retained: map[string]store.Message{},
	}
}

// Dump loads everything from s.
func Dump(s store.Store) (*Contents, error) {
	c := NewContents()
	err := s.Load(store.Visitor{
		Session: func(x store.Session) error { c.Sessions[x.ClientID] = x; return nil },
		Inbound: func(id string, pid uint16) error {
			c.Inbound[id] = append(c.Inbound[id], pid)
			return nil
		},
		InboundMessage: func(id string, pid uint16, m store.Message) error {
			if c.Held[id] == nil {
				c.Held[id] = map[uint16]store.Message{}
			}
			c.Held[id][pid] = m
			return nil
		},
		Outgoing: func(id string, o store.Outgoing) error {
			if l := c.Outgoing[id]; len(l) > 0 && l[len(l)-1].Seq >= o.Seq {
				return fmt.Errorf("outgoing of %q out of order: %d after %d", id, o.Seq, l[len(l)-1].Seq)
			}
			c.Outgoing[id] = append(c.Outgoing[id], o)
			return nil
		},
		Will:     func(w store.Will) error { c.Wills[w.ClientID] = w; return nil },
		Retained: func(m store.Message) error { c.Retained[m.Topic] = m; return nil },
	})
	return c, err
}

// MustDump is Dump that fails the test on error.
func MustDump(t testing.TB, s store.Store) *Contents {
	t.Helper()
	c, err := Dump(s)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// Equal fails the test if got and want differ.
func Equal(t testing.TB, got, want *Contents) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("store contents differ\n got: %+v\nwant: %+v", got, want)
	}
}

// Ts returns a time that survives an encode/decode round trip unchanged
// under reflect.DeepEqual (no monotonic reading, Local location).
func Ts(sec int64) time.Time { return time.Unix(sec, 12345) }

// FullMessage returns a message with every field set.
func FullMessage(topic string) store.Message {
	return store.Message{
		Topic:            topic,
		Payload:          []byte("payload of " + topic),
		QoS:              2,
		Retain:           true,
		HasPayloadFormat: true,
		PayloadFormat:    1,
		Expiry:           Ts(2_000_000_000),
		ContentType:      "text/plain",
		ResponseTopic:    "reply/" + topic,
		CorrelationData:  []byte{0, 1, 2, 0xFF},
		User:             []store.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "v2"}, {Key: "", Value: ""}},
		Origin:           "publisher-1",
		HasSource:        true,
		OriginUsername:   "",
		// An empty username is still a username.
		OriginHasUsername: true,
		OriginListener:    "/run/mqtt.sock",
	}
}

// Sample is a store filled with one of each record kind, with the ops that
// build it.
func Sample() (*Contents, []store.Op) {
	c := NewContents()
	sess := store.Session{
		ClientID: "client/1", Username: "alice", ProtocolVersion: 5,
		ExpiryInterval: store.ExpiryNever, DisconnectedAt: Ts(1_700_000_000),
		Subscriptions: []store.Subscription{
			{Filter: "a/+/c", QoS: 1, ID: 7},
			{Filter: "$share/g/x/#", QoS: 2, RetainAsPublished: true, RetainHandling: 2, ID: 268435455},
			{Filter: "nl", QoS: 0, NoLocal: true, RetainHandling: 1},
		},
	}
	minimal := store.Session{ClientID: "c2", ProtocolVersion: 4, ExpiryInterval: 60}
	c.Sessions[sess.ClientID] = sess
	c.Sessions[minimal.ClientID] = minimal
	outs := []store.Outgoing{
		{Seq: 1, PacketID: 10, State: store.StateAwaitPuback, QoS: 1, SubIDs: []uint32{7}, Message: FullMessage("a/b/c")},
		{Seq: 2, PacketID: 11, State: store.StateAwaitPubrec, QoS: 2, Retain: true, Message: store.Message{Topic: "x/y", QoS: 2}},
		{Seq: 3, PacketID: 12, State: store.StateAwaitPubcomp, QoS: 2},
		{Seq: 4, PacketID: 13, State: store.StateQueued, QoS: 2, Message: store.Message{Topic: "q2", QoS: 2}}, // id fixed when stored
		{Seq: 1 << 40, State: store.StateQueued, QoS: 1, SubIDs: []uint32{7, 268435455}, Message: store.Message{Topic: "big", QoS: 1, Payload: make([]byte, 70000)}},
	}
	c.Outgoing[sess.ClientID] = outs
	c.Inbound[sess.ClientID] = []uint16{1, 300, 65535}
	will := store.Will{ClientID: sess.ClientID, Due: Ts(1_700_000_100), Message: FullMessage("will/topic")}
	c.Wills[will.ClientID] = will
	r1, r2 := FullMessage("r/1"), store.Message{Topic: "r/2", Retain: true}
	c.Retained[r1.Topic], c.Retained[r2.Topic] = r1, r2

	ops := []store.Op{store.PutSession(&sess), store.PutSession(&minimal), store.PutWill(&will),
		store.PutRetained(&r1), store.PutRetained(&r2)}
	for i := range outs {
		ops = append(ops, store.PutOutgoing(sess.ClientID, &outs[i]))
	}
	for _, pid := range c.Inbound[sess.ClientID] {
		ops = append(ops, store.PutInbound(sess.ClientID, pid))
	}
	held := FullMessage("held/q2")
	held.QoS = 2
	c.Held[sess.ClientID] = map[uint16]store.Message{7: held}
	ops = append(ops, store.PutInboundMessage(sess.ClientID, 7, &held))
	return c, ops
}

// Run runs the conformance suite; open returns a new, empty store that
// Run closes.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	apply := func(t *testing.T, s store.Store, ops ...store.Op) {
		t.Helper()
		if err := s.Apply(ctx, ops...); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		want, ops := Sample()
		apply(t, s, ops...)
		Equal(t, MustDump(t, s), want)
	})
	t.Run("Deletes", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		want, ops := Sample()
		apply(t, s, ops...)
		apply(t, s, store.DeleteOutgoing("client/1", 2), store.DeleteInbound("client/1", 300),
			store.DeleteRetained("r/2"), store.DeleteWill("client/1"), store.DeleteRetained("absent"))
		o := want.Outgoing["client/1"]
		want.Outgoing["client/1"] = []store.Outgoing{o[0], o[2], o[3], o[4]}
		want.Inbound["client/1"] = []uint16{1, 65535}
		delete(want.Retained, "r/2")
		delete(want.Wills, "client/1")
		Equal(t, MustDump(t, s), want)
	})
	t.Run("Replace", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		o := store.Outgoing{Seq: 5, QoS: 1, Message: store.Message{Topic: "t", QoS: 1}}
		apply(t, s, store.PutOutgoing("c", &o))
		o2 := o
		o2.State, o2.PacketID = store.StateAwaitPuback, 9
		apply(t, s, store.PutOutgoing("c", &o2))
		want := NewContents()
		want.Outgoing["c"] = []store.Outgoing{o2}
		Equal(t, MustDump(t, s), want)
	})
	t.Run("DeleteSessionIsolation", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		// Ids chosen so that naive prefix ranges would overlap: a prefix of
		// another id, ids with separators, 0x00 and 0xFF bytes.
		ids := []string{"a", "a/", "a/b", "a\x00", "a\xff", "a\xff\xff", "\xff", "b"}
		var ops []store.Op
		for _, id := range ids {
			s := store.Session{ClientID: id, ExpiryInterval: 10}
			o := store.Outgoing{Seq: 1, QoS: 1, Message: store.Message{Topic: "t", QoS: 1}}
			w := store.Will{ClientID: id, Message: store.Message{Topic: "w"}}
			ops = append(ops, store.PutSession(&s), store.PutOutgoing(id, &o), store.PutInbound(id, 1), store.PutWill(&w))
		}
		apply(t, s, ops...)
		for _, victim := range ids {
			apply(t, s, store.DeleteSession(victim))
			c := MustDump(t, s)
			if _, ok := c.Sessions[victim]; ok {
				t.Fatalf("session %q survived DeleteSession", victim)
			}
			if len(c.Outgoing[victim])+len(c.Inbound[victim]) > 0 || c.Wills[victim].ClientID != "" {
				t.Fatalf("records of %q survived DeleteSession: %+v", victim, c)
			}
			for _, id := range ids {
				if _, ok := c.Sessions[id]; ok {
					if len(c.Outgoing[id]) != 1 || len(c.Inbound[id]) != 1 || c.Wills[id].ClientID != id {
						t.Fatalf("DeleteSession(%q) touched %q: %+v", victim, id, c)
					}
				}
			}
			apply(t, s, ops...) // restore for the next victim
		}
	})
	t.Run("AtomicFailure", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		_, ops := Sample()
		bad := []store.Op{
			store.PutInbound("", 1),
			store.PutInbound("c", 0),
			store.PutRetained(&store.Message{Topic: ""}),
			store.PutOutgoing("c", &store.Outgoing{Seq: 1, QoS: 3, Message: store.Message{Topic: "t"}}),
			store.PutOutgoing("c", &store.Outgoing{Seq: 1, State: store.StateAwaitPuback, Message: store.Message{Topic: "t"}}),
			store.PutOutgoing("c", &store.Outgoing{Seq: 1, State: 9, PacketID: 1, Message: store.Message{Topic: "t"}}),
			// A QoS 0 message has no packet id.
			store.PutOutgoing("c", &store.Outgoing{Seq: 1, State: store.StateQueued, QoS: 0, PacketID: 4, Message: store.Message{Topic: "t"}}),
			store.PutSession(&store.Session{ClientID: "c", Subscriptions: []store.Subscription{{Filter: "x", QoS: 3}}}),
			{},
		}
		for _, b := range bad {
			err := s.Apply(ctx, append(append([]store.Op{}, ops...), b)...)
			if !errors.Is(err, store.ErrInvalidOp) {
				t.Fatalf("Apply with %v: got %v, want ErrInvalidOp", b, err)
			}
			Equal(t, MustDump(t, s), NewContents())
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Apply(cctx, store.DeleteRetained("x")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Apply with canceled ctx: %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		const writers, each = 8, 50
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		want := NewContents()
		for w := range writers {
			id := fmt.Sprintf("w%d", w)
			for i := range each {
				want.Outgoing[id] = append(want.Outgoing[id], store.Outgoing{Seq: uint64(i + 1), QoS: 1,
					Message: store.Message{Topic: "t/" + id, QoS: 1, Payload: []byte{byte(i)}}})
			}
			outs := want.Outgoing[id]
			wg.Go(func() {
				for i := range outs {
					if err := s.Apply(ctx, store.PutOutgoing(id, &outs[i])); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		Equal(t, MustDump(t, s), want)
	})
	t.Run("VisitorError", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		_, ops := Sample()
		apply(t, s, ops...)
		stop := errors.New("stop")
		if err := s.Load(store.Visitor{Retained: func(store.Message) error { return stop }}); !errors.Is(err, stop) {
			t.Fatalf("Load: got %v, want the visitor's error", err)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		s := open(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, store.DeleteRetained("x")); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Apply after Close: %v", err)
		}
		if err := s.Load(store.Visitor{}); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Load after Close: %v", err)
		}
	})
}
