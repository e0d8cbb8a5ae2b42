package listener

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/config"
)

// testListener returns a config for 127.0.0.1 on a free port.
func testListener() *config.Listener {
	return &config.Listener{Port: freePort, BindAddress: "127.0.0.1", Protocol: "mqtt", MaxConnections: -1}
}

// freePort asks open for a TCP port the kernel picks. Port 0 cannot say
// that: in the config it means a unix socket.
const freePort = -1

func open(t *testing.T, l *config.Listener) *Listener {
	t.Helper()
	ln, err := openErr(t, l)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return ln
}

func openErr(t *testing.T, l *config.Listener) (*Listener, error) {
	t.Helper()
	c := *l
	if c.Port == freePort {
		return openAnyPort(t, &c)
	}
	ln, err := Listen(context.Background(), &c)
	if err == nil {
		t.Cleanup(func() { ln.Close() })
	}
	return ln, err
}

// openAnyPort is Listen with the TCP port chosen by the kernel.
func openAnyPort(t *testing.T, l *config.Listener) (*Listener, error) {
	t.Helper()
	l.Port = 1 // any TCP port; the hook binds port 0 instead
	ln, err := listenWith(context.Background(), l, func(a []bindAddr) []bindAddr {
		for i := range a {
			host, _, _ := net.SplitHostPort(a[i].addr)
			a[i].addr = net.JoinHostPort(host, "0")
		}
		return a
	})
	if err == nil {
		t.Cleanup(func() { ln.Close() })
	}
	return ln, err
}

// acceptOne accepts one conn in the background.
func acceptOne(t *testing.T, ln net.Listener) <-chan net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

func waitConn(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("Accept failed")
		}
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
	return nil
}
