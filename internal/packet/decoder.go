package packet

import (
	"bytes"
	"unicode/utf8"
)

// decoder reads the fields of one packet body in order. Every read checks
// the bytes that remain, so no length prefix can reach past the body and
// nothing is allocated on a length prefix's word alone.
type decoder struct {
	b []byte // the unread rest of the body
}

func truncated(field string) error {
	return malformed("%s: packet too short", field)
}

func (d *decoder) readByte(field string) (byte, error) {
	if len(d.b) < 1 {
		return 0, truncated(field)
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v, nil
}

func (d *decoder) readUint16(field string) (uint16, error) {
	if len(d.b) < 2 {
		return 0, truncated(field)
	}
	v := uint16(d.b[0])<<8 | uint16(d.b[1])
	d.b = d.b[2:]
	return v, nil
}

func (d *decoder) readUint32(field string) (uint32, error) {
	if len(d.b) < 4 {
		return 0, truncated(field)
	}
	v := uint32(d.b[0])<<24 | uint32(d.b[1])<<16 | uint32(d.b[2])<<8 | uint32(d.b[3])
	d.b = d.b[4:]
	return v, nil
}

func (d *decoder) readVarint(field string) (int, error) {
	v, n, err := decodeVarint(d.b)
	if err != nil {
		return 0, prefixed(field, err)
	}
	if n == 0 {
		return 0, truncated(field)
	}
	d.b = d.b[n:]
	return v, nil
}

// readBinary reads two-byte-length-prefixed binary data. The result
// aliases the body; its capacity is clipped so that appending to it cannot
// overwrite the bytes after it. Empty data reads as nil.
func (d *decoder) readBinary(field string) ([]byte, error) {
	n, err := d.readUint16(field)
	if err != nil {
		return nil, err
	}
	if int(n) > len(d.b) {
		return nil, malformed("%s: length %d overruns the packet", field, n)
	}
	if n == 0 {
		return nil, nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v, nil
}

// readStringBytes reads a UTF-8 encoded string without copying it.
func (d *decoder) readStringBytes(field string) ([]byte, error) {
	b, err := d.readBinary(field)
	if err != nil {
		return nil, err
	}
	if err := checkUTF8(b); err != nil {
		return nil, prefixed(field, err)
	}
	return b, nil
}

// readString reads a UTF-8 encoded string into a new Go string, so that
// strings never pin the packet buffer.
func (d *decoder) readString(field string) (string, error) {
	b, err := d.readStringBytes(field)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// checkUTF8 applies the rules every UTF-8 encoded string must satisfy:
// well-formed UTF-8 without surrogate code points [MQTT-1.5.4-1]
// [MQTT-1.5.3-1] and no U+0000 [MQTT-1.5.4-2] [MQTT-1.5.3-2] (utf8.Valid
// rejects encoded surrogates). The specifications say strings SHOULD NOT
// hold control characters or non-characters and leave it to the receiver
// whether to accept them [MQTT-1.5.4-3]; Mosquitto treats them as a
// malformed packet, and so do we, so that a client refused by one is
// refused by the other.
func checkUTF8(b []byte) error {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				if c == 0 {
					return malformed("string contains U+0000")
				}
				return malformed("string contains control character U+%04X", c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return malformed("string is not valid UTF-8")
		}
		switch {
		case r <= 0x9f:
			return malformed("string contains control character U+%04X", r)
		case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
			return malformed("string contains non-character U+%04X", r)
		}
		i += n
	}
	return nil
}

// hasWildcard reports whether a topic name contains a wildcard character.
func hasWildcard(b []byte) bool {
	return bytes.IndexByte(b, '+') >= 0 || bytes.IndexByte(b, '#') >= 0
}
