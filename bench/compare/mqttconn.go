package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// This file is the load generator's MQTT 3.1.1 client: just enough to
// connect, subscribe, publish at QoS 0 or 1 and acknowledge. Packets are
// encoded and decoded by hand, without the broker's codec, so that the
// generator stays cheap and does not share code (or bugs) with the broker
// it measures.

// Fixed header first bytes of the packets the generator sends or expects.
const (
	hdrConnect   = 0x10
	hdrConnack   = 0x20
	hdrPublish   = 0x30
	hdrPuback    = 0x40
	hdrSubscribe = 0x82 // SUBSCRIBE has reserved flags 0010 [MQTT-3.8.1-1]
	hdrSuback    = 0x90
)

// appendVarint appends an MQTT variable byte integer (the remaining length).
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

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// appendConnect appends a v3.1.1 CONNECT with Clean Session set and the
// given keep alive (0 turns keep alive off, so idle clients need no PINGREQ).
func appendConnect(dst []byte, clientID string, keepAlive uint16) []byte {
	body := make([]byte, 0, 12+len(clientID))
	body = appendString(body, "MQTT")
	body = append(body, 4, 0x02) // protocol level 4 (3.1.1), flags: Clean Session
	body = binary.BigEndian.AppendUint16(body, keepAlive)
	body = appendString(body, clientID)
	dst = append(dst, hdrConnect)
	dst = appendVarint(dst, len(body))
	return append(dst, body...)
}

// appendSubscribe appends a SUBSCRIBE for one filter.
func appendSubscribe(dst []byte, packetID uint16, filter string, qos byte) []byte {
	dst = append(dst, hdrSubscribe)
	dst = appendVarint(dst, 2+2+len(filter)+1)
	dst = binary.BigEndian.AppendUint16(dst, packetID)
	dst = appendString(dst, filter)
	return append(dst, qos)
}

// publishTemplate is an encoded PUBLISH whose packet identifier and payload
// are rewritten in place for each message, so publishing allocates nothing.
type publishTemplate struct {
	buf        []byte
	idOffset   int // -1 at QoS 0
	dataOffset int
}

func newPublishTemplate(topic string, qos byte, payloadSize int) publishTemplate {
	rl := 2 + len(topic) + payloadSize
	if qos > 0 {
		rl += 2
	}
	t := publishTemplate{idOffset: -1}
	t.buf = append(t.buf, hdrPublish|qos<<1)
	t.buf = appendVarint(t.buf, rl)
	t.buf = appendString(t.buf, topic)
	if qos > 0 {
		t.idOffset = len(t.buf)
		t.buf = append(t.buf, 0, 0)
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

func appendPuback(dst []byte, packetID uint16) []byte {
	dst = append(dst, hdrPuback, 2)
	return binary.BigEndian.AppendUint16(dst, packetID)
}

// readPacket reads one packet and returns its first byte and its body. The
// body aliases the reader's buffer when it fits (no copy) and is valid only
// until the next read; scratch is used for larger bodies.
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
			return 0, nil, errors.New("malformed remaining length")
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
	if cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	body := (*scratch)[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, noEOF(err)
	}
	return first, body, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// publishPayload returns the packet identifier (0 at QoS 0) and payload of
// a PUBLISH body, given the packet's first byte.
func publishPayload(first byte, body []byte) (uint16, []byte, error) {
	if len(body) < 2 {
		return 0, nil, errors.New("short PUBLISH")
	}
	i := 2 + int(binary.BigEndian.Uint16(body))
	var id uint16
	if (first>>1)&3 > 0 {
		if len(body) < i+2 {
			return 0, nil, errors.New("short PUBLISH")
		}
		id = binary.BigEndian.Uint16(body[i:])
		i += 2
	}
	if len(body) < i {
		return 0, nil, errors.New("short PUBLISH")
	}
	return id, body[i:], nil
}

// dialConnect opens a TCP connection, sends CONNECT and waits for a
// successful CONNACK, all within timeout. It reads exactly the CONNACK, so
// the caller may wrap the connection in a buffered reader afterwards.
func dialConnect(ctx context.Context, addr, clientID string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(appendConnect(nil, clientID, 0)); err != nil {
		c.Close()
		return nil, fmt.Errorf("send CONNECT: %w", err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("read CONNACK: %w", noEOF(err))
	}
	if ack[0] != hdrConnack || ack[1] != 2 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("CONNACK refused: % x", ack)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// subscribe sends a SUBSCRIBE for one filter on a connection read through r
// and waits for its SUBACK until deadline.
func subscribe(c net.Conn, r *bufio.Reader, filter string, qos byte, deadline time.Time) error {
	_ = c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(appendSubscribe(nil, 1, filter, qos)); err != nil {
		return fmt.Errorf("send SUBSCRIBE: %w", err)
	}
	var scratch []byte
	first, body, err := readPacket(r, &scratch)
	if err != nil {
		return fmt.Errorf("read SUBACK: %w", err)
	}
	if first != hdrSuback || len(body) != 3 || binary.BigEndian.Uint16(body) != 1 {
		return fmt.Errorf("expected SUBACK, got packet 0x%02x with % x", first, body)
	}
	if body[2] == 0x80 {
		return errors.New("subscription refused")
	}
	return nil
}
