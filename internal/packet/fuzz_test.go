package packet

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode checks that no input makes Decode panic or fail with anything
// but an *Error, and that whatever decodes re-encodes to a packet that
// decodes to the same value.
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
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			return
		}
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
