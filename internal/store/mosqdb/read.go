package mosqdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/midge-mqtt/midge/internal/store"
)

// magic starts every mosquitto.db.
const magic = "\x00\xB5\x00mosquitto db"

// Chunk types.
const (
	chunkCfg       = 1
	chunkMsgStore  = 2
	chunkClientMsg = 3
	chunkRetain    = 4
	chunkSub       = 5
	chunkClient    = 6
)

// Sizes of the fixed C structs of v5/v6 chunks, padding included.
const (
	sizeCfg       = 16
	sizeMsgStore  = 32
	sizeClientMsg = 16
	sizeSub       = 12
	sizeClientV5  = 16
	sizeClientV6  = 24
)

// DB is the content of a mosquitto.db as store records.
type DB struct {
	Version  uint32
	Sessions []store.Session // in file order; subscriptions attached
	// Outgoing holds each client's queued and in-flight messages in the
	// order Mosquitto kept them (in-flight first), with Seq from 1.
	Outgoing map[string][]store.Outgoing
	// Inbound are QoS 2 messages received from a client and not yet
	// released by its PUBREL. Mosquitto delivers them to subscribers only
	// at PUBREL, and so does midge: Ops holds them for the PUBREL.
	Inbound  []InboundMessage
	Retained []store.Message
}

// InboundMessage is an inbound QoS 2 message awaiting PUBREL.
type InboundMessage struct {
	ClientID string
	PacketID uint16
	Message  store.Message
}

// ReadFile reads and converts the mosquitto.db at path.
func ReadFile(path string) (*DB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mosqdb: %w", err)
	}
	db, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("mosqdb: %s: %w", path, err)
	}
	return db, nil
}

// Read reads and converts a mosquitto.db from r.
func Read(r io.Reader) (*DB, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("mosqdb: %w", err)
	}
	db, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("mosqdb: %w", err)
	}
	return db, nil
}

// Raw chunk contents, before conversion.
type (
	baseMsg struct {
		expiry   int64
		sourceID string
		topic    string
		qos      byte
		retain   bool
		payload  []byte
		props    props
	}
	clientRec struct {
		id, username string
		expiryTime   int64
		interval     uint32
		lastMid      uint16
	}
	clientMsg struct {
		clientID  string
		storeID   uint64
		mid       uint16
		qos       byte
		state     byte
		retain    bool
		direction byte
		props     props
	}
	subRec struct {
		clientID, topic string
		qos, options    byte
		id              uint32
	}
)

// file collects the chunks of one file.
type file struct {
	version  uint32
	msgs     map[uint64]*baseMsg
	clients  []clientRec
	cmsgs    []clientMsg
	subs     []subRec
	retained []uint64
	sawCfg   bool
}

func parse(b []byte) (*DB, error) {
	if len(b) < len(magic)+8 || !bytes.Equal(b[:len(magic)], []byte(magic)) {
		return nil, fmt.Errorf("not a mosquitto.db (bad magic)")
	}
	f := &file{version: binary.BigEndian.Uint32(b[len(magic)+4:]), msgs: map[uint64]*baseMsg{}}
	if f.version < 2 || f.version > 6 {
		return nil, fmt.Errorf("unsupported mosquitto.db version %d (this reads 2 to 6)", f.version)
	}
	off := len(magic) + 8
	for off < len(b) {
		var typ, length uint32
		hdr := 8
		if f.version <= 4 {
			hdr = 6
		}
		if len(b)-off < hdr {
			return nil, fmt.Errorf("offset %d: truncated chunk header", off)
		}
		if f.version <= 4 {
			typ, length = uint32(binary.BigEndian.Uint16(b[off:])), binary.BigEndian.Uint32(b[off+2:])
		} else {
			typ, length = binary.BigEndian.Uint32(b[off:]), binary.BigEndian.Uint32(b[off+4:])
		}
		body := b[off+hdr:]
		if uint64(length) > uint64(len(body)) {
			return nil, fmt.Errorf("offset %d: chunk type %d of %d bytes, only %d left: truncated file", off, typ, length, len(body))
		}
		if err := f.chunk(typ, body[:length]); err != nil {
			return nil, fmt.Errorf("offset %d: chunk type %d: %w", off, typ, err)
		}
		off += hdr + int(length)
	}
	if !f.sawCfg {
		return nil, fmt.Errorf("no CFG chunk: truncated or not a mosquitto.db")
	}
	return f.convert()
}

func (f *file) chunk(typ uint32, body []byte) error {
	if f.version <= 4 {
		return f.chunkV234(typ, body)
	}
	r := &reader{b: body}
	// fixed takes a chunk's fixed struct, so the variable parts follow.
	fixed := func(n int) *reader {
		return &reader{b: r.take(n), err: r.err}
	}
	switch typ {
	case chunkCfg:
		c := fixed(sizeCfg)
		c.host64() // last_db_id
		c.u8()     // shutdown
		if size := c.u8(); c.err == nil && size != 8 {
			return fmt.Errorf("store ids of %d bytes, expected 8", size)
		}
		f.sawCfg = c.err == nil
		return c.err
	case chunkMsgStore:
		c := fixed(sizeMsgStore)
		id := c.host64()
		m := &baseMsg{expiry: int64(c.host64())}
		payloadLen := c.u32()
		c.u16() // source mid
		idLen, userLen, topicLen := c.u16(), c.u16(), c.u16()
		c.u16() // source port
		m.qos, m.retain = c.u8(), c.u8() != 0
		if c.err != nil {
			return c.err
		}
		m.sourceID = string(r.take(int(idLen)))
		r.take(int(userLen))
		m.topic = string(r.take(int(topicLen)))
		m.payload = append([]byte(nil), r.take(int(payloadLen))...)
		if r.err != nil {
			return r.err
		}
		if len(r.b) > 0 {
			p, err := parseProps(r.b)
			if err != nil {
				return err
			}
			m.props = p
		}
		return f.addMsg(id, m)
	case chunkClientMsg:
		c := fixed(sizeClientMsg)
		cm := clientMsg{storeID: c.host64(), mid: c.u16()}
		idLen := c.u16()
		cm.qos, cm.state = c.u8(), c.u8()
		cm.retain = c.u8()>>4 != 0
		cm.direction = c.u8()
		if c.err != nil {
			return c.err
		}
		cm.clientID = string(r.take(int(idLen)))
		if r.err != nil {
			return r.err
		}
		if len(r.b) > 0 {
			p, err := parseProps(r.b)
			if err != nil {
				return err
			}
			cm.props = p
		}
		f.cmsgs = append(f.cmsgs, cm)
		return nil
	case chunkRetain:
		c := fixed(8)
		f.retained = append(f.retained, c.host64())
		return c.err
	case chunkSub:
		c := fixed(sizeSub)
		s := subRec{id: c.u32()}
		idLen, topicLen := c.u16(), c.u16()
		s.qos, s.options = c.u8(), c.u8()
		if c.err != nil {
			return c.err
		}
		s.clientID = string(r.take(int(idLen)))
		s.topic = string(r.take(int(topicLen)))
		f.subs = append(f.subs, s)
		return r.err
	case chunkClient:
		size := sizeClientV6
		if f.version == 5 {
			size = sizeClientV5
		}
		c := fixed(size)
		cl := clientRec{expiryTime: int64(c.host64()), interval: c.u32()}
		cl.lastMid = c.u16()
		idLen := c.u16()
		var userLen uint16
		if f.version == 6 {
			c.u16() // listener port
			userLen = c.u16()
		}
		if c.err != nil {
			return c.err
		}
		cl.id = string(r.take(int(idLen)))
		cl.username = string(r.take(int(userLen)))
		f.clients = append(f.clients, cl)
		return r.err
	}
	return nil // unknown chunk: skipped, as Mosquitto does
}

func (f *file) addMsg(id uint64, m *baseMsg) error {
	if _, dup := f.msgs[id]; dup {
		return fmt.Errorf("duplicate message store id %d", id)
	}
	f.msgs[id] = m
	return nil
}

// chunkV234 parses the field-by-field chunks of versions 2 to 4.
func (f *file) chunkV234(typ uint32, body []byte) error {
	r := &reader{b: body}
	switch typ {
	case chunkCfg:
		r.u8() // shutdown
		if size := r.u8(); r.err == nil && size != 8 {
			return fmt.Errorf("store ids of %d bytes, expected 8", size)
		}
		r.host64()
		f.sawCfg = r.err == nil
	case chunkMsgStore:
		id := r.host64()
		m := &baseMsg{sourceID: string(r.str16())}
		if f.version == 4 {
			r.str16() // username
			r.u16()   // port
		}
		r.u16() // source mid
		r.u16() // mid
		m.topic = string(r.str16())
		m.qos, m.retain = r.u8(), r.u8() != 0
		m.payload = append([]byte(nil), r.take(int(r.u32()))...)
		if r.err != nil {
			return r.err
		}
		return f.addMsg(id, m)
	case chunkClientMsg:
		cm := clientMsg{clientID: string(r.str16()), storeID: r.host64(), mid: r.u16(), qos: r.u8()}
		cm.retain = r.u8() != 0
		cm.direction, cm.state = r.u8(), r.u8()
		r.u8() // dup
		f.cmsgs = append(f.cmsgs, cm)
	case chunkRetain:
		f.retained = append(f.retained, r.host64())
	case chunkSub:
		s := subRec{clientID: string(r.str16()), topic: string(r.str16()), qos: r.u8()}
		f.subs = append(f.subs, s)
	case chunkClient:
		cl := clientRec{id: string(r.str16()), interval: store.ExpiryNever}
		cl.lastMid = r.u16()
		if f.version != 2 {
			r.host64() // disconnect time, unused by Mosquitto too
		}
		f.clients = append(f.clients, cl)
	}
	return r.err
}
