package mosqdb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/midge-mqtt/midge/internal/store"
)

// Write writes db as a version 6 mosquitto.db, in the chunk order
// Mosquitto 2.0 uses (CFG, MSG_STORE, CLIENT with its CLIENT_MSGs, SUB,
// RETAIN). Mosquitto cannot represent everything a midge store holds:
// protocol versions are dropped and times are rounded down to seconds.
func Write(w io.Writer, db *DB) error {
	bw := bufio.NewWriter(w)
	cw := chunkWriter{w: bw}
	var hdr []byte
	hdr = append(hdr, magic...)
	hdr = binary.BigEndian.AppendUint32(hdr, 0) // CRC, unused
	hdr = binary.BigEndian.AppendUint32(hdr, 6)
	bw.Write(hdr)

	// One message store entry per reference keeps the writer simple;
	// Mosquitto shares them, but reads either.
	var nextID uint64
	type ref struct {
		id  uint64
		msg *store.Message
	}
	var msgs []ref
	newID := func(m *store.Message) uint64 {
		nextID++
		msgs = append(msgs, ref{nextID, m})
		return nextID
	}
	outIDs := map[string][]uint64{}
	for _, s := range db.Sessions {
		outs := db.Outgoing[s.ClientID]
		for i := range outs {
			outIDs[s.ClientID] = append(outIDs[s.ClientID], newID(&outs[i].Message))
		}
	}
	inIDs := make([]uint64, len(db.Inbound))
	for i := range db.Inbound {
		inIDs[i] = newID(&db.Inbound[i].Message)
	}
	retIDs := make([]uint64, len(db.Retained))
	for i := range db.Retained {
		retIDs[i] = newID(&db.Retained[i])
	}

	cfg := binary.LittleEndian.AppendUint64(nil, nextID)
	cw.chunk(chunkCfg, append(cfg, 1, 8, 0, 0, 0, 0, 0, 0)) // shutdown, dbid size, padding
	for _, r := range msgs {
		cw.msgStore(r.id, r.msg)
	}
	for _, s := range db.Sessions {
		var expiry int64
		if !s.DisconnectedAt.IsZero() && s.ExpiryInterval != store.ExpiryNever {
			expiry = s.DisconnectedAt.Unix() + int64(s.ExpiryInterval)
		}
		b := binary.LittleEndian.AppendUint64(nil, uint64(expiry))
		b = binary.BigEndian.AppendUint32(b, s.ExpiryInterval)
		b = binary.BigEndian.AppendUint16(b, s.LastPacketID)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.ClientID)))
		b = binary.BigEndian.AppendUint16(b, 0) // listener port
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.Username)))
		b = append(b, 0, 0, 0, 0) // struct padding
		cw.chunk(chunkClient, append(append(b, s.ClientID...), s.Username...))
		for i, o := range db.Outgoing[s.ClientID] {
			state := map[store.OutState]byte{store.StateQueued: msQueued, store.StateAwaitPuback: msWaitPuback,
				store.StateAwaitPubrec: msWaitPubrec, store.StateAwaitPubcomp: msWaitPubcomp}[o.State]
			var retain byte
			if o.Retain {
				retain = 1
			}
			cw.clientMsg(s.ClientID, outIDs[s.ClientID][i], o.PacketID, o.QoS, state, retain<<4, directionOut, o.SubIDs)
		}
	}
	for i, in := range db.Inbound {
		cw.clientMsg(in.ClientID, inIDs[i], in.PacketID, 2, msWaitPubrel, 0, directionIn, nil)
	}
	for _, s := range db.Sessions {
		for _, sub := range s.Subscriptions {
			opts := sub.RetainHandling << 4
			if sub.NoLocal {
				opts |= subOptNoLocal
			}
			if sub.RetainAsPublished {
				opts |= subOptRetainAsPb
			}
			b := binary.BigEndian.AppendUint32(nil, sub.ID)
			b = binary.BigEndian.AppendUint16(b, uint16(len(s.ClientID)))
			b = binary.BigEndian.AppendUint16(b, uint16(len(sub.Filter)))
			b = append(b, sub.QoS, opts, 0, 0)
			cw.chunk(chunkSub, append(append(b, s.ClientID...), sub.Filter...))
		}
	}
	for _, id := range retIDs {
		cw.chunk(chunkRetain, binary.LittleEndian.AppendUint64(nil, id))
	}
	if cw.err != nil {
		return fmt.Errorf("mosqdb: write: %w", cw.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("mosqdb: write: %w", err)
	}
	return nil
}

type chunkWriter struct {
	w   *bufio.Writer
	err error
}

func (c *chunkWriter) chunk(typ uint32, body []byte) {
	if c.err != nil {
		return
	}
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:], typ)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(body)))
	c.w.Write(hdr[:])
	_, c.err = c.w.Write(body)
}

func (c *chunkWriter) msgStore(id uint64, m *store.Message) {
	var expiry int64
	if !m.Expiry.IsZero() {
		expiry = m.Expiry.Unix()
	}
	var retain byte
	if m.Retain {
		retain = 1
	}
	b := binary.LittleEndian.AppendUint64(nil, id)
	b = binary.LittleEndian.AppendUint64(b, uint64(expiry))
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Payload)))
	b = binary.BigEndian.AppendUint16(b, 0) // source mid
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Origin)))
	b = binary.BigEndian.AppendUint16(b, 0) // source username
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Topic)))
	b = binary.BigEndian.AppendUint16(b, 0) // source port
	b = append(b, m.QoS, retain)
	b = append(append(append(b, m.Origin...), m.Topic...), m.Payload...)

	var p []byte
	if m.HasPayloadFormat {
		p = append(p, 0x01, m.PayloadFormat)
	}
	str := func(id byte, s []byte) {
		p = append(p, id)
		p = binary.BigEndian.AppendUint16(p, uint16(len(s)))
		p = append(p, s...)
	}
	if m.ContentType != "" {
		str(0x03, []byte(m.ContentType))
	}
	if m.ResponseTopic != "" {
		str(0x08, []byte(m.ResponseTopic))
	}
	if m.CorrelationData != nil {
		str(0x09, m.CorrelationData)
	}
	for _, u := range m.User {
		str(0x26, []byte(u.Key))
		p = binary.BigEndian.AppendUint16(p, uint16(len(u.Value)))
		p = append(p, u.Value...)
	}
	if len(p) > 0 {
		b = append(appendVarint(b, uint32(len(p))), p...)
	}
	c.chunk(chunkMsgStore, b)
}

func (c *chunkWriter) clientMsg(clientID string, storeID uint64, mid uint16, qos, state, retainDup, direction byte, subIDs []uint32) {
	b := binary.LittleEndian.AppendUint64(nil, storeID)
	b = binary.BigEndian.AppendUint16(b, mid)
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, qos, state, retainDup, direction)
	b = append(b, clientID...)
	var p []byte
	for _, id := range subIDs {
		p = appendVarint(append(p, 0x0B), id)
	}
	if len(p) > 0 {
		b = append(appendVarint(b, uint32(len(p))), p...)
	}
	c.chunk(chunkClientMsg, b)
}
