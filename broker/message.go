package broker

import (
	"strings"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/topic"
)

// message is one application message as the broker routes it. It is
// immutable once published, so every subscriber shares it.
type message struct {
	topic   string
	payload []byte
	// qos, retain and the flags down to wireV5 share one word: a message
	// is allocated for every PUBLISH, and its size (160 bytes) is what
	// the garbage collector pays for.
	qos    byte
	retain bool
	// relayed marks a message another server forwarded (DeliverRelayed):
	// it is not forwarded again.
	relayed bool
	// forwarded is set once the message has been given to the Relay (or
	// found to stay here), and remote is then the number of servers
	// elsewhere with matching subscriptions.
	forwarded bool
	wireV5    bool // see wire
	// props are the v5 properties forwarded to subscribers, nil when
	// there are none (most messages: it saves 288 bytes a message).
	props  *packet.Properties
	expiry int64  // Unix ns when it expires (see expires); 0: never
	origin string // client id of the publisher, for No Local
	// source is the publisher, for check_retain_source (nil for messages
	// of the broker itself). A message restored from the store names its
	// publisher's listener by sourceListener, resolved when it is checked.
	source         *ClientInfo
	sourceListener string
	// rseq numbers a retained publish (Server.retainSeq); 0 for other
	// messages and for retained messages restored from the store.
	rseq uint64
	// recvAt (monotime) is set on one received PUBLISH in deliverSample,
	// for the delivery latency histogram; 0 for the others.
	recvAt int64
	remote int
	// sharedHere, when set, tells which shared groups ($share/g/filter)
	// get this message here; the others are served by another server.
	sharedHere func(shared string) bool
	// wire, when not nil, is the QoS 0 PUBLISH as its client sent it,
	// with the fixed header of one without retain flag: the bytes a
	// subscriber of the same protocol family (5.0 if wireV5, else 3.x)
	// takes the message in at QoS 0 without retain flag, subscription
	// identifier, topic alias, expiry or mount point. Those deliveries
	// queue these bytes instead of an encoding of their own; the
	// garbage collector keeps them while a writer holds them.
	wire []byte
}

// expiryAt is the message expiry of a message expiring at t (zero: never).
func expiryAt(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// expires is when the message expires, zero if never.
func (m *message) expires() time.Time {
	if m.expiry == 0 {
		return time.Time{}
	}
	return time.Unix(0, m.expiry)
}

// receivedWire returns wire, a QoS 0 PUBLISH read behind room for its fixed
// header (n bytes of remaining length), with that header written for no
// retain flag, if p is the message as subscribers get it: no properties
// beyond an empty list (no topic alias), the topic spelled out. Otherwise
// it returns nil.
func receivedWire(wire []byte, n, remaining int, p *packet.Publish, version byte) []byte {
	size := 2 + len(p.Topic) + len(p.Payload)
	if version == packet.V5 {
		if !p.Properties.IsEmpty() {
			return nil
		}
		size++ // the property length, 0 in one byte
	}
	if size != remaining {
		return nil // a topic alias, or a property length not in one byte
	}
	wire[0] = byte(packet.PUBLISH) << 4
	packet.AppendVarint(wire[1:1:1+n], remaining) // n bytes: it was read minimal
	return wire
}

// plainWire returns the bytes of m for a QoS 0 delivery without retain
// flag to a client of the given version, nil if m has none for it.
func (m *message) plainWire(version byte) []byte {
	if m.wire == nil || m.wireV5 != (version == packet.V5) {
		return nil
	}
	return m.wire
}

// newMessage builds a message from a decoded PUBLISH. The properties that
// belong to one hop (topic alias, subscription identifiers) are dropped.
func newMessage(p *packet.Publish, origin string, now time.Time) *message {
	m := &message{
		topic:   p.Topic,
		payload: p.Payload,
		qos:     p.QoS,
		retain:  p.Retain,
		origin:  origin,
	}
	if !p.Properties.IsEmpty() {
		props := p.Properties
		props.Clear(packet.PropTopicAlias)
		props.Clear(packet.PropSubscriptionID)
		m.setProps(&props)
		if props.Has(packet.PropMessageExpiry) {
			m.expiry = now.Add(time.Duration(props.MessageExpiry) * time.Second).UnixNano()
		}
	}
	return m
}

// noProps is the properties of a message without any; never changed.
var noProps packet.Properties

// properties returns the message's properties, an empty set when it has
// none. The caller must not change them.
func (m *message) properties() *packet.Properties {
	if m.props == nil {
		return &noProps
	}
	return m.props
}

// setProps makes p the message's properties: nil if p has none.
func (m *message) setProps(p *packet.Properties) {
	if p.IsEmpty() {
		m.props = nil
		return
	}
	m.props = p
}

// expired reports whether the message's expiry interval has passed.
func (m *message) expired(now time.Time) bool {
	return m.expiry != 0 && now.UnixNano() >= m.expiry
}

// remainingExpiry is the Message Expiry Interval to forward: the time left,
// rounded up to whole seconds [MQTT-3.3.2-6].
func (m *message) remainingExpiry(now time.Time) uint32 {
	d := time.Duration(m.expiry - now.UnixNano())
	if d <= 0 {
		return 0
	}
	return uint32((d + time.Second - 1) / time.Second)
}

// size is what the message counts against byte-based queue limits.
func (m *message) size() int { return len(m.payload) }

// wireForms caches, for one publish, the encodings that subscribers can
// share: a QoS 0 PUBLISH with no subscription identifier, topic alias or
// expiry, in each of its four simple forms (3.x or 5.0, retain flag or
// not). A fan-out encodes each form once and queues the same bytes on
// every subscriber's writer. The cache holds one reference to each buffer,
// given back by release when the publish is done; it is used only by the
// goroutine routing the publish.
type wireForms [4]*wireBuf

func (f *wireForms) slot(v5, retain bool) **wireBuf {
	i := 0
	if v5 {
		i = 2
	}
	if retain {
		i++
	}
	return &f[i]
}

func (f *wireForms) release() {
	for i, wb := range f {
		if wb != nil {
			wb.release()
			f[i] = nil
		}
	}
}

// delivery is one message on its way to one session, with what the
// subscription decided: the QoS, the retain flag and subscription ids.
type delivery struct {
	msg    *message
	qos    byte
	retain bool
	subIDs []uint32
	// group is the shared group that picked this session, nil for an
	// ordinary subscription. If the session ends before the message is
	// acknowledged, the group gets it back for another member.
	group *topic.SharedGroup[*session]
	// key is the message's sequence number in the session's stored queue
	// (0: not stored); pid its packet id when it was stored with one.
	key uint64
	pid uint16
}

// encode encodes the PUBLISH for this delivery into a wire buffer that
// holds one reference for the caller. alias is the topic alias to use (0:
// none) and sendTopic whether the topic name must be sent with it. mount
// is the receiving listener's mount_point, stripped from the topic.
func (d *delivery) encode(version byte, id uint16, dup bool, alias uint16, sendTopic bool, mount string, now time.Time) (*wireBuf, error) {
	p := packet.Publish{
		Dup:      dup,
		QoS:      d.qos,
		Retain:   d.retain,
		Topic:    strings.TrimPrefix(d.msg.topic, mount),
		PacketID: id,
		Payload:  d.msg.payload,
	}
	if version == packet.V5 {
		p.Properties = *d.msg.properties()
		if len(d.subIDs) > 0 {
			p.Properties.SubscriptionIDs = d.subIDs
		}
		if d.msg.expiry != 0 {
			p.Properties.MessageExpiry = d.msg.remainingExpiry(now)
			p.Properties.Set(packet.PropMessageExpiry)
		}
		if alias != 0 {
			p.Properties.TopicAlias = alias
			p.Properties.Set(packet.PropTopicAlias)
			if !sendTopic {
				p.Topic = ""
			}
		}
	}
	size, err := packet.PublishSize(&p, version)
	if err != nil {
		return nil, err
	}
	wb := getWireBuf(size)
	if wb.b, err = packet.AppendPublish(wb.b, &p, version); err != nil {
		wb.release()
		return nil, err
	}
	return wb, nil
}

// encodeShared returns, with a reference for the caller, the encoding of a
// cacheable delivery from forms, encoding it on first use.
func (d *delivery) encodeShared(forms *wireForms, version byte) (*wireBuf, error) {
	slot := forms.slot(version == packet.V5, d.retain)
	if *slot == nil {
		wb, err := d.encode(version, 0, false, 0, false, "", time.Time{})
		if err != nil {
			return nil, err
		}
		*slot = wb
	}
	(*slot).retain()
	return *slot, nil
}

// cacheable reports whether the delivery's bytes can be shared.
func (d *delivery) cacheable() bool {
	return d.qos == 0 && len(d.subIDs) == 0 && d.msg.expiry == 0
}
