package store

import (
	"bytes"
	"fmt"
)

// This file is the contract between the records and a key/value backend:
// Encode turns ops into key/value mutations, Decode turns stored pairs back
// into visitor calls. Backends (Memory, pebblestore) only move bytes.

// KVWriter receives the mutations of a batch. Key and value slices are
// reused after each call: an implementation must copy what it keeps.
type KVWriter interface {
	Set(key, value []byte) error
	Delete(key []byte) error
	// DeleteRange deletes every key k with start <= k < end.
	DeleteRange(start, end []byte) error
}

// Encode validates all ops and then writes their mutations to w in order,
// so a later op of the batch overrides an earlier one on the same key. An
// invalid op fails the whole batch before anything is written.
func Encode(w KVWriter, ops []Op) error {
	for _, op := range ops {
		if err := op.validate(); err != nil {
			return err
		}
	}
	var key, val []byte
	for _, op := range ops {
		var err error
		key, val = key[:0], val[:0]
		switch op.kind {
		case opPutSession:
			err = w.Set(sessionKey(key, op.clientID), encodeSession(val, op.session))
		case opDeleteSession:
			key = clientPrefix(key, op.clientID)
			err = w.DeleteRange(key, prefixEnd(key))
		case opPutOutgoing:
			err = w.Set(outgoingKey(key, op.clientID, op.seq), encodeOutgoing(val, op.out))
		case opDeleteOutgoing:
			err = w.Delete(outgoingKey(key, op.clientID, op.seq))
		case opPutInbound:
			var v []byte // an id alone: the message was routed already
			if op.msg != nil {
				v = encodeRetained(val, op.msg)
			}
			err = w.Set(inboundKey(key, op.clientID, op.packetID), v)
		case opDeleteInbound:
			err = w.Delete(inboundKey(key, op.clientID, op.packetID))
		case opPutWill:
			err = w.Set(willKey(key, op.clientID), encodeWill(val, op.will))
		case opDeleteWill:
			err = w.Delete(willKey(key, op.clientID))
		case opPutRetained:
			err = w.Set(retainedKey(key, op.clientID), encodeRetained(val, op.msg))
		case opDeleteRetained:
			err = w.Delete(retainedKey(key, op.clientID))
		}
		if err != nil {
			return fmt.Errorf("%v: %w", op, err)
		}
	}
	return nil
}

// Decode passes one stored pair to the matching visitor function. The
// format key is skipped. key and value may be reused by the caller after
// Decode returns: everything handed to the visitor is copied.
func Decode(key, value []byte, v *Visitor) error {
	if bytes.Equal(key, []byte(formatKey)) {
		return nil
	}
	k, err := parseKey(key)
	if err != nil {
		return err
	}
	wrap := func(err error) error {
		return fmt.Errorf("key %q: %w", key, err)
	}
	if k.prefix == prefixRetained {
		if v.Retained == nil {
			return nil
		}
		m, err := decodeRetained(value)
		if err != nil {
			return wrap(err)
		}
		return v.Retained(m)
	}
	switch k.tag {
	case tagSession:
		if v.Session == nil {
			return nil
		}
		s, err := decodeSession(k.clientID, value)
		if err != nil {
			return wrap(err)
		}
		return v.Session(s)
	case tagInbound:
		if len(value) == 0 {
			if v.Inbound == nil {
				return nil
			}
			return v.Inbound(k.clientID, k.packetID)
		}
		m, err := decodeRetained(value)
		if err != nil {
			return wrap(err)
		}
		if v.InboundMessage == nil {
			if v.Inbound == nil {
				return nil
			}
			return v.Inbound(k.clientID, k.packetID)
		}
		return v.InboundMessage(k.clientID, k.packetID, m)
	case tagOutgoing:
		if v.Outgoing == nil {
			return nil
		}
		o, err := decodeOutgoing(k.seq, value)
		if err != nil {
			return wrap(err)
		}
		return v.Outgoing(k.clientID, o)
	case tagWill:
		if v.Will == nil {
			return nil
		}
		w, err := decodeWill(k.clientID, value)
		if err != nil {
			return wrap(err)
		}
		return v.Will(w)
	}
	return wrap(fmt.Errorf("%w: unknown record tag", ErrCorrupt))
}
