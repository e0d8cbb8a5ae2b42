package packet

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// FuzzDecode checks that no input makes Decode panic, that it returns a
// packet or an error but never both, that every error is an *Error with a
// reason code a receiver may close the connection with, that the fast
// paths (DecodePublish, DecodeAck) and ReadPacket agree with it, and that
// whatever decodes re-encodes to a packet that decodes to the same value.
func FuzzDecode(f *testing.F) {
	for _, g := range goldenPackets {
		f.Add(g.version, g.wire)
	}
	for _, b := range badPackets {
		f.Add(b.version, b.wire)
	}
	for _, v := range versions {
		for _, p := range samples(v) {
			b, err := Append(nil, p, v)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(v, b)
		}
	}
	f.Fuzz(func(t *testing.T, version byte, data []byte) {
		version = V31 + version%3
		first, rem, hl, err := ParseHeader(data)
		if err != nil || hl+rem > len(data) {
			return
		}
		body := data[hl : hl+rem]
		saved := bytes.Clone(body)
		p, err := Decode(version, first, body)
		if !bytes.Equal(body, saved) {
			t.Fatal("Decode modified its input")
		}
		checkDecodeResult(t, first, p, err)
		checkFastPaths(t, version, first, body, p, err)
		checkReadPacket(t, version, data[:hl+rem], p, err)
		if err != nil {
			return
		}
		checkClipped(t, p)
		if c, ok := p.(*Connect); ok {
			version = c.ProtocolVersion
		}
		b, err := Append(nil, p, version)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", p, err)
		}
		if n := Size(p, version); n != len(b) {
			t.Fatalf("Size = %d, Append wrote %d", n, len(b))
		}
		first2, _, hl2, err := ParseHeader(b)
		if err != nil {
			t.Fatalf("re-encoded header: %v", err)
		}
		p2, err := Decode(version, first2, b[hl2:])
		if err != nil {
			t.Fatalf("decoding the re-encoded % x: %v", b, err)
		}
		forgetOrder(p)
		forgetOrder(p2)
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed the packet:\n got %#v\nwant %#v", p2, p)
		}
	})
}

// checkDecodeResult checks the contract of Decode's results: exactly one
// of packet and error; the packet of the type the first byte names; the
// error an *Error whose message names the packet type and whose reason is
// one the receiver can send when it closes the connection: a CONNACK
// reason for a CONNECT (the server answers it with a CONNACK), a
// DISCONNECT reason for anything else.
func checkDecodeResult(t *testing.T, first byte, p Packet, err error) {
	t.Helper()
	typ := Type(first >> 4)
	if err == nil {
		if p == nil || reflect.ValueOf(p).IsNil() {
			t.Fatal("Decode returned neither a packet nor an error")
		}
		if p.Type() != typ {
			t.Fatalf("Decode of a %s returned a %s", typ, p.Type())
		}
		return
	}
	if p != nil {
		t.Fatalf("Decode returned both %#v and %v", p, err)
	}
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("error %v is %T, not *Error", err, err)
	}
	if !strings.HasPrefix(e.Msg, typ.String()+": ") {
		t.Fatalf("error %q does not name the packet type %s", e.Msg, typ)
	}
	closeWith := DISCONNECT
	if typ == CONNECT {
		closeWith = CONNACK
	}
	if !e.Reason.IsError() || !validReason(closeWith, e.Reason) {
		t.Fatalf("error %q has reason 0x%02x, not a %s failure reason", e.Msg, byte(e.Reason), closeWith)
	}
}

// checkFastPaths checks that DecodePublish and DecodeAck, which the broker
// uses instead of Decode for the packets that come most often, agree with
// Decode, and that the encoders for them agree with Append.
func checkFastPaths(t *testing.T, version, first byte, body []byte, p Packet, err error) {
	t.Helper()
	switch typ := Type(first >> 4); {
	case typ == PUBLISH:
		var fast Publish
		ferr := DecodePublish(version, first, body, &fast, "")
		sameOutcome(t, "DecodePublish", p, &fast, err, ferr)
		if err != nil {
			return
		}
		// Given the topic it decodes to, DecodePublish must reuse it.
		last := strings.Clone(fast.Topic)
		var again Publish
		if err := DecodePublish(version, first, body, &again, last); err != nil {
			t.Fatalf("DecodePublish with last %q: %v", last, err)
		}
		if last != "" && unsafe.StringData(again.Topic) != unsafe.StringData(last) {
			t.Fatalf("DecodePublish did not reuse the topic %q it was given", last)
		}
		sameEncoding(t, p, version, func() ([]byte, error) { return AppendPublish(nil, &fast, version) })
	case typ >= PUBACK && typ <= PUBCOMP:
		var fast Ack
		ferr := DecodeAck(version, first, body, &fast)
		sameOutcome(t, "DecodeAck", p, &fast, err, ferr)
		if err == nil {
			sameEncoding(t, p, version, func() ([]byte, error) { return AppendAck(nil, &fast, version) })
		}
	}
}

// sameOutcome compares a fast path's result with Decode's. Decoded from
// the same bytes, the two must be equal down to the order of properties.
func sameOutcome(t *testing.T, name string, p, fast Packet, err, ferr error) {
	t.Helper()
	if (err == nil) != (ferr == nil) || err != nil && ferr.Error() != err.Error() {
		t.Fatalf("%s: %v, Decode: %v", name, ferr, err)
	}
	if err == nil && !reflect.DeepEqual(p, fast) {
		t.Fatalf("%s decoded\n%#v\nDecode decoded\n%#v", name, fast, p)
	}
}

// sameEncoding checks that a fast encoder writes what Append writes.
func sameEncoding(t *testing.T, p Packet, version byte, fast func() ([]byte, error)) {
	t.Helper()
	want, err := Append(nil, p, version)
	got, ferr := fast()
	if (err == nil) != (ferr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("fast encoder: % x, %v; Append: % x, %v", got, ferr, want, err)
	}
}

// checkReadPacket checks that ReadPacket, which reads a packet from a
// stream, agrees with ParseHeader and Decode on a whole packet, honours
// its size limit and reports a packet cut short as unexpected EOF.
func checkReadPacket(t *testing.T, version byte, whole []byte, p Packet, err error) {
	t.Helper()
	rp, rerr := ReadPacket(bytes.NewReader(whole), version, 0)
	if (err == nil) != (rerr == nil) || err != nil && rerr.Error() != err.Error() {
		t.Fatalf("ReadPacket: %v, Decode: %v", rerr, err)
	}
	if err == nil && !reflect.DeepEqual(p, rp) {
		t.Fatalf("ReadPacket decoded\n%#v\nDecode decoded\n%#v", rp, p)
	}
	if _, err := ReadPacket(bytes.NewReader(whole), version, len(whole)-1); ReasonOf(err) != PacketTooLarge {
		t.Fatalf("ReadPacket with limit %d of a %d-byte packet: %v", len(whole)-1, len(whole), err)
	}
	if _, err := ReadPacket(bytes.NewReader(whole[:len(whole)-1]), version, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadPacket of a packet cut short by a byte: %v", err)
	}
}

// checkClipped checks the promise about the byte slices Decode returns:
// they alias the body with their capacity clipped, so appending to one
// cannot overwrite the bytes after it, and empty ones are nil.
func checkClipped(t *testing.T, p Packet) {
	t.Helper()
	var fields []struct {
		name string
		b    []byte
	}
	add := func(name string, b []byte) {
		fields = append(fields, struct {
			name string
			b    []byte
		}{name, b})
	}
	props := func(where string, pr *Properties) {
		add(where+" correlation data", pr.CorrelationData)
		add(where+" authentication data", pr.AuthData)
	}
	switch p := p.(type) {
	case *Connect:
		add("password", p.Password)
		props("CONNECT", &p.Properties)
		if p.Will != nil {
			add("will payload", p.Will.Payload)
			props("will", &p.Will.Properties)
		}
	case *Connack:
		props("CONNACK", &p.Properties)
	case *Publish:
		add("payload", p.Payload)
		props("PUBLISH", &p.Properties)
	case *Auth:
		props("AUTH", &p.Properties)
	}
	for _, f := range fields {
		if cap(f.b) != len(f.b) || f.b != nil && len(f.b) == 0 {
			t.Fatalf("%s: len %d, cap %d, nil %t", f.name, len(f.b), cap(f.b), f.b == nil)
		}
	}
}

// FuzzDecodePublish fuzzes the PUBLISH fast path on its own, so that the
// fuzzer spends its time on topic names, packet identifiers, properties
// and payloads rather than on the other packet types: DecodePublish must
// agree with Decode, reuse the topic string it is given when the topic is
// the same, and what it decodes must survive AppendPublish.
func FuzzDecodePublish(f *testing.F) {
	for _, g := range goldenPackets {
		if Type(g.wire[0]>>4) == PUBLISH {
			f.Add(g.version, g.wire[0], g.wire[1:], "")
		}
	}
	for _, b := range badPackets {
		if len(b.wire) > 0 && Type(b.wire[0]>>4) == PUBLISH {
			_, _, hl, err := ParseHeader(b.wire)
			if err == nil {
				f.Add(b.version, b.wire[0], b.wire[hl:], "")
			}
		}
	}
	for _, v := range versions {
		for _, p := range samples(v) {
			pub, ok := p.(*Publish)
			if !ok {
				continue
			}
			b, err := Append(nil, p, v)
			if err != nil {
				f.Fatal(err)
			}
			_, _, hl, _ := ParseHeader(b)
			f.Add(v, b[0], b[hl:], "")
			f.Add(v, b[0], b[hl:], pub.Topic)
		}
	}
	f.Fuzz(func(t *testing.T, version byte, first byte, body []byte, last string) {
		version = V31 + version%3
		first = byte(PUBLISH)<<4 | first&0x0f
		if checkUTF8([]byte(last)) != nil || hasWildcard([]byte(last)) {
			last = "" // not a topic name DecodePublish could have returned
		}
		saved := bytes.Clone(body)
		var fast Publish
		ferr := DecodePublish(version, first, body, &fast, last)
		if !bytes.Equal(body, saved) {
			t.Fatal("DecodePublish modified its input")
		}
		p, err := Decode(version, first, body)
		checkDecodeResult(t, first, p, err)
		if _, ok := errors.AsType[*Error](ferr); ferr != nil && !ok {
			t.Fatalf("DecodePublish: error %v is %T, not *Error", ferr, ferr)
		}
		sameOutcome(t, "DecodePublish", p, &fast, err, ferr)
		if ferr != nil {
			return
		}
		if fast.Topic == last && last != "" && unsafe.StringData(fast.Topic) != unsafe.StringData(last) {
			t.Fatalf("topic %q decoded anew instead of reusing last", last)
		}
		checkClipped(t, &fast)
		b, err := AppendPublish(nil, &fast, version)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", &fast, err)
		}
		if n := Size(&fast, version); n != len(b) {
			t.Fatalf("Size = %d, AppendPublish wrote %d", n, len(b))
		}
		first2, rem, hl, err := ParseHeader(b)
		if err != nil || hl+rem != len(b) {
			t.Fatalf("re-encoded header % x: %v", b, err)
		}
		var again Publish
		if err := DecodePublish(version, first2, b[hl:], &again, ""); err != nil {
			t.Fatalf("decoding the re-encoded % x: %v", b, err)
		}
		fast.Properties.ForgetOrder()
		again.Properties.ForgetOrder()
		if !reflect.DeepEqual(fast, again) {
			t.Fatalf("round trip changed the packet:\n got %#v\nwant %#v", again, fast)
		}
	})
}

// FuzzParseHeader checks ParseHeader against AppendVarint.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x7f})
	f.Add([]byte{0x30, 0x80, 0x01})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x30, 0x80, 0x00})
	f.Add([]byte{0x30})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		first, rem, hl, err := ParseHeader(data)
		if errors.Is(err, ErrIncomplete) {
			if len(data) >= 5 {
				t.Fatalf("incomplete with %d bytes", len(data))
			}
			for i := 1; i < len(data); i++ {
				if data[i]&0x80 == 0 {
					t.Fatal("incomplete although the length ended")
				}
			}
			return
		}
		if err != nil {
			if ReasonOf(err) != MalformedPacket {
				t.Fatalf("reason %v", ReasonOf(err))
			}
			return
		}
		if hl < 2 || hl > 5 || rem < 0 || rem > MaxRemainingLength || first != data[0] {
			t.Fatalf("ParseHeader = %#x, %d, %d", first, rem, hl)
		}
		if enc := AppendVarint(nil, rem); !bytes.Equal(enc, data[1:hl]) || VarintSize(rem) != len(enc) {
			t.Fatalf("remaining length %d re-encodes as % x, read from % x", rem, enc, data[1:hl])
		}
	})
}
