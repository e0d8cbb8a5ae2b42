package pebblestore

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/store/storetest"
)

func quiet(string, ...any) {}

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{Logf: quiet})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir()) })
}

func TestReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db") // Open creates it
	s := open(t, dir)
	want, ops := storetest.Sample()
	if err := s.Apply(context.Background(), ops...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	storetest.Equal(t, storetest.MustDump(t, s), want)
	// And again after the data went through a flush and compaction into
	// sstables, not only the WAL.
	if err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, storetest.MustDump(t, s), want)
}

func TestOpenEmptyExistingDir(t *testing.T) {
	s := open(t, t.TempDir())
	s.Close()
}

// setFormat overwrites the format key with raw bytes through pebble.
func setFormat(t *testing.T, dir string, val []byte) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: &logger{logf: quiet}})
	if err != nil {
		t.Fatal(err)
	}
	if val == nil {
		err = db.Delete(store.FormatKey(), pebble.Sync)
	} else {
		err = db.Set(store.FormatKey(), val, pebble.Sync)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	open(t, dir).Close()
	setFormat(t, dir, binary.BigEndian.AppendUint32(nil, FormatVersion+1))
	_, err := Open(dir, Options{Logf: quiet})
	if err == nil || !strings.Contains(err.Error(), "newer") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of a newer-format store: %v", err)
	}
}

func TestMissingFormatWithRecordsRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Apply(context.Background(), store.PutInbound("c", 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	setFormat(t, dir, nil)
	if _, err := Open(dir, Options{Logf: quiet}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open without format key: %v", err)
	}
}

func TestNotAStoreRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Logf: quiet}); err == nil {
		t.Fatal("Open created a store in a non-empty directory that is not one")
	}
}

// filledStore returns a closed store holding the sample, flushed to sstables.
func filledStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir)
	_, ops := storetest.Sample()
	if err := s.Apply(context.Background(), ops...); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openAndLoad returns the first error of Open or Load.
func openAndLoad(dir string) error {
	s, err := Open(dir, Options{Logf: quiet})
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = storetest.Dump(s)
	return err
}

func TestCorruptStoreErrors(t *testing.T) {
	files := func(dir, pattern string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		if len(m) == 0 {
			t.Fatalf("no %s in %s", pattern, dir)
		}
		return m
	}
	cases := map[string]func(dir string){
		"missing MANIFEST": func(dir string) {
			for _, f := range files(dir, "MANIFEST-*") {
				os.Remove(f)
			}
		},
		"truncated MANIFEST": func(dir string) {
			for _, f := range files(dir, "MANIFEST-*") {
				os.Truncate(f, 10)
			}
		},
		"missing CURRENT": func(dir string) {
			os.Remove(filepath.Join(dir, "CURRENT"))
			for _, f := range files(dir, "marker.manifest.*") {
				os.Remove(f)
			}
		},
		"truncated sstable": func(dir string) {
			for _, f := range files(dir, "*.sst") {
				os.Truncate(f, 100)
			}
		},
		"flipped sstable bytes": func(dir string) {
			for _, f := range files(dir, "*.sst") {
				b, _ := os.ReadFile(f)
				for i := 0; i < len(b)/2; i++ {
					b[i] ^= 0x5A
				}
				os.WriteFile(f, b, 0o600)
			}
		},
		"missing sstable": func(dir string) {
			for _, f := range files(dir, "*.sst") {
				os.Remove(f)
			}
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filledStore(t)
			damage(dir)
			if err := openAndLoad(dir); err == nil {
				t.Fatal("damaged store opened and loaded without error")
			} else {
				t.Logf("error: %v", err)
			}
		})
	}
}

// fillableDisk opens a store in a fresh directory on a file system whose
// writes fail with ENOSPC while the returned toggle is on.
func fillableDisk(t *testing.T) (*Store, *errorfs.Toggle, string) {
	t.Helper()
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return syscall.ENOSPC
		}
		return nil
	})}
	dir := t.TempDir()
	s, err := Open(dir, Options{Logf: quiet, fs: errorfs.Wrap(vfs.Default, toggle)})
	if err != nil {
		t.Fatal(err)
	}
	return s, toggle, dir
}

func TestDiskFailureSurfaces(t *testing.T) {
	s, toggle, dir := fillableDisk(t)
	ctx := context.Background()
	if err := s.Apply(ctx, store.PutInbound("c", 1)); err != nil {
		t.Fatal(err)
	}
	toggle.On()
	err := s.Apply(ctx, store.PutInbound("c", 2))
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Apply on a full disk: %v", err)
	}
	t.Logf("error: %v", err)
	if err2 := s.Apply(ctx, store.PutInbound("c", 3)); err2 == nil {
		t.Fatal("Apply after a failed write succeeded")
	}
	toggle.Off()
	s.Close() // may report the failure again; what matters is what is on disk

	s = open(t, dir)
	defer s.Close()
	got := storetest.MustDump(t, s)
	if ids := got.Inbound["c"]; len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("after reopen: inbound %v, want [1]", ids)
	}
}

// pipelined is a Store whose Apply goes through StartApply and its wait,
// so that the conformance suite runs over the pipelined path too.
type pipelined struct{ *Store }

func (p pipelined) Apply(ctx context.Context, ops ...store.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wait, err := p.StartApply(ops...)
	if err != nil {
		return err
	}
	return wait()
}

func TestConformancePipelined(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return pipelined{open(t, t.TempDir())} })
}

// TestStartApplyKeepsOrder: batches started one after the other, before
// any of their fsyncs is waited for, land in the order they were started
// (a put and the delete started after it leave nothing), and everything
// waited for is there after a reopen.
func TestStartApplyKeepsOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	s := open(t, dir)
	var waits []func() error
	for i := range uint16(200) {
		ops := []store.Op{store.PutInbound("c", i+1)}
		if i%2 == 1 {
			ops = append(ops, store.DeleteInbound("c", i)) // the one before
		}
		wait, err := s.StartApply(ops...)
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, wait)
	}
	for _, wait := range waits {
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	ids := storetest.MustDump(t, s).Inbound["c"]
	if len(ids) != 100 {
		t.Fatalf("%d inbound ids after reopen, want 100: %v", len(ids), ids)
	}
	for k, id := range ids {
		if want := uint16(2*k + 2); id != want {
			t.Fatalf("inbound ids %v: %d at %d, want %d", ids, id, k, want)
		}
	}
}

// TestStartApplyDiskFailure: a write that fails on the disk is reported
// by StartApply or by its wait, and every later StartApply fails.
func TestStartApplyDiskFailure(t *testing.T) {
	s, toggle, dir := fillableDisk(t)
	wait, err := s.StartApply(store.PutInbound("c", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	toggle.On()
	wait, err = s.StartApply(store.PutInbound("c", 2))
	if err == nil {
		err = wait()
	}
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("StartApply on a full disk: %v", err)
	}
	if _, err := s.StartApply(store.PutInbound("c", 3)); err == nil {
		t.Fatal("StartApply after a failed write succeeded")
	}
	toggle.Off()
	s.Close()

	s = open(t, dir)
	defer s.Close()
	if ids := storetest.MustDump(t, s).Inbound["c"]; len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("after reopen: inbound %v, want [1]", ids)
	}
}
