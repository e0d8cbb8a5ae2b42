package pebblestore

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// intervalFS is the file system under a store with Options.SyncInterval.
// It hands pebble write-ahead log files whose Sync returns at once: pebble
// has by then written the batch to the file, so the operating system
// holds it and Apply's acknowledgement survives the process being killed.
// The real fsync of those files runs every interval (syncAll), and when a
// log file is closed. Every other file (tables, the manifest, the
// directory) syncs as usual.
type intervalFS struct {
	vfs.FS
	mu   sync.Mutex
	logs map[*walFile]struct{}
}

func newIntervalFS(fs vfs.FS) *intervalFS {
	return &intervalFS{FS: fs, logs: map[*walFile]struct{}{}}
}

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs *intervalFS) wrap(f vfs.File, name string, err error) (vfs.File, error) {
	if err != nil || !isWAL(name) {
		return f, err
	}
	w := &walFile{File: f, fs: fs}
	fs.mu.Lock()
	fs.logs[w] = struct{}{}
	fs.mu.Unlock()
	return w, nil
}

func (fs *intervalFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(f, name, err)
}

func (fs *intervalFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(f, newname, err)
}

// syncAll fsyncs every log file written since its last fsync, and returns
// the first error.
func (fs *intervalFS) syncAll() error {
	fs.mu.Lock()
	files := make([]*walFile, 0, len(fs.logs))
	for w := range fs.logs {
		files = append(files, w)
	}
	fs.mu.Unlock()
	var first error
	for _, w := range files {
		if err := w.realSync(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// walFile is a log file whose syncs wait for the interval.
type walFile struct {
	vfs.File
	fs    *intervalFS
	dirty atomic.Bool
	// mu serialises the real fsyncs with Close.
	mu     sync.Mutex
	closed bool
	err    error // the first failed fsync: every later Sync reports it
}

// Write and WriteAt mark the file dirty after the write: a sync that
// clears the mark before then has not covered the write, and the mark
// set afterwards makes the next one cover it.
func (w *walFile) Write(p []byte) (int, error) {
	n, err := w.File.Write(p)
	w.dirty.Store(true)
	return n, err
}

func (w *walFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := w.File.WriteAt(p, off)
	w.dirty.Store(true)
	return n, err
}

// Sync, SyncData and SyncTo report a failed interval fsync, so that pebble
// stops (and the store fails) as it would for its own fsync.
func (w *walFile) Sync() error { return w.failure() }

func (w *walFile) SyncData() error { return w.failure() }

func (w *walFile) SyncTo(int64) (bool, error) { return true, w.failure() }

func (w *walFile) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *walFile) realSync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil || !w.dirty.Swap(false) {
		return w.err
	}
	w.err = w.File.Sync()
	return w.err
}

// Close fsyncs what the interval has not yet.
func (w *walFile) Close() error {
	err := w.realSync()
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.fs.mu.Lock()
	delete(w.fs.logs, w)
	w.fs.mu.Unlock()
	if cerr := w.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncEvery runs fs.syncAll every d until stop is closed, then closes
// done. A failure is reported to report once.
func syncEvery(fs *intervalFS, d time.Duration, stop <-chan struct{}, done chan<- struct{}, report func(error)) {
	defer close(done)
	t := time.NewTicker(d)
	defer t.Stop()
	failed := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := fs.syncAll(); err != nil && !failed {
				failed = true
				report(err)
			}
		}
	}
}
