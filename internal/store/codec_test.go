package store

import (
	"errors"
	"testing"
)

// memKV records the pairs Encode writes.
type memKV struct{ keys, vals [][]byte }

func (m *memKV) Set(k, v []byte) error {
	m.keys = append(m.keys, append([]byte{}, k...))
	m.vals = append(m.vals, append([]byte{}, v...))
	return nil
}
func (m *memKV) Delete([]byte) error           { return nil }
func (m *memKV) DeleteRange(_, _ []byte) error { return nil }

func sampleOps() []Op {
	m := Message{Topic: "t", Payload: []byte("p"), HasPayloadFormat: true, ContentType: "c",
		CorrelationData: []byte{}, User: []UserProperty{{Key: "k", Value: "v"}}, Origin: "o",
		HasSource: true, OriginUsername: "u", OriginHasUsername: true, OriginListener: "1883"}
	return []Op{
		PutSession(&Session{ClientID: "c", Username: "u", ExpiryInterval: 5, Subscriptions: []Subscription{{Filter: "f", QoS: 1, ID: 3}}}),
		PutOutgoing("c", &Outgoing{Seq: 9, PacketID: 1, State: StateAwaitPuback, QoS: 1, SubIDs: []uint32{3}, Message: m}),
		PutWill(&Will{ClientID: "c", Message: m}),
		PutRetained(&m),
		PutInbound("c", 4),
	}
}

// TestDecodeDamaged checks that every truncation and a newer record
// version of each value is an ErrCorrupt error, never a panic or a
// silently shortened record.
func TestDecodeDamaged(t *testing.T) {
	var kv memKV
	if err := Encode(&kv, sampleOps()); err != nil {
		t.Fatal(err)
	}
	v := Visitor{
		Session:  func(Session) error { return nil },
		Outgoing: func(string, Outgoing) error { return nil },
		Will:     func(Will) error { return nil },
		Retained: func(Message) error { return nil },
		Inbound:  func(string, uint16) error { return nil },
	}
	for i, k := range kv.keys {
		val := kv.vals[i]
		if err := Decode(k, val, &v); err != nil {
			t.Fatalf("intact %q: %v", k, err)
		}
		for n := 0; n < len(val); n++ {
			if err := Decode(k, val[:n], &v); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%q truncated to %d: %v", k, n, err)
			}
		}
		if len(val) > 0 {
			newer := append([]byte{val[0] + 1}, val[1:]...)
			if err := Decode(k, newer, &v); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%q with a newer record version: %v", k, err)
			}
		}
		for n := 0; n < len(k); n++ {
			if err := Decode(k[:n], val, &v); err == nil && n > 0 && k[0] != prefixRetained {
				t.Fatalf("key %q truncated to %d accepted", k, n)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	var kv memKV
	if err := Encode(&kv, sampleOps()); err != nil {
		f.Fatal(err)
	}
	for i := range kv.keys {
		f.Add(kv.keys[i], kv.vals[i])
	}
	f.Fuzz(func(t *testing.T, k, val []byte) {
		v := Visitor{
			Session:  func(Session) error { return nil },
			Outgoing: func(string, Outgoing) error { return nil },
			Will:     func(Will) error { return nil },
			Retained: func(Message) error { return nil },
		}
		Decode(k, val, &v) // must not panic
	})
}

// TestSessionRecordVersion1 reads a session record written before the
// last packet id was kept.
func TestSessionRecordVersion1(t *testing.T) {
	var kv memKV
	if err := Encode(&kv, []Op{PutSession(&Session{ClientID: "c", Username: "u", ExpiryInterval: 5, LastPacketID: 9})}); err != nil {
		t.Fatal(err)
	}
	v2 := kv.vals[0]
	v1 := append([]byte{recordVersion}, v2[1:len(v2)-2]...)
	var got Session
	v := Visitor{Session: func(s Session) error { got = s; return nil }}
	if err := Decode(kv.keys[0], v1, &v); err != nil {
		t.Fatal(err)
	}
	if got.ClientID != "c" || got.Username != "u" || got.ExpiryInterval != 5 || got.LastPacketID != 0 {
		t.Fatalf("version 1 record read as %+v", got)
	}
	if err := Decode(kv.keys[0], v2, &v); err != nil || got.LastPacketID != 9 {
		t.Fatalf("version 2 record read as %+v, %v", got, err)
	}
}
