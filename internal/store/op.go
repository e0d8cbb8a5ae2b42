package store

import "fmt"

// opKind says what an Op does.
type opKind byte

const (
	opPutSession opKind = iota + 1
	opDeleteSession
	opPutOutgoing
	opDeleteOutgoing
	opPutInbound
	opDeleteInbound
	opPutWill
	opDeleteWill
	opPutRetained
	opDeleteRetained
)

// Op is one change for Apply. Build it with the constructors below; the
// zero Op is invalid. An Op refers to (does not copy) the record it was
// given.
type Op struct {
	kind     opKind
	clientID string // or topic for retained ops
	seq      uint64
	packetID uint16
	session  *Session
	out      *Outgoing
	will     *Will
	msg      *Message
}

// PutSession stores (or replaces) a session record with its
// subscriptions. It does not touch the session's outgoing, inbound or will
// records.
func PutSession(s *Session) Op {
	return Op{kind: opPutSession, clientID: s.ClientID, session: s}
}

// DeleteSession removes a session and everything stored under its client
// id: outgoing messages, inbound ids and its will (a delayed will is
// published at the latest when its session ends, so it never outlives it).
// It is one range delete, however long the queue.
func DeleteSession(clientID string) Op {
	return Op{kind: opDeleteSession, clientID: clientID}
}

// PutOutgoing stores (or replaces, same Seq) an outgoing message of a
// session; use it both to queue a message and to record a state change.
func PutOutgoing(clientID string, o *Outgoing) Op {
	return Op{kind: opPutOutgoing, clientID: clientID, seq: o.Seq, out: o}
}

// DeleteOutgoing removes the outgoing message seq of a session (its
// delivery completed, it expired, or it was dropped).
func DeleteOutgoing(clientID string, seq uint64) Op {
	return Op{kind: opDeleteOutgoing, clientID: clientID, seq: seq}
}

// PutInbound records that an inbound QoS 2 PUBLISH with packetID was
// received and PUBREC sent, so a duplicate is not delivered again.
func PutInbound(clientID string, packetID uint16) Op {
	return Op{kind: opPutInbound, clientID: clientID, packetID: packetID}
}

// PutInboundMessage records an inbound QoS 2 PUBLISH that got PUBREC and
// is held, not yet routed, until the client's PUBREL releases it (as
// Mosquitto delivers QoS 2 messages).
func PutInboundMessage(clientID string, packetID uint16, m *Message) Op {
	return Op{kind: opPutInbound, clientID: clientID, packetID: packetID, msg: m}
}

// DeleteInbound forgets an inbound QoS 2 packet id (PUBREL received).
func DeleteInbound(clientID string, packetID uint16) Op {
	return Op{kind: opDeleteInbound, clientID: clientID, packetID: packetID}
}

// PutWill stores a delayed will, replacing the client's previous one.
func PutWill(w *Will) Op {
	return Op{kind: opPutWill, clientID: w.ClientID, will: w}
}

// DeleteWill removes a client's delayed will (published, or the client
// reconnected).
func DeleteWill(clientID string) Op {
	return Op{kind: opDeleteWill, clientID: clientID}
}

// PutRetained stores (or replaces) the retained message of m.Topic.
func PutRetained(m *Message) Op {
	return Op{kind: opPutRetained, clientID: m.Topic, msg: m}
}

// DeleteRetained removes the retained message of topic.
func DeleteRetained(topic string) Op {
	return Op{kind: opDeleteRetained, clientID: topic}
}

// String describes the op for error messages.
func (op Op) String() string {
	switch op.kind {
	case opPutSession:
		return fmt.Sprintf("PutSession(%q)", op.clientID)
	case opDeleteSession:
		return fmt.Sprintf("DeleteSession(%q)", op.clientID)
	case opPutOutgoing:
		return fmt.Sprintf("PutOutgoing(%q, %d)", op.clientID, op.seq)
	case opDeleteOutgoing:
		return fmt.Sprintf("DeleteOutgoing(%q, %d)", op.clientID, op.seq)
	case opPutInbound:
		return fmt.Sprintf("PutInbound(%q, %d)", op.clientID, op.packetID)
	case opDeleteInbound:
		return fmt.Sprintf("DeleteInbound(%q, %d)", op.clientID, op.packetID)
	case opPutWill:
		return fmt.Sprintf("PutWill(%q)", op.clientID)
	case opDeleteWill:
		return fmt.Sprintf("DeleteWill(%q)", op.clientID)
	case opPutRetained:
		return fmt.Sprintf("PutRetained(%q)", op.clientID)
	case opDeleteRetained:
		return fmt.Sprintf("DeleteRetained(%q)", op.clientID)
	}
	return "Op(invalid)"
}

// validate rejects ops that would store something the broker cannot have
// meant, before anything of the batch is written.
func (op Op) validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: %v: %s", ErrInvalidOp, op, why) }
	switch op.kind {
	case opPutRetained, opDeleteRetained:
		if op.clientID == "" {
			return bad("empty topic")
		}
		if op.msg != nil {
			return validMessage(op.msg, bad)
		}
		return nil
	case 0:
		return bad("zero Op")
	}
	if op.clientID == "" {
		return bad("empty client id")
	}
	if len(op.clientID) > 0xFFFF {
		return bad("client id longer than 65535 bytes")
	}
	switch op.kind {
	case opPutSession:
		for _, s := range op.session.Subscriptions {
			if s.Filter == "" || s.QoS > 2 || s.RetainHandling > 2 {
				return bad(fmt.Sprintf("invalid subscription %+v", s))
			}
		}
	case opPutOutgoing:
		o := op.out
		if o.State > StateAwaitPubcomp {
			return bad(fmt.Sprintf("invalid state %d", o.State))
		}
		if o.QoS > 2 {
			return bad(fmt.Sprintf("invalid QoS %d", o.QoS))
		}
		// In flight needs a packet id; a queued QoS 1/2 message may have
		// the one it got when it was stored, a QoS 0 message never has one.
		if o.State == StateQueued && o.PacketID != 0 && o.QoS == 0 || o.State != StateQueued && o.PacketID == 0 {
			return bad(fmt.Sprintf("packet id %d in state %v at QoS %d", o.PacketID, o.State, o.QoS))
		}
		if o.State != StateAwaitPubcomp { // after PUBREL the message may be dropped
			return validMessage(&o.Message, bad)
		}
	case opPutInbound, opDeleteInbound:
		if op.packetID == 0 {
			return bad("packet id 0")
		}
		if op.msg != nil {
			return validMessage(op.msg, bad)
		}
	case opPutWill:
		return validMessage(&op.will.Message, bad)
	}
	return nil
}

func validMessage(m *Message, bad func(string) error) error {
	if m.Topic == "" {
		return bad("message with empty topic")
	}
	if m.QoS > 2 {
		return bad(fmt.Sprintf("message QoS %d", m.QoS))
	}
	return nil
}
