package pebblestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/midge-mqtt/midge/internal/store"
)

// FormatVersion is the version of the key layout and record encoding this
// package writes, kept under store.FormatKey.
const FormatVersion = 1

// Options configures Open. The zero value is the durable default.
type Options struct {
	// NoSync makes Apply return before the WAL is fsync'd (persistence
	// with a crash window, like Mosquitto's autosave); for tests and
	// benchmarks.
	NoSync bool
	// SyncInterval, when positive, makes Apply return once its batch is
	// written to the write-ahead log, which the operating system then
	// holds, and fsyncs the log every SyncInterval: what Apply
	// acknowledged survives the broker process being killed, and a power
	// loss or kernel crash loses at most about the last interval
	// (persistence_sync interval N).
	SyncInterval time.Duration
	// CacheSize is pebble's block cache in bytes; 0 means 8 MiB.
	CacheSize int64
	// Logf receives pebble's log messages and background errors; nil
	// discards informational messages and sends errors to the standard
	// logger.
	Logf func(format string, args ...any)

	// fs replaces the file system; tests inject errors through it.
	fs vfs.FS
}

// Store is the pebble-backed store.Store.
type Store struct {
	dir  string
	db   *pebble.DB
	sync *pebble.WriteOptions

	// mu guards closed. Apply holds it shared, so concurrent Applies run
	// (and group-commit) in parallel; Close takes it exclusively so no
	// Apply is in pebble when it closes the DB.
	mu     sync.RWMutex
	closed bool
	// syncing counts the batches StartApply wrote whose fsync nobody has
	// waited for yet; Close waits for them before closing the DB.
	syncing sync.WaitGroup

	errMu  sync.Mutex
	failed error // the first write failure; sticky

	// With Options.SyncInterval: the file system whose log files sync
	// on a timer, and the timer's goroutine, stopped by Close.
	ifs        *intervalFS
	stop, done chan struct{}
	stopOnce   sync.Once
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Pipeliner = (*Store)(nil)
)

// Open opens the store in dir, creating dir and an empty store if dir does
// not exist or is empty.
func Open(dir string, opts Options) (*Store, error) {
	fs := opts.fs
	if fs == nil {
		fs = vfs.Default
	}
	fresh, err := isFresh(fs, dir)
	if err != nil {
		return nil, err
	}
	cacheSize := opts.CacheSize
	if cacheSize == 0 {
		cacheSize = 8 << 20
	}
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref() // the DB holds its own reference
	log := &logger{dir: dir, logf: opts.Logf}
	popts := &pebble.Options{
		FS:     fs,
		Cache:  cache,
		Logger: log,
		// A directory that is not fresh must already hold a pebble store:
		// pebble must not start an empty one over a lost MANIFEST.
		ErrorIfNotExists:   !fresh,
		FormatMajorVersion: pebble.FormatNewest,
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) { log.Errorf("background error: %v", err) },
			// Pebble's default treats corruption as fatal (exits). Logging
			// it instead lets the read that found it return its error, so
			// Open or Load report the damaged store.
			DataCorruption: func(info pebble.DataCorruptionInfo) { log.Errorf("corruption: %s", info) },
		},
	}
	var ifs *intervalFS
	if opts.SyncInterval > 0 && !opts.NoSync {
		ifs = newIntervalFS(fs)
		popts.FS = ifs
	}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: %w", dir, err)
	}
	s := &Store{dir: dir, db: db, sync: pebble.Sync, ifs: ifs}
	if opts.NoSync {
		s.sync = pebble.NoSync
	}
	if err := guard(s.checkFormat); err != nil {
		db.Close()
		return nil, err
	}
	if ifs != nil {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go syncEvery(ifs, opts.SyncInterval, s.stop, s.done, func(err error) {
			log.Errorf("WAL fsync: %v", err)
			s.fail(err)
		})
	}
	return s, nil
}

// isFresh reports whether dir is absent or empty, i.e. whether Open may
// create a new store there.
func isFresh(fs vfs.FS, dir string) (bool, error) {
	names, err := fs.List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("pebblestore: open %s: %w", dir, err)
	}
	return len(names) == 0, nil
}

// checkFormat verifies the format key, writing it into a new store.
func (s *Store) checkFormat() error {
	v, closer, err := s.db.Get(store.FormatKey())
	if err == nil {
		defer closer.Close()
		if len(v) != 4 {
			return fmt.Errorf("pebblestore: %s: %w: format key holds %d bytes", s.dir, store.ErrCorrupt, len(v))
		}
		switch got := binary.BigEndian.Uint32(v); {
		case got > FormatVersion:
			return fmt.Errorf("pebblestore: %s: store format %d is newer than this build supports (%d); use a newer midge", s.dir, got, FormatVersion)
		case got < FormatVersion:
			return fmt.Errorf("pebblestore: %s: store format %d is not supported", s.dir, got)
		}
		return nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("pebblestore: %s: read format: %w", s.dir, err)
	}
	// No format key: only acceptable for a store with no records, which a
	// crash between pebble's creation and the write below leaves behind.
	empty, err := s.isEmpty()
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("pebblestore: %s: %w: records present but no format key (not a midge store, or damaged)", s.dir, store.ErrCorrupt)
	}
	val := binary.BigEndian.AppendUint32(nil, FormatVersion)
	if err := s.db.Set(store.FormatKey(), val, pebble.Sync); err != nil {
		return fmt.Errorf("pebblestore: %s: write format: %w", s.dir, err)
	}
	return nil
}

func (s *Store) isEmpty() (bool, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return false, fmt.Errorf("pebblestore: %s: %w", s.dir, err)
	}
	empty := !it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return false, fmt.Errorf("pebblestore: %s: %w", s.dir, err)
	}
	return empty, nil
}

// Apply implements store.Store.
func (s *Store) Apply(ctx context.Context, ops ...store.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	b, err := s.encode(ops)
	if err != nil {
		return err
	}
	defer b.Close()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.writable(); err != nil {
		return err
	}
	if err := s.commit(b); err != nil {
		return s.fail(err)
	}
	return nil
}

// StartApply implements store.Pipeliner: the batch goes into pebble's
// commit pipeline, which orders it after every earlier one and syncs it
// with the WAL writes around it, and wait waits for that sync
// (ApplyNoSyncWait and Batch.SyncWait). Without fsync (Options.NoSync) it
// is Apply.
func (s *Store) StartApply(ops ...store.Op) (func() error, error) {
	if len(ops) == 0 || !s.sync.Sync {
		if err := s.Apply(context.Background(), ops...); err != nil {
			return nil, err
		}
		return noWait, nil
	}
	b, err := s.encode(ops)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.writable(); err != nil {
		b.Close()
		return nil, err
	}
	if err := guard(func() error { return s.db.ApplyNoSyncWait(b, s.sync) }); err != nil {
		// The commit pipeline failed (pebble treats it as fatal): the
		// batch may still be referenced there, so it is not closed.
		return nil, s.fail(err)
	}
	s.syncing.Add(1)
	return func() error {
		defer s.syncing.Done()
		err := guard(b.SyncWait)
		b.Close()
		if err != nil {
			return s.fail(err)
		}
		return nil
	}, nil
}

// encode returns a new batch holding ops; the caller closes it.
func (s *Store) encode(ops []store.Op) (*pebble.Batch, error) {
	b := s.db.NewBatch()
	if err := store.Encode(batchWriter{b}, ops); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// writable returns why the store takes no more writes: closed, or a
// write failed before. Called with s.mu held.
func (s *Store) writable() error {
	if s.closed {
		return store.ErrClosed
	}
	return s.failure()
}

func noWait() error { return nil }

// pebbleFatal is what the logger panics with when pebble reports a fatal
// error, so that guard can turn it into an error.
type pebbleFatal struct{ msg string }

// guard runs f and turns a pebble fatal error into an error. Pebble treats
// a failed WAL write or sync, and corruption found while reading, as fatal
// and calls Logger.Fatalf in the calling goroutine; our logger panics
// there, and guard recovers it instead of letting the process exit, so the
// broker can refuse the publish (or report the corrupt store) cleanly.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(pebbleFatal)
			if !ok {
				panic(r)
			}
			err = errors.New(p.msg)
		}
	}()
	return f()
}

// commit applies b durably (unless Options.NoSync).
func (s *Store) commit(b *pebble.Batch) error {
	return guard(func() error { return s.db.Apply(b, s.sync) })
}

// fail records the first write failure; later Applies return it.
func (s *Store) fail(err error) error {
	err = fmt.Errorf("pebblestore: write %s: %w", s.dir, err)
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.failed == nil {
		s.failed = err
	}
	return err
}

func (s *Store) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.failed
}

// Load implements store.Store. It reads a consistent snapshot, so the
// visitor may call Apply.
func (s *Store) Load(v store.Visitor) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	snap := s.db.NewSnapshot()
	s.mu.RUnlock()
	defer snap.Close()
	err := guard(func() error { return s.load(snap, &v) })
	if err != nil {
		return fmt.Errorf("pebblestore: load %s: %w", s.dir, err)
	}
	return nil
}

func (s *Store) load(snap *pebble.Snapshot, v *store.Visitor) error {
	it, err := snap.NewIter(nil)
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		val, err := it.ValueAndErr()
		if err == nil {
			err = store.Decode(it.Key(), val, v)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// Close implements store.Store. It waits for Applies in progress.
func (s *Store) Close() error {
	if s.stop != nil {
		s.stopOnce.Do(func() { close(s.stop); <-s.done })
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.closed = true
	s.syncing.Wait() // the fsyncs of started batches end by themselves
	if s.ifs != nil {
		if err := s.ifs.syncAll(); err != nil {
			s.db.Close()
			return fmt.Errorf("pebblestore: close %s: %w", s.dir, err)
		}
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("pebblestore: close %s: %w", s.dir, err)
	}
	return nil
}

// DiskUsage reports the bytes the store occupies on disk (sstables, WAL,
// manifest), for metrics and benchmarks.
func (s *Store) DiskUsage() uint64 {
	return s.db.Metrics().DiskSpaceUsage()
}

// Compact forces a full compaction, dropping deleted data now rather than
// when pebble gets to it; for benchmarks and tools.
func (s *Store) Compact(ctx context.Context) error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("pebblestore: flush %s: %w", s.dir, err)
	}
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xFF}, true); err != nil {
		return fmt.Errorf("pebblestore: compact %s: %w", s.dir, err)
	}
	return nil
}

// batchWriter adapts a pebble batch to store.KVWriter; pebble copies keys
// and values into the batch.
type batchWriter struct{ b *pebble.Batch }

func (w batchWriter) Set(k, v []byte) error         { return w.b.Set(k, v, nil) }
func (w batchWriter) Delete(k []byte) error         { return w.b.Delete(k, nil) }
func (w batchWriter) DeleteRange(a, z []byte) error { return w.b.DeleteRange(a, z, nil) }
