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

	mu sync.Mutex
	// drained, when not nil, is closed (and reset) when the queue shrinks
	// or the writer closes. It is made only when someone waits, so idle
	// connections do not carry a condition variable.
	drained chan struct{}
	// queue holds the packets waiting for the socket and spare the list
	// of the batch being written, reused for the next one. Both come from
	// lists while the connection has something to send and go back to it
	// when the flusher goes idle: an idle connection holds no list, and a
	// fan-out does not allocate one per subscriber.
	queue *packetList
	spare *packetList
	lists *sync.Pool
	// startFlush is w.flush bound once: "go w.flush()" would allocate a
	// closure every time a flusher starts, i.e. once per subscriber in a
	// fan-out to idle connections.
	startFlush func()
	bytes      int // bytes in queue
	qos0       int // QoS 0 PUBLISH packets in queue (bounded by MaxQueuedMessages)
	flushing   bool
	closed     bool
	err        error
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

// packetList is a reusable list of encoded packets. bufs is the
// net.Buffers view handed to WriteTo, kept here because WriteTo's pointer
// receiver would otherwise move a fresh slice header to the heap on every
// batch.
type packetList struct {
	s    [][]byte
	bufs net.Buffers
}

// maxPooledList is the largest list kept for reuse; longer ones, left by
// a burst, are dropped so the pool does not pin their arrays.
const maxPooledList = 1024

func newWriter(nc net.Conn, lists *sync.Pool) *writer {
	w := &writer{nc: nc, writeTimeout: 60 * time.Second, lists: lists}
	w.startFlush = w.flush
	return w
}

func (w *writer) getList() *packetList {
	if l, ok := w.lists.Get().(*packetList); ok {
		return l
	}
	return &packetList{s: make([][]byte, 0, 8)}
}

// putList clears l and returns it to the pool.
func (w *writer) putList(l *packetList) {
	if l == nil || cap(l.s) > maxPooledList {
		return
	}
	clear(l.s)
	l.s = l.s[:0]
	w.lists.Put(l)
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
	if w.queue == nil {
		w.queue = w.getList()
	}
	w.queue.s = append(w.queue.s, b)
	w.bytes += len(b)
	if !w.flushing {
		w.flushing = true
		go w.startFlush()
	}
	return true
}

// flush writes batches until the queue is empty.
func (w *writer) flush() {
	for {
		w.mu.Lock()
		if w.closed || w.queue == nil || len(w.queue.s) == 0 {
			w.flushing = false
			// Give the lists back: idle connections hold none.
			w.putList(w.queue)
			w.putList(w.spare)
			w.queue, w.spare = nil, nil
			w.wakeLocked()
			w.mu.Unlock()
			return
		}
		batch := w.queue
		w.queue, w.spare = w.spare, nil
		n := w.bytes
		w.bytes = 0
		w.qos0 = 0
		w.wakeLocked()
		w.mu.Unlock()

		if w.writeTimeout > 0 {
			_ = w.nc.SetWriteDeadline(time.Now().Add(w.writeTimeout))
		}
		var err error
		if len(batch.s) == 1 {
			// A plain write: writev would make the socket cache an iovec
			// array for the rest of its life.
			_, err = w.nc.Write(batch.s[0])
		} else {
			batch.bufs = batch.s
			_, err = batch.bufs.WriteTo(w.nc)
			batch.bufs = nil
		}
		if w.sent != nil {
			w.sent(n)
		}
		clear(batch.s)
		batch.s = batch.s[:0]
		w.mu.Lock()
		if w.spare == nil {
			w.spare = batch
		} else {
			w.putList(batch)
		}
		if err != nil && w.err == nil {
			w.err = err
			w.closed = true
			w.flushing = false
			w.putList(w.queue)
			w.queue = nil
			w.wakeLocked()
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
		ch := w.waitChanLocked()
		w.mu.Unlock()
		<-ch
		w.mu.Lock()
	}
	w.mu.Unlock()
}

// close stops accepting packets. If drain is true the flusher first
// writes what is queued, bounded by timeout; either way the caller closes
// the socket afterwards.
func (w *writer) close(drain bool, timeout time.Duration) {
	w.mu.Lock()
	if drain && !w.closed {
		_ = w.nc.SetWriteDeadline(time.Now().Add(timeout))
		timer := time.NewTimer(timeout)
	wait:
		for w.flushing {
			ch := w.waitChanLocked()
			w.mu.Unlock()
			select {
			case <-ch:
				w.mu.Lock()
			case <-timer.C:
				w.mu.Lock()
				break wait
			}
		}
		timer.Stop()
	}
	w.closed = true
	if !w.flushing {
		// A running flusher owns the lists and returns them itself.
		w.putList(w.queue)
		w.putList(w.spare)
		w.spare = nil
	}
	w.queue = nil
	w.wakeLocked()
	w.mu.Unlock()
}

// waitChanLocked returns the channel that the next wakeLocked closes.
func (w *writer) waitChanLocked() chan struct{} {
	if w.drained == nil {
		w.drained = make(chan struct{})
	}
	return w.drained
}

// wakeLocked wakes everyone waiting for the queue to shrink.
func (w *writer) wakeLocked() {
	if w.drained != nil {
		close(w.drained)
		w.drained = nil
	}
}
