package bridge

import (
	"errors"
	"net"
	"sync"
)

// pipeListener hands in-process connections to the broker: the local
// side of every bridge is an MQTT client of the broker that reaches it
// through one of these instead of a socket anyone else could open.
type pipeListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

var errListenerClosed = errors.New("bridge: local listener closed")

// Accept implements net.Listener.
func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *pipeListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *pipeListener) Addr() net.Addr { return pipeAddr("bridge") }

// dial returns the client end of a new connection whose server end the
// broker accepts; name is the address the broker logs for it.
func (l *pipeListener) dial(name string) (net.Conn, error) {
	client, server, err := connPair()
	if err != nil {
		return nil, err
	}
	client = &namedConn{Conn: client, local: pipeAddr(name), remote: pipeAddr("broker")}
	server = &namedConn{Conn: server, local: pipeAddr("broker"), remote: pipeAddr(name)}
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		client.Close()
		server.Close()
		return nil, errListenerClosed
	}
}

// pipeAddr is the address of an in-process connection.
type pipeAddr string

func (a pipeAddr) Network() string { return "bridge" }
func (a pipeAddr) String() string  { return string(a) }

// namedConn gives a connection pair readable addresses.
type namedConn struct {
	net.Conn
	local, remote net.Addr
}

func (c *namedConn) LocalAddr() net.Addr  { return c.local }
func (c *namedConn) RemoteAddr() net.Addr { return c.remote }
