package mosqdb

import (
	"fmt"
	"time"

	"github.com/midge-mqtt/midge/internal/store"
)

// Mosquitto's message states (enum mosquitto_msg_state); part of its file
// format.
const (
	msPublishQoS0    = 1
	msPublishQoS1    = 2
	msWaitPuback     = 3
	msPublishQoS2    = 4
	msWaitPubrec     = 5
	msResendPubrel   = 6
	msWaitPubrel     = 7
	msResendPubcomp  = 8
	msWaitPubcomp    = 9
	msSendPubrec     = 10
	msQueued         = 11
	directionIn      = 0
	directionOut     = 1
	subOptNoLocal    = 0x04
	subOptRetainAsPb = 0x08
)

func (m *baseMsg) message() store.Message {
	msg := store.Message{
		Topic: m.topic, Payload: m.payload, QoS: m.qos, Retain: m.retain, Origin: m.sourceID,
		HasPayloadFormat: m.props.hasPayloadFormat, PayloadFormat: m.props.payloadFormat,
		ContentType: m.props.contentType, ResponseTopic: m.props.responseTopic,
		CorrelationData: m.props.correlation, User: m.props.user,
	}
	if len(msg.Payload) == 0 {
		msg.Payload = nil
	}
	if m.expiry != 0 {
		msg.Expiry = time.Unix(m.expiry, 0)
	}
	return msg
}

func (f *file) convert() (*DB, error) {
	db := &DB{Version: f.version, Outgoing: map[string][]store.Outgoing{}}
	index := map[string]int{} // client id -> index in db.Sessions
	session := func(id string) *store.Session {
		i, ok := index[id]
		if !ok {
			// Mosquitto restores subscriptions and messages of a client
			// without a client chunk into a new persistent context.
			i = len(db.Sessions)
			index[id] = i
			db.Sessions = append(db.Sessions, store.Session{ClientID: id, ExpiryInterval: store.ExpiryNever})
		}
		return &db.Sessions[i]
	}
	for _, c := range f.clients {
		if c.id == "" {
			return nil, fmt.Errorf("client chunk with an empty client id")
		}
		s := session(c.id)
		s.Username, s.ExpiryInterval, s.LastPacketID = c.username, c.interval, c.lastMid
		if c.expiryTime != 0 && c.interval != 0 && c.interval != store.ExpiryNever {
			s.DisconnectedAt = time.Unix(c.expiryTime-int64(c.interval), 0)
		}
	}
	for _, sub := range f.subs {
		if sub.clientID == "" || sub.topic == "" || sub.qos > 2 {
			return nil, fmt.Errorf("invalid subscription %q of client %q", sub.topic, sub.clientID)
		}
		s := session(sub.clientID)
		s.Subscriptions = append(s.Subscriptions, store.Subscription{
			Filter: sub.topic, QoS: sub.qos, ID: sub.id,
			NoLocal:           sub.options&subOptNoLocal != 0,
			RetainAsPublished: sub.options&subOptRetainAsPb != 0,
			RetainHandling:    sub.options >> 4 & 3,
		})
	}
	for _, cm := range f.cmsgs {
		m, ok := f.msgs[cm.storeID]
		if !ok {
			return nil, fmt.Errorf("client %q: message refers to missing message store id %d", cm.clientID, cm.storeID)
		}
		if cm.clientID == "" || cm.qos > 2 {
			return nil, fmt.Errorf("invalid client message (client %q, QoS %d)", cm.clientID, cm.qos)
		}
		session(cm.clientID)
		if cm.direction == directionIn {
			if cm.state == msWaitPubrel || cm.state == msSendPubrec {
				db.Inbound = append(db.Inbound, InboundMessage{ClientID: cm.clientID, PacketID: cm.mid, Message: m.message()})
			}
			continue // other inbound states are not kept across restarts
		}
		if cm.direction != directionOut {
			return nil, fmt.Errorf("client %q: message direction %d", cm.clientID, cm.direction)
		}
		o := store.Outgoing{
			Seq: uint64(len(db.Outgoing[cm.clientID]) + 1), QoS: cm.qos, Retain: cm.retain,
			SubIDs: cm.props.subIDs, Message: m.message(), PacketID: cm.mid,
		}
		switch cm.state {
		case msPublishQoS0, msPublishQoS1, msPublishQoS2, msQueued:
			// Queued: Mosquitto gave QoS 1/2 messages their packet id
			// when it queued them, and sends them with it.
			o.State = store.StateQueued
			if o.QoS == 0 {
				o.PacketID = 0
			}
		case msWaitPuback:
			o.State = store.StateAwaitPuback
		case msWaitPubrec:
			o.State = store.StateAwaitPubrec
		case msResendPubrel, msWaitPubcomp:
			o.State = store.StateAwaitPubcomp
		default:
			return nil, fmt.Errorf("client %q: outgoing message in state %d", cm.clientID, cm.state)
		}
		if o.State != store.StateQueued && o.PacketID == 0 {
			return nil, fmt.Errorf("client %q: in-flight message without a packet id", cm.clientID)
		}
		db.Outgoing[cm.clientID] = append(db.Outgoing[cm.clientID], o)
	}
	for _, id := range f.retained {
		m, ok := f.msgs[id]
		if !ok {
			return nil, fmt.Errorf("retained message refers to missing message store id %d", id)
		}
		msg := m.message()
		msg.Retain = true
		db.Retained = append(db.Retained, msg)
	}
	return db, nil
}

// Ops returns the ops that store db: sessions, outgoing messages, inbound
// packet ids (publish the Inbound messages first, see DB.Inbound) and
// retained messages. The ops refer to db's records.
func (db *DB) Ops() []store.Op {
	var ops []store.Op
	for i := range db.Sessions {
		s := &db.Sessions[i]
		ops = append(ops, store.PutSession(s))
		outs := db.Outgoing[s.ClientID]
		for j := range outs {
			ops = append(ops, store.PutOutgoing(s.ClientID, &outs[j]))
		}
	}
	for i := range db.Inbound {
		in := &db.Inbound[i]
		// Held until the client's PUBREL releases it, as in Mosquitto.
		ops = append(ops, store.PutInboundMessage(in.ClientID, in.PacketID, &in.Message))
	}
	for i := range db.Retained {
		ops = append(ops, store.PutRetained(&db.Retained[i]))
	}
	return ops
}
