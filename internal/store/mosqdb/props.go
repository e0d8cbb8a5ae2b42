package mosqdb

import (
	"encoding/binary"
	"fmt"

	"github.com/midge-mqtt/midge/internal/store"
)

// props are the MQTT 5 properties Mosquitto saves with a message (or with a
// client message: its subscription identifier).
type props struct {
	hasPayloadFormat bool
	payloadFormat    byte
	contentType      string
	responseTopic    string
	correlation      []byte
	user             []store.UserProperty
	subIDs           []uint32
}

// parseProps parses a property block: a variable byte integer length, then
// the properties (MQTT 5.0 section 2.2.2), and nothing after it.
func parseProps(b []byte) (props, error) {
	var p props
	n, used, err := varint(b)
	if err != nil {
		return p, err
	}
	b = b[used:]
	if uint64(len(b)) != n {
		return p, fmt.Errorf("property length %d, %d bytes present", n, len(b))
	}
	r := reader{b: b}
	for len(r.b) > 0 && r.err == nil {
		switch id := r.u8(); id {
		case 0x01: // payload format indicator
			p.hasPayloadFormat, p.payloadFormat = true, r.u8()
		case 0x02: // message expiry interval: the chunk's expiry time rules
			r.u32()
		case 0x03:
			p.contentType = string(r.str16())
		case 0x08:
			p.responseTopic = string(r.str16())
		case 0x09:
			p.correlation = append([]byte{}, r.str16()...)
		case 0x0B:
			v, used, err := varint(r.b)
			if err != nil {
				return p, err
			}
			r.b = r.b[used:]
			p.subIDs = append(p.subIDs, uint32(v))
		case 0x23: // topic alias: meaningless once stored
			r.u16()
		case 0x26:
			k := string(r.str16())
			p.user = append(p.user, store.UserProperty{Key: k, Value: string(r.str16())})
		default:
			return p, fmt.Errorf("unexpected property 0x%02x", id)
		}
	}
	return p, r.err
}

// varint decodes an MQTT variable byte integer (at most 4 bytes).
func varint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("truncated variable byte integer")
		}
		v |= uint64(b[i]&0x7F) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("variable byte integer longer than 4 bytes")
}

func appendVarint(dst []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v > 0 {
			c |= 0x80
		}
		dst = append(dst, c)
		if v == 0 {
			return dst
		}
	}
}

// reader reads big-endian fields; the first shortfall sticks as err.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("truncated: need %d bytes, %d left", n, len(r.b))
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// host64 reads a field Mosquitto writes in host byte order (see doc.go).
func (r *reader) host64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// str16 reads a uint16 length and that many bytes (v2-v4 strings and
// property strings).
func (r *reader) str16() []byte { return r.take(int(r.u16())) }
