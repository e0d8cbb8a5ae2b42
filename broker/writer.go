package broker

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writer is a connection's outgoing side. Packets are appended to a
// bounded queue; whoever makes the queue non-empty starts a flusher
// goroutine that writes everything queued in as few system calls as
// possible (writev through net.Buffers) and exits when the queue is empty.
// An idle connection therefore has no writer goroutine and no buffer, and a
// publisher never blocks on a subscriber's socket.
type writer struct {
	// nc is nil while the connection is bare (bare_linux.go): the
	// flusher then asks for it back (writerEvents.restoreLocked).
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
	// held is set while the connection's reader holds back an
	// acknowledgement until the message it acknowledges has reached every
	// subscriber (holdWire, letGo): packets queued meanwhile wait too.
	held   bool
	closed bool
	err    error
	// events, if set, hears of the bytes written (for $SYS) and, once,
	// from the flusher, of a failed write. An interface holding the
	// connection, instead of two closures, saves an idle connection
	// their 48 bytes.
	events writerEvents
	// writeTimeout bounds one write so a dead peer cannot pin the flusher.
	// armedAt is when the flusher last set the write deadline (monotime,
	// 0: never; see armDeadline); flusher-only.
	writeTimeout time.Duration
	armedAt      int64
	// progress counts the writes done, for a publisher waiting for this
	// connection to tell a slow reader from one that stopped (pacing.go).
	progress atomic.Uint64
}

// highWater is the queued byte count above which the connection's own
// reader stops reading: a client that publishes without reading its acks
// is slowed down instead of growing our memory.
const highWater = 1 << 20

// packetList is a reusable list of encoded packets. bufs is the
// net.Buffers view handed to WriteTo, kept here because WriteTo's pointer
// receiver would otherwise move a fresh slice header to the heap on every
// batch. owned holds the references to the wire buffers among s; they
// are released once the list's bytes are written or dropped.
type packetList struct {
	s     [][]byte
	bufs  net.Buffers
	owned []*wireBuf
}

// reset releases l's wire buffers and empties it.
func (l *packetList) reset() {
	for _, wb := range l.owned {
		wb.release()
	}
	clear(l.owned)
	l.owned = l.owned[:0]
	clear(l.s)
	l.s = l.s[:0]
}

// maxPooledList is the largest list kept for reuse; longer ones, left by
// a burst, are dropped so the pool does not pin their arrays.
const maxPooledList = 1024

// writerEvents is what a writer tells its connection. The last two are
// called with w.mu held: restoreLocked when the flusher has something to
// write and no socket (nc is nil), flushed when the flusher goes idle.
type writerEvents interface {
	wrote(n int)
	writeFailed(err error)
	restoreLocked() error
	flushed()
}

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

// putList empties l and returns it to the pool.
func (w *writer) putList(l *packetList) {
	if l == nil {
		return
	}
	l.reset()
	if cap(l.s) > maxPooledList {
		return
	}
	w.lists.Put(l)
}

// write queues b. It reports false if the connection is closed. b must not
// be modified afterwards: it may be shared with other connections.
func (w *writer) write(b []byte) bool {
	w.mu.Lock()
	ok := w.enqueueLocked(b, nil)
	w.mu.Unlock()
	return ok
}

// writeWire queues a wire buffer, taking over the caller's reference to
// it: the writer releases it once written, or at once if the connection is
// closed. It reports whether the packet was queued.
func (w *writer) writeWire(wb *wireBuf) bool {
	w.mu.Lock()
	ok := w.enqueueLocked(wb.b, wb)
	w.mu.Unlock()
	if !ok {
		wb.release()
	}
	return ok
}

// holdWire is writeWire for an acknowledgement that must not reach the
// peer yet: nothing queued on the connection is written until letGo.
//
// A publisher that has its PUBACK may tell another client, which then
// publishes; Mosquitto, on one thread, has delivered the first message
// to every subscriber before it sends the PUBACK, so the second message
// is queued behind it everywhere. midge sends the acknowledgement before
// the deliveries (a client subscribed to its own topic must see the
// PUBACK first) but holds it back until they are done.
func (w *writer) holdWire(wb *wireBuf) bool {
	w.mu.Lock()
	w.held = true
	ok := w.enqueueLocked(wb.b, wb)
	if !ok {
		w.held = false
	}
	w.mu.Unlock()
	if !ok {
		wb.release()
	}
	return ok
}

// letGo ends holdWire: what was queued since is written.
func (w *writer) letGo() {
	w.mu.Lock()
	w.held = false
	w.startLocked()
	w.mu.Unlock()
}

// startLocked starts the flusher if there is something to write and it
// is not running or held back.
func (w *writer) startLocked() {
	if !w.flushing && !w.held && !w.closed && w.queue != nil && len(w.queue.s) > 0 {
		w.flushing = true
		go w.startFlush()
	}
}

// writeQoS0 queues a QoS 0 PUBLISH, refused when max QoS 0 packets are
// already waiting for the socket. wb, when not nil, is the wire buffer
// holding b, as for writeWire; without one, b must not change afterwards.
// congested reports that more than half of max wait (see pacing.go),
// whether or not this one was queued.
func (w *writer) writeQoS0(b []byte, wb *wireBuf, max int) (ok, congested bool) {
	w.mu.Lock()
	ok = (max <= 0 || w.qos0 < max) && w.enqueueLocked(b, wb)
	if ok {
		w.qos0++
	}
	congested = max > 0 && w.qos0 > max/2 && !w.closed
	w.mu.Unlock()
	if !ok && wb != nil {
		wb.release()
	}
	return ok, congested
}

// qos0Congested reports whether more than half of max QoS 0 packets wait
// for the socket, and if so returns a channel closed when the queue next
// shrinks (the flusher takes it, or the writer closes).
func (w *writer) qos0Congested(max int) (bool, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if max <= 0 || w.closed || w.qos0 <= max/2 {
		return false, nil
	}
	return true, w.waitChanLocked()
}

// enqueueLocked queues b; wb, when not nil, is the wire buffer holding b,
// whose reference the queue takes over if b is queued.
func (w *writer) enqueueLocked(b []byte, wb *wireBuf) bool {
	if w.closed {
		return false
	}
	if w.queue == nil {
		w.queue = w.getList()
	}
	w.queue.s = append(w.queue.s, b)
	if wb != nil {
		w.queue.owned = append(w.queue.owned, wb)
	}
	w.bytes += len(b)
	w.startLocked()
	return true
}

// flush writes batches until the queue is empty.
func (w *writer) flush() {
	for {
		w.mu.Lock()
		if w.held && !w.closed {
			// An acknowledgement is being held back (holdWire): letGo
			// starts a flusher again. What is queued stays queued.
			w.flushing = false
			w.mu.Unlock()
			return
		}
		if w.closed || w.queue == nil || len(w.queue.s) == 0 {
			w.flushing = false
			// Give the lists back: idle connections hold none.
			w.putList(w.queue)
			w.putList(w.spare)
			w.queue, w.spare = nil, nil
			w.wakeLocked()
			if w.events != nil && !w.closed {
				w.events.flushed()
			}
			w.mu.Unlock()
			return
		}
		if w.nc == nil {
			if err := w.events.restoreLocked(); err != nil {
				w.failLocked(err)
				return
			}
		}
		batch := w.queue
		w.queue, w.spare = w.spare, nil
		n := w.bytes
		w.bytes = 0
		w.qos0 = 0
		w.wakeLocked()
		w.mu.Unlock()

		w.armDeadline()
		var err error
		if len(batch.s) == 1 {
			// A plain write: writev would make the socket cache an iovec
			// array for the rest of its life.
			_, err = w.nc.Write(batch.s[0])
			w.progress.Add(1)
		} else {
			err = w.writeChunks(batch)
		}
		if w.events != nil {
			w.events.wrote(n)
		}
		batch.reset()
		w.mu.Lock()
		if w.spare == nil {
			w.spare = batch
		} else {
			w.putList(batch)
		}
		if err != nil && w.err == nil {
			w.failLocked(err)
			return
		}
		w.mu.Unlock()
	}
}

// failLocked ends the flusher after a failed write: the writer closes,
// and unlocks w.mu before its connection hears of it.
func (w *writer) failLocked(err error) {
	w.err = err
	w.closed = true
	w.flushing = false
	w.putList(w.queue)
	w.queue = nil
	w.wakeLocked()
	w.mu.Unlock()
	if w.events != nil {
		w.events.writeFailed(err)
	}
}

// rearmEvery is how old the write deadline may get before the flusher
// sets it again: a write may then be given between writeTimeout less
// rearmEvery and writeTimeout. Setting the deadline takes the runtime's
// poller lock and moves its timer; once per batch, it was a cost of
// every fan-out delivery.
const rearmEvery = time.Second

// armDeadline sets the write deadline writeTimeout ahead, unless it was
// set less than rearmEvery ago (or writeTimeout is shorter than twice
// that: then always).
func (w *writer) armDeadline() {
	if w.writeTimeout <= 0 {
		return
	}
	now := time.Now()
	mono := int64(now.Sub(monoStart))
	if w.writeTimeout >= 2*rearmEvery && w.armedAt != 0 && mono-w.armedAt < int64(rearmEvery) {
		return
	}
	w.armedAt = mono
	_ = w.nc.SetWriteDeadline(now.Add(w.writeTimeout))
}

// chunkBytes bounds one system call of the flusher, so that a slow
// reader's progress shows (writer.progress) while a long batch goes out.
const chunkBytes = 64 << 10

// writeChunks writes batch's packets in writes of about chunkBytes,
// counting each in progress.
func (w *writer) writeChunks(batch *packetList) error {
	for rest := batch.s; len(rest) > 0; {
		n, size := 0, 0
		for n < len(rest) && (n == 0 || size+len(rest[n]) <= chunkBytes) {
			size += len(rest[n])
			n++
		}
		batch.bufs = rest[:n:n]
		_, err := batch.bufs.WriteTo(w.nc)
		batch.bufs = nil
		if err != nil {
			return err
		}
		w.progress.Add(1)
		rest = rest[n:]
	}
	return nil
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
	w.held = false // a closing connection holds nothing back
	if drain && !w.closed {
		w.startLocked()
		if w.nc != nil { // else a flusher makes a new one, timed by armDeadline
			_ = w.nc.SetWriteDeadline(time.Now().Add(timeout))
		}
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
	// The queue will not be written: give its buffers back. A running
	// flusher owns the batch it is writing and returns it itself.
	w.putList(w.queue)
	w.queue = nil
	if !w.flushing {
		w.putList(w.spare)
		w.spare = nil
	}
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
