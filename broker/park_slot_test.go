//go:build linux

package broker

import (
	"net"
	"testing"
	"time"
)

// TestStaleParkingLeavesTheSlot: a connection whose socket another
// goroutine closed, and whose descriptor number a new connection now
// has, may still try to park. It must not take the new connection's slot
// in the parker: the new connection would then never be woken.
func TestStaleParkingLeavesTheSlot(t *testing.T) {
	opts := DefaultOptions()
	opts.SysInterval = 0
	s := New(opts)
	s.parkOnce.Do(func() { s.parker = newParker() })
	if s.parker == nil {
		t.Skip("no epoll")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := DefaultListener(0)
	dial := func() net.Conn {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		return client
	}
	accept := func() *conn {
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(s, nc, l)
		if !s.track(c) {
			t.Fatal("server closed")
		}
		return c
	}

	dial()
	old := accept()
	freshClient := dial()
	old.nc.Close() // by another goroutine, say a takeover
	fresh := accept()
	if fresh.fd != old.fd {
		t.Skipf("descriptor %d not reused (got %d)", old.fd, fresh.fd)
	}
	s.parker.park(fresh, 0)
	s.parker.park(old, 0) // late: its socket is closed, so it is woken at once

	freshClient.Close() // readiness: the parker must wake fresh
	deadline := time.Now().Add(5 * time.Second)
	for fresh.parked.Load()&1 == 1 {
		if time.Now().After(deadline) {
			t.Fatal("the new connection was not woken: its slot was lost")
		}
		time.Sleep(time.Millisecond)
	}
	s.Close()
}
