package broker

import (
	"sync"
	"testing"
	"time"
)

// deadlineConn records, for each write, the write deadline in force.
type deadlineConn struct {
	*discardConn
	mu       sync.Mutex
	deadline time.Time
	sets     int
	atWrite  []time.Duration // deadline less the time of the write
	wrote    chan struct{}
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.mu.Lock()
	d.deadline = t
	d.sets++
	d.mu.Unlock()
	return nil
}

func (d *deadlineConn) Write(b []byte) (int, error) {
	d.mu.Lock()
	d.atWrite = append(d.atWrite, time.Until(d.deadline))
	d.mu.Unlock()
	d.wrote <- struct{}{}
	return len(b), nil
}

// The flusher sets the write deadline before its first write and then
// only once it is rearmEvery old, so that every write still has at least
// writeTimeout less rearmEvery; with a timeout too short for that, it sets
// it for every batch.
func TestWriterDeadlineRearmed(t *testing.T) {
	for _, timeout := range []time.Duration{60 * time.Second, rearmEvery} {
		nc := &deadlineConn{discardConn: newDiscardConn(), wrote: make(chan struct{})}
		var lists sync.Pool
		w := newWriter(nc, &lists)
		w.writeTimeout = timeout
		send := func() {
			t.Helper()
			if !w.write([]byte{0xd0, 0}) {
				t.Fatal("writer closed")
			}
			<-nc.wrote
		}
		for range 5 {
			send()
		}
		wantSets := 1
		if timeout < 2*rearmEvery {
			wantSets = 5
		}
		nc.mu.Lock()
		sets := nc.sets
		nc.mu.Unlock()
		if sets != wantSets {
			t.Fatalf("timeout %v: the deadline was set %d times for 5 batches, want %d", timeout, sets, wantSets)
		}
		if timeout >= 2*rearmEvery {
			// A second on: the flusher sets it again.
			waitFlushed(t, w)
			w.armedAt -= int64(rearmEvery)
			send()
			nc.mu.Lock()
			sets = nc.sets
			nc.mu.Unlock()
			if sets != 2 {
				t.Fatalf("after rearmEvery the deadline was set %d times in all, want 2", sets)
			}
		}
		nc.mu.Lock()
		for i, left := range nc.atWrite {
			if left < timeout-rearmEvery-time.Second/2 {
				t.Errorf("timeout %v: write %d had %v left", timeout, i, left)
			}
		}
		nc.mu.Unlock()
		w.close(false, 0)
	}
}

// waitFlushed waits until w's flusher has exited.
func waitFlushed(t *testing.T, w *writer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		w.mu.Lock()
		flushing := w.flushing
		w.mu.Unlock()
		if !flushing {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher did not exit")
		}
		time.Sleep(time.Millisecond)
	}
}
