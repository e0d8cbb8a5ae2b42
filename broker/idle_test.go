package broker_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/midge-mqtt/midge/internal/packet"
)

// TestIdleConnectionGoroutines checks the memory model's promise: an idle
// connection costs no goroutine on Linux, where the parker watches its
// socket, and one (its reader) elsewhere; the writer's flusher exits once
// the queue is empty either way.
func TestIdleConnectionGoroutines(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	// Warm up so that lazily started runtime goroutines are already there.
	warm := mustConnect(t, b.addr, packet.V311, "warm", true)
	warm.subscribe(1, packet.Subscription{Filter: "warm"})
	warm.publish("warm", "x", 0, false, 0)
	warm.expectPublish()

	before := settledGoroutines(t, -1)
	const n = 200
	clients := make([]*rawClient, n)
	for i := range clients {
		// Each client subscribes and receives a message, so its writer
		// has run at least once before the connection goes idle.
		c := mustConnect(t, b.addr, packet.V5, fmt.Sprintf("idle-%d", i), true)
		c.subscribe(1, packet.Subscription{Filter: fmt.Sprintf("idle/%d", i), QoS: 1})
		c.send(&packet.Publish{Topic: fmt.Sprintf("idle/%d", i), Payload: []byte("hello"), QoS: 1, PacketID: 2})
		for range 2 { // our PUBACK and the delivery, in either order
			if m, ok := c.recv().(*packet.Publish); ok {
				c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
			}
		}
		c.ping()
		clients[i] = c
	}
	want := 1
	if runtime.GOOS == "linux" {
		want = 0
	}
	// At most: the warm-up connection may itself be parked meanwhile. The
	// wait fails the test if the count does not come down in time.
	var after int
	waitFor(t, fmt.Sprintf("at most %d goroutines per idle connection", want), func() bool {
		after = runtime.NumGoroutine()
		return after <= before+want*n
	})
	t.Logf("goroutines per idle connection: %.2f (before %d, after %d)", float64(after-before)/n, before, after)
}

// settledGoroutines waits until the goroutine count equals want (or, with
// want < 0, stops changing) and returns it.
func settledGoroutines(t *testing.T, want int) int {
	t.Helper()
	last := runtime.NumGoroutine()
	if want < 0 {
		stable := 0
		waitFor(t, "goroutine count to settle", func() bool {
			n := runtime.NumGoroutine()
			if n == last {
				stable++
			} else {
				stable, last = 0, n
			}
			return stable >= 10
		})
		return last
	}
	// Flushers exit as soon as their queues are empty; give them time.
	deadlineOK := false
	waitFor(t, fmt.Sprintf("%d goroutines", want), func() bool {
		last = runtime.NumGoroutine()
		deadlineOK = last == want
		return deadlineOK
	})
	return last
}
