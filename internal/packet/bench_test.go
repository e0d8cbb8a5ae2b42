package packet

import "testing"

func benchPublish() *Publish {
	return &Publish{
		QoS: 1, PacketID: 42, Topic: "sensors/building-1/floor-3/room-12/temperature",
		Payload: []byte(`{"t":21.5,"h":40,"ts":1700000000}`),
	}
}

func benchPublishV5() *Publish {
	p := benchPublish()
	p.Properties = withProps(Properties{PayloadFormat: 1, MessageExpiry: 60, ContentType: "application/json",
		SubscriptionIDs: []uint32{7}, User: []UserProperty{{"k", "v"}}},
		PropPayloadFormat, PropMessageExpiry, PropContentType)
	return p
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, bc := range []struct {
		name    string
		version byte
		p       *Publish
	}{{"3.1.1", V311, benchPublish()}, {"5.0", V5, benchPublishV5()}} {
		wire, err := Append(nil, bc.p, bc.version)
		if err != nil {
			b.Fatal(err)
		}
		first, _, hl, _ := ParseHeader(wire)
		body := wire[hl:]
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				if _, err := Decode(bc.version, first, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		// What the broker's reader does: into a Publish on the stack,
		// reusing the previous PUBLISH's topic string.
		b.Run(bc.name+"/in-place", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			last := bc.p.Topic
			for b.Loop() {
				var p Publish
				if err := DecodePublish(bc.version, first, body, &p, last); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	for _, bc := range []struct {
		name    string
		version byte
		p       *Publish
	}{{"3.1.1", V311, benchPublish()}, {"5.0", V5, benchPublishV5()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 512)
			b.SetBytes(int64(Size(bc.p, bc.version)))
			for b.Loop() {
				var err error
				if buf, err = AppendPublish(buf[:0], bc.p, bc.version); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAllocations pins the allocation budget the benchmarks report: none
// for Append into a buffer with room, and for a 3.1.1 PUBLISH only the
// packet and its topic string.
func TestAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	buf := make([]byte, 0, 1024)
	for _, v := range versions {
		for _, p := range samples(v) {
			allocs := testing.AllocsPerRun(20, func() {
				buf, _ = Append(buf[:0], p, v)
			})
			if allocs != 0 {
				t.Errorf("Append(%s, v%d) allocates %.0f times", p.Type(), v, allocs)
			}
		}
	}
	// The broker's encoding: a Publish on the stack, through AppendPublish.
	pub := *benchPublish()
	allocs := testing.AllocsPerRun(20, func() {
		p := pub
		p.PacketID++
		buf, _ = AppendPublish(buf[:0], &p, V5)
	})
	if allocs != 0 {
		t.Errorf("AppendPublish of a Publish on the stack allocates %.0f times", allocs)
	}
	// A PUBLISH decoded into one on the stack, to a topic seen before:
	// nothing but what the caller does with the body.
	pubWire, _ := Append(nil, benchPublish(), V311)
	pubFirst, _, pubHL, _ := ParseHeader(pubWire)
	lastTopic := benchPublish().Topic
	allocs = testing.AllocsPerRun(20, func() {
		var p Publish
		_ = DecodePublish(V311, pubFirst, pubWire[pubHL:], &p, lastTopic)
	})
	if allocs != 0 {
		t.Errorf("DecodePublish of a repeated topic allocates %.0f times", allocs)
	}
	// Acks, both ways, with the Ack on the stack.
	allocs = testing.AllocsPerRun(20, func() {
		a := Ack{Kind: PUBACK, PacketID: 7, ReasonCode: NoMatchingSubscribers}
		buf, _ = AppendAck(buf[:0], &a, V5)
	})
	if allocs != 0 {
		t.Errorf("AppendAck allocates %.0f times", allocs)
	}
	ack := []byte{0, 7, byte(NoMatchingSubscribers), 0}
	allocs = testing.AllocsPerRun(20, func() {
		var a Ack
		_ = DecodeAck(V5, byte(PUBACK)<<4, ack, &a)
	})
	if allocs != 0 {
		t.Errorf("DecodeAck allocates %.0f times", allocs)
	}
	wire, _ := Append(nil, benchPublish(), V311)
	first, _, hl, _ := ParseHeader(wire)
	allocs = testing.AllocsPerRun(20, func() {
		_, _ = Decode(V311, first, wire[hl:])
	})
	if allocs > 2 {
		t.Errorf("Decode(PUBLISH) allocates %.0f times, want 2", allocs)
	}
}
