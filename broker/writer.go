package broker

import (
	"net"
	"sync"
	"time"
)

// writer is a connection's outgoing side. Packets are appended to a
// bounded queue; whoever makes the queue non-empty starts a flusher
// goroutine that writes everything queued in as few system calls as
// possible (writev through net.Buffers) and exits when the queue is empty.
// An idle connection therefore has no writer goroutine and no buffer, and a
// publisher never blocks on a subscriber's socket.
type writer struct {
	nc net.Conn

	mu       sync.Mutex
	drained  *sync.Cond // signalled when the queue shrinks below the high-water mark
	queue    [][]byte
	spare    [][]byte // the previous batch's slice, reused to avoid allocation
	bytes    int      // bytes in queue
	qos0     int      // QoS 0 PUBLISH packets in queue (bounded by MaxQueuedMessages)
	flushing bool
	closed   bool
	err      error
	// onError is called once, from the flusher, when a write fails.
	onError func(error)
	// sent counts bytes written, for $SYS.
	sent func(n int)
	// writeTimeout bounds one write so a dead peer cannot pin the flusher.
	writeTimeout time.Duration
}

// highWater is the queued byte count above which the connection's own
// reader stops reading: a client that publishes without reading its acks
// is slowed down instead of growing our memory.
const highWater = 1 << 20

func newWriter(nc net.Conn) *writer {
	w := &writer{nc: nc, writeTimeout: 60 * time.Second}
	w.drained = sync.NewCond(&w.mu)
	return w
}

// write queues b. It reports false if the connection is closed. b must not
// be modified afterwards: it may be shared with other connections.
func (w *writer) write(b []byte) bool {
	w.mu.Lock()
	ok := w.enqueueLocked(b)
	w.mu.Unlock()
	return ok
}

// writeQoS0 queues a QoS 0 PUBLISH unless max QoS 0 packets are already
// waiting for the socket; it reports whether the packet was queued.
func (w *writer) writeQoS0(b []byte, max int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if max > 0 && w.qos0 >= max {
		return false
	}
	if !w.enqueueLocked(b) {
		return false
	}
	w.qos0++
	return true
}

func (w *writer) enqueueLocked(b []byte) bool {
	if w.closed {
		return false
	}
	w.queue = append(w.queue, b)
	w.bytes += len(b)
	if !w.flushing {
		w.flushing = true
		go w.flush()
	}
	return true
}

// flush writes batches until the queue is empty.
func (w *writer) flush() {
	for {
		w.mu.Lock()
		if w.closed || len(w.queue) == 0 {
			w.flushing = false
			// Give back a large idle queue so idle connections stay small.
			if cap(w.queue) > 64 {
				w.queue = nil
			}
			if cap(w.spare) > 64 {
				w.spare = nil
			}
			w.drained.Broadcast()
			w.mu.Unlock()
			return
		}
		batch := w.queue
		w.queue = w.spare[:0]
		n := w.bytes
		w.bytes = 0
		w.qos0 = 0
		w.drained.Broadcast()
		w.mu.Unlock()

		if w.writeTimeout > 0 {
			_ = w.nc.SetWriteDeadline(time.Now().Add(w.writeTimeout))
		}
		bufs := net.Buffers(batch)
		_, err := bufs.WriteTo(w.nc)
		if w.sent != nil {
			w.sent(n)
		}
		clear(batch)
		w.mu.Lock()
		w.spare = batch[:0]
		if err != nil && w.err == nil {
			w.err = err
			w.closed = true
			w.flushing = false
			w.queue = nil
			w.drained.Broadcast()
			w.mu.Unlock()
			if w.onError != nil {
				w.onError(err)
			}
			return
		}
		w.mu.Unlock()
	}
}

// waitBelowHighWater blocks the caller (the connection's reader) while the
// outgoing queue is above the high-water mark.
func (w *writer) waitBelowHighWater() {
	w.mu.Lock()
	for !w.closed && w.bytes > highWater {
		w.drained.Wait()
	}
	w.mu.Unlock()
}

// close stops accepting packets. If drain is true the flusher first
// writes what is queued, bounded by timeout; either way the caller closes
// the socket afterwards.
func (w *writer) close(drain bool, timeout time.Duration) {
	w.mu.Lock()
	if drain && !w.closed {
		deadline := time.Now().Add(timeout)
		_ = w.nc.SetWriteDeadline(deadline)
		timer := time.AfterFunc(timeout, func() {
			w.mu.Lock()
			w.drained.Broadcast()
			w.mu.Unlock()
		})
		for w.flushing && time.Now().Before(deadline) {
			w.drained.Wait()
		}
		timer.Stop()
	}
	w.closed = true
	w.queue = nil
	w.drained.Broadcast()
	w.mu.Unlock()
}
