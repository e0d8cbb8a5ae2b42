package pebblestore

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/store/storetest"
)

func TestConformanceSyncInterval(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.TempDir(), Options{Logf: quiet, SyncInterval: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func retainedTopics(t *testing.T, fs vfs.FS) map[string]bool {
	t.Helper()
	s, err := Open("/store", Options{Logf: quiet, fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[string]bool{}
	if err := s.Load(store.Visitor{Retained: func(m store.Message) error { got[m.Topic] = true; return nil }}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestSyncIntervalPowerLoss simulates a power loss (only what was fsync'd
// survives): with persistence_sync interval, what was written one
// interval ago is on disk; with the default, everything acknowledged is.
func TestSyncIntervalPowerLoss(t *testing.T) {
	put := func(s *Store, topic string) {
		t.Helper()
		if err := s.Apply(context.Background(), store.PutRetained(&store.Message{Topic: topic, Payload: []byte("x")})); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{{"always", 0}, {"interval", 50 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			s, err := Open("/store", Options{Logf: quiet, fs: mem, SyncInterval: tc.interval})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			put(s, "early")
			time.Sleep(4 * tc.interval)
			put(s, "late")
			got := retainedTopics(t, mem.CrashClone(vfs.CrashCloneCfg{}))
			if !got["early"] {
				t.Errorf("a write %v old was lost: %v", 4*tc.interval, got)
			}
			if tc.interval == 0 && !got["late"] {
				t.Errorf("an acknowledged write was lost without persistence_sync interval: %v", got)
			}
			// One interval later the late write is on disk too.
			time.Sleep(4 * tc.interval)
			if got := retainedTopics(t, mem.CrashClone(vfs.CrashCloneCfg{})); !got["late"] {
				t.Errorf("not synced after %v: %v", 4*tc.interval, got)
			}
		})
	}
}

// TestSyncIntervalCloseSyncs: Close fsyncs what the syncer has not yet.
func TestSyncIntervalCloseSyncs(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s, err := Open("/store", Options{Logf: quiet, fs: mem, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(context.Background(), store.PutRetained(&store.Message{Topic: "t", Payload: []byte("x")})); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != store.ErrClosed {
		t.Errorf("second Close: %v", err)
	}
	if got := retainedTopics(t, mem.CrashClone(vfs.CrashCloneCfg{})); !got["t"] {
		t.Errorf("Close did not sync: %v", got)
	}
}
