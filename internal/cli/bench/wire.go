package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// This file is the load generator's MQTT codec: just enough of 3.1.1 and
// 5.0 to connect, subscribe, publish at QoS 0, 1 and 2 and acknowledge.
// It is written by hand rather than on top of internal/packet so that the
// generator stays cheap (no decoded packet structs, no allocation per
// message) and shares no code, and so no bugs, with the broker it measures.

// Protocol levels of the CONNECT packet.
const (
	V311 byte = 4
	V5   byte = 5
)

// Fixed header first bytes of the packets the generator sends or expects.
const (
	hdrConnect   = 0x10
	hdrConnack   = 0x20
	hdrPublish   = 0x30
	hdrPuback    = 0x40
	hdrPubrec    = 0x50
	hdrPubrel    = 0x62 // PUBREL has reserved flags 0010 [MQTT-3.6.1-1]
	hdrPubcomp   = 0x70
	hdrSubscribe = 0x82 // SUBSCRIBE has reserved flags 0010 [MQTT-3.8.1-1]
	hdrSuback    = 0x90
	hdrPingresp  = 0xd0
)

// maxBody bounds the bodies the generator reads, so a broken peer cannot
// make it allocate without limit.
const maxBody = 16 << 20

var errMalformed = errors.New("malformed packet")

// appendVarint appends an MQTT variable byte integer.
func appendVarint(dst []byte, n int) []byte {
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst
		}
	}
}

// varint decodes a variable byte integer at the start of b and returns it
// and its length in bytes.
func varint(b []byte) (n, size int, err error) {
	mult := 1
	for i := 0; i < 4 && i < len(b); i++ {
		n += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			return n, i + 1, nil
		}
		mult *= 128
	}
	return 0, 0, errMalformed
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// connectOptions is what the generator puts in a CONNECT.
type connectOptions struct {
	version   byte
	clientID  string
	username  string
	password  string
	keepAlive uint16 // 0 turns keep alive off, so idle clients need no PINGREQ
	// keepSession clears Clean Session (3.x) or asks for a session expiry
	// of sessionExpiryV5 (5): the broker must keep what the client misses.
	keepSession bool
}

// sessionExpiryV5 is the Session Expiry Interval of kept v5 sessions.
const sessionExpiryV5 = 60

// appendConnect appends a CONNECT with Clean Session (Clean Start) set,
// unless o.keepSession.
func appendConnect(dst []byte, o connectOptions) []byte {
	flags := byte(0x02)
	if o.keepSession && o.version != V5 {
		flags = 0
	}
	if o.username != "" {
		flags |= 0x80
	}
	if o.password != "" {
		flags |= 0x40
	}
	body := make([]byte, 0, 16+len(o.clientID)+len(o.username)+len(o.password))
	body = appendString(body, "MQTT")
	body = append(body, o.version, flags)
	body = binary.BigEndian.AppendUint16(body, o.keepAlive)
	if o.version == V5 {
		if o.keepSession {
			body = append(body, 5, 0x11) // Session Expiry Interval
			body = binary.BigEndian.AppendUint32(body, sessionExpiryV5)
		} else {
			body = append(body, 0) // no properties
		}
	}
	body = appendString(body, o.clientID)
	if o.username != "" {
		body = appendString(body, o.username)
	}
	if o.password != "" {
		body = appendString(body, o.password)
	}
	dst = append(dst, hdrConnect)
	dst = appendVarint(dst, len(body))
	return append(dst, body...)
}

// appendSubscribe appends a SUBSCRIBE for one filter.
func appendSubscribe(dst []byte, version byte, packetID uint16, filter string, qos byte) []byte {
	rl := 2 + 2 + len(filter) + 1
	if version == V5 {
		rl++
	}
	dst = append(dst, hdrSubscribe)
	dst = appendVarint(dst, rl)
	dst = binary.BigEndian.AppendUint16(dst, packetID)
	if version == V5 {
		dst = append(dst, 0) // no properties
	}
	dst = appendString(dst, filter)
	return append(dst, qos)
}

// appendAck appends a PUBACK, PUBREC, PUBREL or PUBCOMP in its short form,
// which in MQTT 5 means reason code Success [MQTT-3.4.2.1].
func appendAck(dst []byte, hdr byte, packetID uint16) []byte {
	dst = append(dst, hdr, 2)
	return binary.BigEndian.AppendUint16(dst, packetID)
}

// publishTemplate is an encoded PUBLISH whose packet identifier and send
// timestamp are rewritten in place for each message, so that publishing
// encodes the packet once and allocates nothing.
type publishTemplate struct {
	buf        []byte
	idOffset   int // -1 at QoS 0
	dataOffset int
}

func newPublishTemplate(version byte, topic string, qos byte, payloadSize int) publishTemplate {
	rl := 2 + len(topic) + payloadSize
	if qos > 0 {
		rl += 2
	}
	if version == V5 {
		rl++ // property length 0
	}
	t := publishTemplate{idOffset: -1}
	t.buf = append(t.buf, hdrPublish|qos<<1)
	t.buf = appendVarint(t.buf, rl)
	t.buf = appendString(t.buf, topic)
	if qos > 0 {
		t.idOffset = len(t.buf)
		t.buf = append(t.buf, 0, 0)
	}
	if version == V5 {
		t.buf = append(t.buf, 0)
	}
	t.dataOffset = len(t.buf)
	t.buf = append(t.buf, make([]byte, payloadSize)...)
	return t
}

// fill sets the packet identifier and the send timestamp (the first 8
// bytes of the payload) and returns the packet's bytes.
func (t *publishTemplate) fill(packetID uint16, sentAt uint64) []byte {
	if t.idOffset >= 0 {
		binary.BigEndian.PutUint16(t.buf[t.idOffset:], packetID)
	}
	if len(t.buf)-t.dataOffset >= 8 {
		binary.LittleEndian.PutUint64(t.buf[t.dataOffset:], sentAt)
	}
	return t.buf
}

// readPacket reads one packet and returns its first byte and its body. The
// body aliases the reader's buffer when it fits (no copy) and is valid only
// until the next read; scratch holds larger bodies.
func readPacket(r *bufio.Reader, scratch *[]byte) (byte, []byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, noEOF(err)
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errMalformed
		}
		mult *= 128
	}
	if n <= r.Size() {
		body, err := r.Peek(n)
		if err != nil {
			return 0, nil, noEOF(err)
		}
		_, _ = r.Discard(n)
		return first, body, nil
	}
	if n > maxBody {
		return 0, nil, errMalformed
	}
	if cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	body := (*scratch)[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, noEOF(err)
	}
	return first, body, nil
}

// readPacketUnbuffered reads one small packet straight from r, without a
// buffered reader: idle connections then hold no read buffer at all.
func readPacketUnbuffered(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return 0, nil, noEOF(err)
	}
	i := 1
	for hdr[i]&0x80 != 0 {
		if i == 4 {
			return 0, nil, errMalformed
		}
		i++
		if _, err := io.ReadFull(r, hdr[i:i+1]); err != nil {
			return 0, nil, noEOF(err)
		}
	}
	n, _, err := varint(hdr[1 : i+1])
	if err != nil || n > 64<<10 {
		return 0, nil, errMalformed
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, noEOF(err)
	}
	return hdr[0], body, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// publishFields returns the packet identifier (0 at QoS 0) and payload of a
// PUBLISH body, given the packet's first byte.
func publishFields(version, first byte, body []byte) (uint16, []byte, error) {
	if len(body) < 2 {
		return 0, nil, errMalformed
	}
	i := 2 + int(binary.BigEndian.Uint16(body))
	var id uint16
	if (first>>1)&3 > 0 {
		if len(body) < i+2 {
			return 0, nil, errMalformed
		}
		id = binary.BigEndian.Uint16(body[i:])
		i += 2
	}
	if version == V5 {
		if i >= len(body) {
			return 0, nil, errMalformed
		}
		n, size, err := varint(body[i:])
		if err != nil {
			return 0, nil, err
		}
		i += size + n
	}
	if len(body) < i {
		return 0, nil, errMalformed
	}
	return id, body[i:], nil
}

// ackFields returns the packet identifier and reason code of a PUBACK,
// PUBREC, PUBREL or PUBCOMP body (the reason is 0 when omitted).
func ackFields(body []byte) (uint16, byte, error) {
	if len(body) < 2 {
		return 0, 0, errMalformed
	}
	var reason byte
	if len(body) > 2 {
		reason = body[2]
	}
	return binary.BigEndian.Uint16(body), reason, nil
}
