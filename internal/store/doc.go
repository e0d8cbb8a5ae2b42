// Package store is midge's persistence layer: the records the broker keeps
// across restarts (sessions with their subscriptions, per-session outgoing
// queues and in-flight messages, inbound QoS 2 packet ids, retained
// messages, delayed wills) and the Store interface that makes changes to
// them durable.
//
// The broker keeps its working state in memory and calls Apply with the
// changes an event causes (a QoS 1 PUBLISH queued for three offline
// sessions is one Apply of three PutOutgoing ops). Apply returns once the
// changes are on disk, so the broker may acknowledge the message; at start
// it calls Load once to rebuild its memory state.
//
// Implementations:
//   - Memory (this package): not durable; for tests. With persistence off
//     the broker needs no store at all (it may still use Memory to keep one
//     code path, at the cost of encoding every change).
//   - pebblestore: durable, built on cockroachdb/pebble; the only package
//     that imports pebble, so the rest of the tree stays light.
//   - mosqdb reads a Mosquitto mosquitto.db into these records for a one-off
//     import.
//
// # Key layout
//
// Every record is one key/value pair in an ordered key space, shared by all
// backends (see keys.go). Client ids and topics are arbitrary UTF-8 and may
// contain any byte, so a client id is length-prefixed: then the keys of one
// client form one contiguous range that no other client id can fall into,
// and DeleteSession is a single range delete.
//
//	0x00 "format"                          uint32 BE store format version
//	'c' len16 clientID 0x01                Session
//	'c' len16 clientID 0x02 pid16          inbound QoS 2 awaiting PUBREL: empty (routed already) or the held message
//	'c' len16 clientID 0x03 seq64          Outgoing, seq big-endian so keys sort in queue order
//	'c' len16 clientID 0x04                Will
//	'r' topic                              retained Message
//
// A Load therefore sees each client's session, inbound ids, outgoing
// messages in sequence order and will together, and then the retained
// messages.
//
// # Encoding
//
// Values are compact binary (codec.go): a one-byte record version, then
// fields as uvarints and length-prefixed byte strings. Optional message
// properties cost nothing when absent (a presence bitmask). Times are Unix
// nanoseconds (0 = none). A decoder refuses a record version it does not
// know with an error, so an old binary never misreads a newer record.
//
// Outgoing messages embed a full copy of the Message: a message fanned out
// to N offline sessions is stored N times (topic + payload + properties per
// copy, plus about 15 bytes of outgoing state and key). This keeps
// deletion a plain delete of one key with no reference counting;
// deduplicating bodies is left for later if fan-out to large numbers of
// offline sessions shows up in disk use.
package store
