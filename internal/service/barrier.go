package service

import (
	"os"
	"sync"
	"time"
)

// signalBarrier lets a CONNECT wait until the signals sent to the
// process before its connection was accepted have been handled.
// Single-threaded Mosquitto handles a SIGHUP before any packet that comes
// after it, so a client that connects right after one gets the reloaded
// password and ACL files; Go delivers signals on goroutines of their own,
// which a CONNECT can overtake. The barrier sends the process a harmless
// signal of its own and waits for the signal loop to take it: the kernel
// hands pending signals over lowest number first and the runtime passes
// them on in that order, and the loop handles them (a reload included)
// one after another, so an earlier SIGHUP has been applied by then. (A
// SIGHUP whose handler is still starting on another thread, microseconds
// before, can come after the barrier; a client's TCP handshake takes
// longer than that.)
//
// One barrier signal is out at a time: CONNECTs that come while it is
// out wait for the next one, sent when it comes back, so a connect storm
// costs a signal per round trip, not one per client.
type signalBarrier struct {
	sig os.Signal // what the barrier sends; nil: no barrier here

	mu      sync.Mutex
	out     []chan struct{} // released when the signal that is out comes back
	next    []chan struct{} // waiting for the next signal
	pending bool            // a signal is out
}

// barrierWait bounds the wait: a barrier signal lost to a full channel
// costs the CONNECTs waiting for it this much, never more.
const barrierWait = 200 * time.Millisecond

// start begins a wait for the signal loop to handle what came before the
// call; the function it returns waits for that.
func (b *signalBarrier) start() (wait func()) {
	ch := make(chan struct{})
	b.mu.Lock()
	b.next = append(b.next, ch)
	if !b.pending {
		b.sendLocked()
	}
	b.mu.Unlock()
	return func() {
		select {
		case <-ch:
			return
		default:
		}
		t := time.NewTimer(barrierWait)
		defer t.Stop()
		select {
		case <-ch:
		case <-t.C:
			// Lost: send another for those still waiting.
			b.mu.Lock()
			b.sendLocked()
			b.mu.Unlock()
		}
	}
}

// sendLocked makes the waiters for the next signal those of the signal
// that is out, and sends it.
func (b *signalBarrier) sendLocked() {
	b.out = append(b.out, b.next...)
	b.next = nil
	b.pending = true
	if err := raise(b.sig); err != nil {
		b.releaseLocked()
	}
}

// release lets the waiters of the signal that was out go on; the signal
// loop calls it when it takes the barrier's signal.
func (b *signalBarrier) release() {
	b.mu.Lock()
	b.releaseLocked()
	if len(b.next) > 0 {
		b.sendLocked()
	}
	b.mu.Unlock()
}

func (b *signalBarrier) releaseLocked() {
	for _, ch := range b.out {
		close(ch)
	}
	b.out = nil
	b.pending = false
}
