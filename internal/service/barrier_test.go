//go:build unix

package service

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Waits end when the loop takes the barrier signal, never by the
// timeout, and many waits share a signal. (That a CONNECT after a SIGHUP
// sees the reload is TestConnectAfterSIGHUPSeesTheReload in cmd/midge.)
func TestSignalBarrierShared(t *testing.T) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGHUP, barrierSignal)
	defer signal.Stop(sigs)
	b := &signalBarrier{sig: barrierSignal}
	var (
		mu       sync.Mutex
		barriers int
	)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == barrierSignal {
					mu.Lock()
					barriers++
					mu.Unlock()
					b.release()
				}
			case <-done:
				return
			}
		}
	}()
	for round := 1; round <= 20; round++ {
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wait := b.start()
				start := time.Now()
				wait()
				if d := time.Since(start); d >= barrierWait {
					t.Errorf("round %d: waited %v, the barrier signal was lost", round, d)
				}
			}()
		}
		wg.Wait()
	}
	mu.Lock()
	defer mu.Unlock()
	if barriers >= 20*10 {
		t.Errorf("%d barrier signals for 200 waits: not shared", barriers)
	}
}

// A barrier signal that never comes back costs the wait barrierWait.
func TestSignalBarrierLost(t *testing.T) {
	b := &signalBarrier{sig: syscall.SIGURG} // taken by the runtime, never delivered here
	start := time.Now()
	b.start()()
	if d := time.Since(start); d < barrierWait || d > 10*barrierWait {
		t.Fatalf("waited %v, want about %v", d, barrierWait)
	}
}
