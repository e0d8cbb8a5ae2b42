// Package pebblestore is the durable store.Store, built on
// cockroachdb/pebble. It is the only package that imports pebble.
//
// Durability: every Apply is one pebble batch committed with Sync, so it
// returns after the WAL is fsync'd. Pebble's commit pipeline
// group-commits: while one WAL sync is in progress, later batches queue and
// the next sync covers them all, so N concurrent Applies cost far fewer
// than N fsyncs (see BenchmarkApply).
//
// Disk use stays bounded by deletes plus pebble's background compactions:
// outgoing keys carry a per-session increasing sequence, so an
// acknowledged queue leaves a contiguous run of tombstones that compaction
// drops together with the values they cover; DeleteSession writes one
// range tombstone that lets compaction drop whole sstables. Pebble also
// recycles WAL files once the memtables they back are flushed. Nothing is
// kept that the records do not need; there is no periodic snapshot.
//
// Format: the key store.FormatKey holds FormatVersion. Open refuses a store
// written by a newer format, a non-empty directory that is not a pebble
// store, and a pebble store without the format key (unless it holds no
// records at all, which is a creation interrupted by a crash). Corruption
// pebble detects (checksums, missing files) is reported by Open or Load;
// a store is never silently replaced by an empty one.
//
// Failure: a write or fsync error from the disk (full, read-only, I/O
// error) is returned by Apply, and the store then refuses all further
// Applies with the same error: after a failed fsync the state of the WAL
// is unknown, and pebble's commit pipeline cannot continue. The broker
// must reopen the store (restart) once the disk is fixed.
package pebblestore
