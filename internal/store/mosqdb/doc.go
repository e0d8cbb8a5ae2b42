// Package mosqdb reads a Mosquitto persistence file (mosquitto.db) into
// midge's store records, so a user switching from Mosquitto keeps retained
// messages, persistent sessions with their subscriptions, and queued and
// in-flight messages. It also writes version 6 files, for tests and for
// going back.
//
// Formats read: version 6 (Mosquitto 2.0), 5 (1.6) and 4, 3, 2 (1.5 and
// older). Layout, from Mosquitto's src/persist.h and persist_read*.c:
//
//	header: magic 00 B5 00 "mosquitto db" (15 bytes), CRC uint32 (unused,
//	        0), version uint32 BE
//	v5/v6 chunk: type uint32 BE, length uint32 BE, body
//	v2-v4 chunk: type uint16 BE, length uint32 BE, body
//	types: 1 CFG, 2 MSG_STORE, 3 CLIENT_MSG, 4 RETAIN, 5 SUB, 6 CLIENT
//
// v5/v6 bodies are C structs written as-is (with their padding) followed by
// variable parts. Lengths and most integers are big-endian, but store ids,
// message expiry times, session expiry times and last_db_id are written in
// host byte order; this package reads them as little-endian, which is what
// every Debian/Ubuntu architecture Mosquitto is deployed on (amd64, arm64,
// armhf, i386) writes.
//
// Mosquitto 2.0 does not save shared subscriptions, the protocol version
// of a client (ProtocolVersion is 0 in the result), nor the time a client
// disconnected (derived from the absolute session expiry time when there
// is one). Truncated or inconsistent files give an error naming the file
// and the chunk's offset; nothing is silently skipped except chunk types
// this package does not know, which Mosquitto skips as well.
package mosqdb
