package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTime bounds every wait in these tests; nothing sleeps to synchronise.
const waitTime = 5 * time.Second

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

// startBroker runs our broker on a loopback port with anonymous access
// and no $SYS traffic; tweak may adjust its options and listener.
func startBroker(t testing.TB, tweak func(*broker.Options, *broker.Listener)) (*broker.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveBroker(t, ln, tweak), ln.Addr().String()
}

// serveBroker runs our broker on ln.
func serveBroker(t testing.TB, ln net.Listener, tweak func(*broker.Options, *broker.Listener)) *broker.Server {
	t.Helper()
	o := broker.DefaultOptions()
	o.SysInterval = 0
	l := broker.DefaultListener(0)
	l.AllowAnonymous = true
	if tweak != nil {
		tweak(&o, l)
	}
	srv := broker.New(o)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln, l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// connect connects with opts and ends the client with the test, waiting
// for all its goroutines.
func connect(t testing.TB, opts Options) *Client {
	t.Helper()
	c, err := Connect(testCtx(t), opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { stop(t, c) })
	return c
}

// stop disconnects c (if still running) and waits for its goroutines.
func stop(t testing.TB, c *Client) {
	t.Helper()
	c.Disconnect(testCtx(t), Success, nil)
	select {
	case <-c.Done():
	case <-time.After(waitTime):
		t.Errorf("client %q did not stop", c.ClientID())
	}
}

// collector returns an OnMessage that sends messages to the returned
// channel.
func collector() (func(*Client, *Message), chan *Message) {
	ch := make(chan *Message, 100)
	return func(_ *Client, m *Message) { ch <- m }, ch
}

func receive(t testing.TB, ch <-chan *Message) *Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitTime):
		t.Fatal("no message")
		return nil
	}
}

func waitDone(t testing.TB, c *Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitTime):
		t.Fatal("client did not end")
	}
}

// fakeServer is a scripted MQTT server for the exchanges a real broker
// cannot be made to produce on demand.
type fakeServer struct {
	t  testing.TB
	ln net.Listener
}

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeServer{t: t, ln: ln}
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

// accept waits for a client, reads its CONNECT and answers ack.
func (s *fakeServer) accept(version byte, ack *packet.Connack) *fakeConn {
	s.t.Helper()
	type res struct {
		nc  net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		nc, err := s.ln.Accept()
		ch <- res{nc, err}
	}()
	var r res
	select {
	case r = <-ch:
	case <-time.After(waitTime):
		s.ln.Close()
		s.t.Fatal("no connection")
	}
	if r.err != nil {
		s.t.Fatal(r.err)
	}
	fc := &fakeConn{t: s.t, nc: r.nc, version: version}
	s.t.Cleanup(func() { r.nc.Close() })
	if _, ok := fc.read().(*packet.Connect); !ok {
		s.t.Fatal("expected CONNECT")
	}
	fc.send(ack)
	return fc
}

type fakeConn struct {
	t       testing.TB
	nc      net.Conn
	version byte
}

func (f *fakeConn) send(p packet.Packet) {
	f.t.Helper()
	b, err := packet.Append(nil, p, f.version)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.nc.Write(b); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeConn) read() packet.Packet {
	f.t.Helper()
	p, err := f.readWithin(waitTime)
	if err != nil {
		f.t.Fatalf("fake server read: %v", err)
	}
	return p
}

func (f *fakeConn) readWithin(d time.Duration) (packet.Packet, error) {
	f.nc.SetReadDeadline(time.Now().Add(d))
	return packet.ReadPacket(f.nc, f.version, 0)
}

// readAck reads a packet that must be an acknowledgement of kind.
func (f *fakeConn) readAck(kind packet.Type, id uint16) *packet.Ack {
	f.t.Helper()
	p := f.read()
	a, ok := p.(*packet.Ack)
	if !ok || a.Kind != kind || a.PacketID != id {
		f.t.Fatalf("got %s %+v, want %s %d", p.Type(), p, kind, id)
	}
	return a
}

func (f *fakeConn) readPublish() *packet.Publish {
	f.t.Helper()
	p := f.read()
	pub, ok := p.(*packet.Publish)
	if !ok {
		f.t.Fatalf("got %s, want PUBLISH", p.Type())
	}
	return pub
}

// connectFake connects a client with opts to the fake server s, which
// answers the CONNECT with ack.
func connectFake(t testing.TB, s *fakeServer, opts Options, ack *packet.Connack) (*Client, *fakeConn) {
	t.Helper()
	opts.Address = s.addr()
	type res struct {
		c   *Client
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Connect(testCtx(t), opts)
		ch <- res{c, err}
	}()
	v := opts.ProtocolVersion
	if v == 0 {
		v = MQTT311
	}
	fc := s.accept(v, ack)
	r := <-ch
	if r.err != nil {
		t.Fatalf("Connect: %v", r.err)
	}
	t.Cleanup(func() { stop(t, r.c) })
	return r.c, fc
}
