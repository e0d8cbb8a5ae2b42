package store

import (
	"encoding/binary"
	"fmt"
	"time"
)

// recordVersion is the version byte every encoded value starts with. A
// decoder refuses versions it does not know rather than guess.
const recordVersion = 1

// Presence bits of a message's optional fields.
const (
	hasPayloadFormat = 1 << iota
	hasExpiry
	hasContentType
	hasResponseTopic
	hasCorrelation
	hasUser
	hasOrigin
	hasSource // the publisher's username and listener
)

func appendBytes(dst []byte, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendTime stores Unix nanoseconds, 0 for the zero time.
func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	return binary.AppendUvarint(dst, uint64(t.UnixNano()))
}

func appendMessage(dst []byte, m *Message) []byte {
	flags := m.QoS & 3
	if m.Retain {
		flags |= 4
	}
	var has byte
	if m.HasPayloadFormat {
		has |= hasPayloadFormat
	}
	if !m.Expiry.IsZero() {
		has |= hasExpiry
	}
	if m.ContentType != "" {
		has |= hasContentType
	}
	if m.ResponseTopic != "" {
		has |= hasResponseTopic
	}
	if m.CorrelationData != nil {
		has |= hasCorrelation
	}
	if len(m.User) > 0 {
		has |= hasUser
	}
	if m.Origin != "" {
		has |= hasOrigin
	}
	if m.HasSource {
		has |= hasSource
	}
	dst = append(dst, flags, has)
	dst = appendString(dst, m.Topic)
	dst = appendBytes(dst, m.Payload)
	if has&hasPayloadFormat != 0 {
		dst = append(dst, m.PayloadFormat)
	}
	if has&hasExpiry != 0 {
		dst = appendTime(dst, m.Expiry)
	}
	if has&hasContentType != 0 {
		dst = appendString(dst, m.ContentType)
	}
	if has&hasResponseTopic != 0 {
		dst = appendString(dst, m.ResponseTopic)
	}
	if has&hasCorrelation != 0 {
		dst = appendBytes(dst, m.CorrelationData)
	}
	if has&hasUser != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(m.User)))
		for _, u := range m.User {
			dst = appendString(appendString(dst, u.Key), u.Value)
		}
	}
	if has&hasOrigin != 0 {
		dst = appendString(dst, m.Origin)
	}
	if has&hasSource != 0 {
		var u byte
		if m.OriginHasUsername {
			u = 1
		}
		dst = appendString(append(dst, u), m.OriginUsername)
		dst = appendString(dst, m.OriginListener)
	}
	return dst
}

func encodeRetained(dst []byte, m *Message) []byte {
	return appendMessage(append(dst, recordVersion), m)
}

// sessionVersion is the version of session records: 2 adds the last
// packet id; records of version 1 are still read.
const sessionVersion = 2

func encodeSession(dst []byte, s *Session) []byte {
	dst = append(dst, sessionVersion, s.ProtocolVersion)
	dst = appendString(dst, s.Username)
	dst = binary.AppendUvarint(dst, uint64(s.ExpiryInterval))
	dst = appendTime(dst, s.DisconnectedAt)
	dst = binary.AppendUvarint(dst, uint64(len(s.Subscriptions)))
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		opts := sub.QoS&3 | sub.RetainHandling&3<<4
		if sub.NoLocal {
			opts |= 4
		}
		if sub.RetainAsPublished {
			opts |= 8
		}
		dst = appendString(dst, sub.Filter)
		dst = append(dst, opts)
		dst = binary.AppendUvarint(dst, uint64(sub.ID))
	}
	return binary.BigEndian.AppendUint16(dst, s.LastPacketID)
}

func encodeOutgoing(dst []byte, o *Outgoing) []byte {
	flags := o.QoS & 3
	if o.Retain {
		flags |= 4
	}
	dst = append(dst, recordVersion, byte(o.State), flags)
	dst = binary.BigEndian.AppendUint16(dst, o.PacketID)
	dst = binary.AppendUvarint(dst, uint64(len(o.SubIDs)))
	for _, id := range o.SubIDs {
		dst = binary.AppendUvarint(dst, uint64(id))
	}
	return appendMessage(dst, &o.Message)
}

func encodeWill(dst []byte, w *Will) []byte {
	dst = appendTime(append(dst, recordVersion), w.Due)
	return appendMessage(dst, &w.Message)
}

// decoder reads a value; the first error sticks and later reads return
// zero values, so decode functions check once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or malformed %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte(what string) byte {
	if len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint32(what string) uint32 {
	v := d.uvarint(what)
	if v > 0xFFFFFFFF {
		d.fail(what)
		return 0
	}
	return uint32(v)
}

func (d *decoder) uint16(what string) uint16 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 2 {
		d.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	// Copy: backends hand out buffers they reuse, and the visitor keeps
	// records.
	b := append([]byte{}, d.b[:n]...)
	d.b = d.b[n:]
	return b
}

func (d *decoder) string(what string) string {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time(what string) time.Time {
	v := d.uvarint(what)
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v))
}

func (d *decoder) version(what string) {
	if v := d.byte(what); d.err == nil && v != recordVersion {
		d.err = fmt.Errorf("%w: %s record version %d, this build reads %d", ErrCorrupt, what, v, recordVersion)
	}
}

// done reports the first error, or trailing bytes.
func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes after %s", ErrCorrupt, len(d.b), what)
	}
	return d.err
}

func (d *decoder) message(m *Message) {
	flags := d.byte("message flags")
	has := d.byte("message fields")
	m.QoS = flags & 3
	m.Retain = flags&4 != 0
	if flags&^7 != 0 || m.QoS > 2 || has&^(hasSource<<1-1) != 0 {
		d.fail("message flags")
	}
	m.Topic = d.string("topic")
	if m.Payload = d.bytes("payload"); len(m.Payload) == 0 {
		m.Payload = nil // an empty payload reads back as nil, as from the packet decoder
	}
	if has&hasPayloadFormat != 0 {
		m.HasPayloadFormat = true
		m.PayloadFormat = d.byte("payload format")
	}
	if has&hasExpiry != 0 {
		m.Expiry = d.time("expiry")
	}
	if has&hasContentType != 0 {
		m.ContentType = d.string("content type")
	}
	if has&hasResponseTopic != 0 {
		m.ResponseTopic = d.string("response topic")
	}
	if has&hasCorrelation != 0 {
		m.CorrelationData = d.bytes("correlation data")
	}
	if has&hasUser != 0 {
		n := d.uvarint("user properties")
		if n > uint64(len(d.b)) { // each pair takes at least 2 bytes
			d.fail("user properties")
			return
		}
		m.User = make([]UserProperty, n)
		for i := range m.User {
			m.User[i].Key = d.string("user property")
			m.User[i].Value = d.string("user property")
		}
	}
	if has&hasOrigin != 0 {
		m.Origin = d.string("origin")
	}
	if has&hasSource != 0 {
		m.HasSource = true
		switch d.byte("source username flag") {
		case 0:
		case 1:
			m.OriginHasUsername = true
		default:
			d.fail("source username flag")
		}
		m.OriginUsername = d.string("source username")
		m.OriginListener = d.string("source listener")
	}
}

func decodeRetained(b []byte) (Message, error) {
	d := decoder{b: b}
	var m Message
	d.version("retained")
	d.message(&m)
	return m, d.done("retained message")
}

func decodeSession(clientID string, b []byte) (Session, error) {
	d := decoder{b: b}
	s := Session{ClientID: clientID}
	v := d.byte("session")
	if d.err == nil && v != recordVersion && v != sessionVersion {
		d.err = fmt.Errorf("%w: session record version %d, want %d", ErrCorrupt, v, sessionVersion)
	}
	s.ProtocolVersion = d.byte("protocol version")
	s.Username = d.string("username")
	s.ExpiryInterval = d.uint32("session expiry")
	s.DisconnectedAt = d.time("disconnect time")
	n := d.uvarint("subscriptions")
	if n > uint64(len(d.b)) {
		d.fail("subscriptions")
	}
	if d.err == nil && n > 0 {
		s.Subscriptions = make([]Subscription, n)
		for i := range s.Subscriptions {
			sub := &s.Subscriptions[i]
			sub.Filter = d.string("subscription filter")
			opts := d.byte("subscription options")
			sub.QoS = opts & 3
			sub.NoLocal = opts&4 != 0
			sub.RetainAsPublished = opts&8 != 0
			sub.RetainHandling = opts >> 4 & 3
			sub.ID = d.uint32("subscription id")
		}
	}
	if v == sessionVersion {
		s.LastPacketID = d.uint16("last packet id")
	}
	return s, d.done("session")
}

func decodeOutgoing(seq uint64, b []byte) (Outgoing, error) {
	d := decoder{b: b}
	o := Outgoing{Seq: seq}
	d.version("outgoing")
	o.State = OutState(d.byte("state"))
	flags := d.byte("outgoing flags")
	o.QoS = flags & 3
	o.Retain = flags&4 != 0
	if o.State > StateAwaitPubcomp || o.QoS > 2 {
		d.fail("outgoing state")
	}
	if len(d.b) < 2 {
		d.fail("packet id")
	} else {
		o.PacketID = binary.BigEndian.Uint16(d.b)
		d.b = d.b[2:]
	}
	n := d.uvarint("subscription ids")
	if n > uint64(len(d.b)) {
		d.fail("subscription ids")
	}
	if d.err == nil && n > 0 {
		o.SubIDs = make([]uint32, n)
		for i := range o.SubIDs {
			o.SubIDs[i] = d.uint32("subscription id")
		}
	}
	d.message(&o.Message)
	return o, d.done("outgoing message")
}

func decodeWill(clientID string, b []byte) (Will, error) {
	d := decoder{b: b}
	w := Will{ClientID: clientID}
	d.version("will")
	w.Due = d.time("will due time")
	d.message(&w.Message)
	return w, d.done("will")
}
