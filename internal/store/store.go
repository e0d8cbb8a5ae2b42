package store

import (
	"context"
	"errors"
)

// Store makes the broker's persistent state durable.
type Store interface {
	// Apply makes ops durable atomically (all or none) and returns when
	// they are on disk (fsync'd) for a durable store. It is safe for
	// concurrent use; concurrent Applies are group-committed (one fsync
	// for many callers) so throughput holds up with many publishers.
	// ctx is checked before the write starts; a write that has started is
	// not abandoned, since its outcome would then be unknown.
	//
	// An error means none of ops was applied. The broker must then refuse
	// what depended on them (reason 0x97 Quota exceeded or 0x80
	// Unspecified error for a QoS>0 PUBLISH). Ops keep references to the
	// records they were given until Apply returns; do not modify them
	// before that.
	Apply(ctx context.Context, ops ...Op) error
	// Load calls the visitor for everything stored: per client its
	// session, inbound ids, outgoing messages in Seq order and will, then
	// the retained messages. It stops at the first error, from the
	// visitor or from reading. Records passed to the visitor are the
	// visitor's to keep.
	Load(v Visitor) error
	// Close releases the store. Everything Apply acknowledged is already
	// durable, so Close is not needed for safety.
	Close() error
}

// Pipeliner is implemented by a Store whose writes can overlap their
// fsyncs: while one batch waits for the disk, the next is written behind
// it and made durable by the same or the following fsync, instead of
// waiting to start.
type Pipeliner interface {
	// StartApply applies ops atomically after everything applied or
	// started before, in that order, and returns without waiting for
	// the disk. wait, to be called exactly once, returns when ops are
	// durable, with Apply's errors. An error from StartApply itself
	// means none of ops was applied (wait is then nil). Unlike Apply,
	// ops may be modified as soon as StartApply returns.
	StartApply(ops ...Op) (wait func() error, err error)
}

// Visitor receives the records of a Load. A nil field skips that kind.
type Visitor struct {
	Session func(s Session) error
	Inbound func(clientID string, packetID uint16) error
	// InboundMessage receives an inbound QoS 2 message held until its
	// PUBREL (PutInboundMessage); when nil, Inbound gets its id.
	InboundMessage func(clientID string, packetID uint16, m Message) error
	Outgoing       func(clientID string, o Outgoing) error
	Will           func(w Will) error
	Retained       func(m Message) error
}

// ErrClosed is returned by Apply and Load on a closed store.
var ErrClosed = errors.New("store: closed")

// ErrInvalidOp is wrapped by Apply's error when an op is malformed (empty
// client id, QoS above 2 ...); nothing is applied then.
var ErrInvalidOp = errors.New("store: invalid op")

// ErrCorrupt is wrapped by errors about stored data that cannot be decoded.
var ErrCorrupt = errors.New("store: corrupt data")
