package packet

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		in            []byte
		rem, hl       int
		err           error
		malformedWant bool
	}{
		{in: nil, err: ErrIncomplete},
		{in: []byte{0x30}, err: ErrIncomplete},
		{in: []byte{0x30, 0x80}, err: ErrIncomplete},
		{in: []byte{0x30, 0xff, 0xff, 0xff}, err: ErrIncomplete},
		{in: []byte{0x30, 0x00}, rem: 0, hl: 2},
		{in: []byte{0x30, 0x7f, 0xaa}, rem: 127, hl: 2},
		{in: []byte{0x30, 0x80, 0x01}, rem: 128, hl: 3},
		{in: []byte{0x30, 0xff, 0x7f}, rem: 16383, hl: 3},
		{in: []byte{0x30, 0x80, 0x80, 0x01}, rem: 16384, hl: 4},
		{in: []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, rem: MaxRemainingLength, hl: 5},
		{in: []byte{0x30, 0xff, 0xff, 0xff, 0xff}, malformedWant: true},
		{in: []byte{0x30, 0x80, 0x80, 0x00}, malformedWant: true},
	}
	for _, tt := range tests {
		_, rem, hl, err := ParseHeader(tt.in)
		switch {
		case tt.malformedWant:
			if ReasonOf(err) != MalformedPacket || errors.Is(err, ErrIncomplete) {
				t.Errorf("% x: err %v, want MalformedPacket", tt.in, err)
			}
		case err != tt.err || rem != tt.rem || hl != tt.hl:
			t.Errorf("% x: got %d, %d, %v; want %d, %d, %v", tt.in, rem, hl, err, tt.rem, tt.hl, tt.err)
		}
	}
}

func TestVarint(t *testing.T) {
	for _, v := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, MaxRemainingLength} {
		b := AppendVarint(nil, v)
		if len(b) != VarintSize(v) {
			t.Errorf("VarintSize(%d) = %d, encoded %d bytes", v, VarintSize(v), len(b))
		}
		got, n, err := decodeVarint(b)
		if err != nil || n != len(b) || got != v {
			t.Errorf("%d: decoded %d (%d bytes, %v)", v, got, n, err)
		}
	}
}

func TestReadPacket(t *testing.T) {
	var stream []byte
	var want []Packet
	for _, g := range goldenPackets {
		if g.version == V5 {
			stream = append(stream, g.wire...)
			want = append(want, g.want)
		}
	}
	big := &Publish{Topic: "big", Payload: bytes.Repeat([]byte{7}, 3*bodyChunk+5)}
	stream, _ = Append(stream, big, V5)
	want = append(want, big)

	// One byte per Read, so every header and body read is split.
	r := iotest.OneByteReader(bytes.NewReader(stream))
	for i, w := range want {
		p, err := ReadPacket(r, V5, 0)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		mustEqual(t, p, w)
	}
	if _, err := ReadPacket(r, V5, 0); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

func TestReadPacketErrors(t *testing.T) {
	pub, _ := Append(nil, &Publish{Topic: "t", Payload: make([]byte, 100)}, V311)
	tests := []struct {
		name    string
		in      []byte
		maxSize int
		check   func(error) bool
	}{
		{"too large", pub, len(pub) - 1, func(err error) bool { return ReasonOf(err) == PacketTooLarge }},
		{"exactly the maximum", pub, len(pub), func(err error) bool { return err == nil }},
		{"end inside the header", pub[:1], 0, func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"end inside the body", pub[:10], 0, func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"long remaining length", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 0,
			func(err error) bool { return ReasonOf(err) == MalformedPacket }},
		{"malformed body", []byte{0x30, 0x02, 0x00, 0x05}, 0, func(err error) bool { return ReasonOf(err) == MalformedPacket }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPacket(bytes.NewReader(tt.in), V311, tt.maxSize)
			if !tt.check(err) {
				t.Fatalf("unexpected error %v", err)
			}
		})
	}
}

// TestReadPacketTooLargeReadsNoBody checks that an oversized packet is
// refused from its header alone.
func TestReadPacketTooLargeReadsNoBody(t *testing.T) {
	hdr := AppendVarint([]byte{0x30}, MaxRemainingLength)
	r := bytes.NewReader(append(hdr, 0xAA))
	_, err := ReadPacket(r, V5, 1<<20)
	if ReasonOf(err) != PacketTooLarge {
		t.Fatalf("err %v, want PacketTooLarge", err)
	}
	if r.Len() != 1 {
		t.Fatalf("read %d body bytes", 1-r.Len())
	}
}

// TestReadPacketLyingHeader checks that a header announcing far more than
// arrives does not allocate the announced size up front.
func TestReadPacketLyingHeader(t *testing.T) {
	hdr := AppendVarint([]byte{0x30}, MaxRemainingLength)
	r := &countingReader{r: bytes.NewReader(append(hdr, make([]byte, 10)...))}
	if _, err := ReadPacket(r, V5, 0); err != io.ErrUnexpectedEOF {
		t.Fatalf("err %v", err)
	}
	if r.maxBuf > bodyChunk {
		t.Fatalf("read into a buffer of %d bytes before any body arrived", r.maxBuf)
	}
}

type countingReader struct {
	r      io.Reader
	maxBuf int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.maxBuf = max(c.maxBuf, len(p))
	return c.r.Read(p)
}
