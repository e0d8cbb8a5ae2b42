package packet

// ParseHeader parses a fixed header at the start of b. It returns the first
// byte (type and flags), the remaining length and the header's length in
// bytes (2..5). It returns ErrIncomplete if b ends inside the header, and a
// MalformedPacket *Error for a remaining length longer than four bytes.
// A remaining length that does not use the fewest bytes possible is
// malformed too [MQTT-1.5.5-1]. The packet type and flags are checked by
// Decode, not here.
func ParseHeader(b []byte) (first byte, remaining int, headerLen int, err error) {
	if len(b) < 2 {
		return 0, 0, 0, ErrIncomplete
	}
	v, n, err := decodeVarint(b[1:])
	if err != nil {
		return 0, 0, 0, err
	}
	if n == 0 {
		return 0, 0, 0, ErrIncomplete
	}
	return b[0], v, 1 + n, nil
}

// decodeVarint decodes a variable byte integer at the start of b and
// returns its value and length. A zero length with a nil error means b ends
// inside the integer.
func decodeVarint(b []byte) (value, n int, err error) {
	for i := range 4 {
		if i == len(b) {
			return 0, 0, nil
		}
		c := b[i]
		value |= int(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			// A last byte of zero after a continuation byte adds nothing:
			// a shorter encoding exists [MQTT-1.5.5-1].
			if c == 0 && i > 0 {
				return 0, 0, malformed("variable byte integer is not minimally encoded")
			}
			return value, i + 1, nil
		}
	}
	return 0, 0, malformed("variable byte integer longer than four bytes")
}

// AppendVarint appends v as an MQTT variable byte integer. v must be in
// 0..MaxRemainingLength; larger values need more than the four bytes any
// receiver accepts.
func AppendVarint(dst []byte, v int) []byte {
	u := uint(v)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// VarintSize returns the number of bytes AppendVarint uses for v.
func VarintSize(v int) int {
	n := 1
	for u := uint(v); u >= 0x80; u >>= 7 {
		n++
	}
	return n
}

// requiredFlags returns the fixed header flags a packet type must carry
// (every type except PUBLISH, whose flags carry DUP, QoS and RETAIN).
func requiredFlags(t Type) byte {
	switch t {
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		return 0x02
	}
	return 0
}

// checkFlags enforces the reserved flag bits of the fixed header
// [MQTT-2.1.3-1] (v5) / [MQTT-2.2.2-1] [MQTT-2.2.2-2] (3.1.1).
func checkFlags(version byte, t Type, flags byte) error {
	want := requiredFlags(t)
	if flags == want {
		return nil
	}
	// MQTT 3.1 gave PUBREL, SUBSCRIBE and UNSUBSCRIBE a real QoS 1 and let a
	// sender set DUP when it re-sent them, so 3.1 clients may set bit 3.
	if version == V31 && want != 0 && flags == want|0x08 {
		return nil
	}
	switch t {
	case PUBREL:
		return malformed("fixed header flags 0x%02x, want 0x2 [MQTT-3.6.1-1]", flags)
	case SUBSCRIBE:
		return malformed("fixed header flags 0x%02x, want 0x2 [MQTT-3.8.1-1]", flags)
	case UNSUBSCRIBE:
		return malformed("fixed header flags 0x%02x, want 0x2 [MQTT-3.10.1-1]", flags)
	}
	return malformed("reserved fixed header flags 0x%02x set", flags)
}
