package packet

import (
	"reflect"
	"testing"
)

// versions are the protocol levels every round-trip test runs for.
var versions = []byte{V31, V311, V5}

// withProps marks ids present in p and returns it.
func withProps(p Properties, ids ...PropID) Properties {
	for _, id := range ids {
		p.Set(id)
	}
	return p
}

// frame builds a whole packet from a first byte and a body, computing the
// remaining length.
func frame(first byte, body ...byte) []byte {
	return append(AppendVarint([]byte{first}, len(body)), body...)
}

// str returns a length-prefixed string field.
func str(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

// cat concatenates byte fields.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case int:
			b = append(b, byte(v))
		case []byte:
			b = append(b, v...)
		case string:
			b = append(b, v...)
		default:
			panic("cat: unsupported part")
		}
	}
	return b
}

// decodeAll parses the fixed header of b and decodes the packet, failing
// the test if b holds more or less than one packet.
func decodeAll(t testing.TB, version byte, b []byte) (Packet, error) {
	t.Helper()
	first, rem, hl, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if hl+rem != len(b) {
		t.Fatalf("fixed header announces %d bytes, have %d", hl+rem, len(b))
	}
	return Decode(version, first, b[hl:])
}

// roundTrip encodes p, checks Size, and decodes the result.
func roundTrip(t testing.TB, version byte, p Packet) Packet {
	t.Helper()
	b, err := Append(nil, p, version)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if n := Size(p, version); n != len(b) {
		t.Fatalf("Size = %d, Append wrote %d bytes", n, len(b))
	}
	got, err := decodeAll(t, version, b)
	if err != nil {
		t.Fatalf("Decode(% x): %v", b, err)
	}
	return got
}

func mustEqual(t testing.TB, got, want any) {
	t.Helper()
	forgetOrder(got)
	forgetOrder(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}

// forgetOrder clears the decoded property order of every Properties in p:
// tests that compare packets compare values, not wire order.
func forgetOrder(p any) {
	switch p := p.(type) {
	case *Connect:
		p.Properties.ForgetOrder()
		if p.Will != nil {
			p.Will.Properties.ForgetOrder()
		}
	case *Connack:
		p.Properties.ForgetOrder()
	case *Publish:
		p.Properties.ForgetOrder()
	case *Ack:
		p.Properties.ForgetOrder()
	case *Subscribe:
		p.Properties.ForgetOrder()
	case *Suback:
		p.Properties.ForgetOrder()
	case *Unsubscribe:
		p.Properties.ForgetOrder()
	case *Unsuback:
		p.Properties.ForgetOrder()
	case *Disconnect:
		p.Properties.ForgetOrder()
	case *Auth:
		p.Properties.ForgetOrder()
	}
}
