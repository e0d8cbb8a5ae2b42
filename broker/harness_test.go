package broker_test

import (
	"errors"
	"io"
	"net"
	"os"
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

// testBroker is a broker on a loopback port.
type testBroker struct {
	*broker.Server
	addr string
}

// startBroker starts a broker with opts (SysInterval off unless set) on
// 127.0.0.1:0 with listener l (nil: anonymous allowed, defaults).
func startBroker(t testing.TB, opts broker.Options, l *broker.Listener) *testBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if l == nil {
		l = broker.DefaultListener(ln.Addr().(*net.TCPAddr).Port)
		l.AllowAnonymous = true
	}
	return serve(t, broker.New(opts), ln, l)
}

// serve runs srv on ln until the test ends.
func serve(t testing.TB, srv *broker.Server, ln net.Listener, l *broker.Listener) *testBroker {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return &testBroker{Server: srv, addr: ln.Addr().String()}
}

// testOptions are the defaults without $SYS, so tests see only their traffic.
func testOptions() broker.Options {
	o := broker.DefaultOptions()
	o.SysInterval = 0
	return o
}

// rawClient speaks MQTT packet by packet through our codec, for tests
// that need exact control over what is sent and what came back.
type rawClient struct {
	t       testing.TB
	nc      net.Conn
	version byte
}

func dialRaw(t testing.TB, addr string, version byte) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, version: version}
}

func (c *rawClient) send(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Append(nil, p, c.version)
	if err != nil {
		c.t.Fatalf("encode %s: %v", p.Type(), err)
	}
	c.sendBytes(b)
}

func (c *rawClient) sendBytes(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitTime))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv returns the next packet, failing the test after waitTime.
func (c *rawClient) recv() packet.Packet {
	c.t.Helper()
	p, err := c.tryRecv(waitTime)
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return p
}

func (c *rawClient) tryRecv(d time.Duration) (packet.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	return packet.ReadPacket(c.nc, c.version, 0)
}

// expectNothing checks that no packet arrives within d.
func (c *rawClient) expectNothing(d time.Duration) {
	c.t.Helper()
	p, err := c.tryRecv(d)
	if err == nil {
		c.t.Fatalf("unexpected %s: %+v", p.Type(), p)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("expected silence, got %v", err)
	}
}

// expectClosed reads until the broker closes the connection and returns
// the v5 DISCONNECT it sent first, if any.
func (c *rawClient) expectClosed() *packet.Disconnect {
	c.t.Helper()
	var last *packet.Disconnect
	for {
		p, err := c.tryRecv(waitTime)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.t.Fatal("connection not closed by the broker")
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
				c.t.Fatalf("expected close, got %v", err)
			}
			return last
		}
		if d, ok := p.(*packet.Disconnect); ok {
			last = d
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// connect sends CONNECT and returns the CONNACK.
func (c *rawClient) connect(p *packet.Connect) *packet.Connack {
	c.t.Helper()
	if p.ProtocolVersion == 0 {
		p.ProtocolVersion = c.version
	}
	if p.ProtocolName == "" {
		p.ProtocolName = "MQTT"
		if p.ProtocolVersion == packet.V31 {
			p.ProtocolName = "MQIsdp"
		}
	}
	c.send(p)
	ack, ok := c.recv().(*packet.Connack)
	if !ok {
		c.t.Fatal("expected CONNACK")
	}
	return ack
}

// mustConnect connects with a client id and clean start, and checks success.
func mustConnect(t testing.TB, addr string, version byte, id string, clean bool) *rawClient {
	t.Helper()
	c := dialRaw(t, addr, version)
	ack := c.connect(&packet.Connect{ClientID: id, CleanStart: clean, KeepAlive: 60})
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	return c
}

// subscribe subscribes and checks the SUBACK codes.
func (c *rawClient) subscribe(id uint16, subs ...packet.Subscription) []packet.ReasonCode {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	for {
		p := c.recv()
		if ack, ok := p.(*packet.Suback); ok {
			if ack.PacketID != id {
				c.t.Fatalf("SUBACK id %d, want %d", ack.PacketID, id)
			}
			return ack.ReasonCodes
		}
		c.t.Fatalf("expected SUBACK, got %s", p.Type())
	}
}

// expectPublish returns the next packet, which must be a PUBLISH.
func (c *rawClient) expectPublish() *packet.Publish {
	c.t.Helper()
	p := c.recv()
	pub, ok := p.(*packet.Publish)
	if !ok {
		c.t.Fatalf("expected PUBLISH, got %s %+v", p.Type(), p)
	}
	return pub
}

// expectAck returns the next packet, which must be the given ack kind.
func (c *rawClient) expectAck(kind packet.Type, id uint16) *packet.Ack {
	c.t.Helper()
	p := c.recv()
	a, ok := p.(*packet.Ack)
	if !ok || a.Kind != kind || a.PacketID != id {
		c.t.Fatalf("expected %s %d, got %s %+v", kind, id, p.Type(), p)
	}
	return a
}

// publish sends a PUBLISH and completes its QoS handshake.
func (c *rawClient) publish(topic string, payload string, qos byte, retain bool, id uint16) {
	c.t.Helper()
	c.send(&packet.Publish{Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain, PacketID: id})
	switch qos {
	case 1:
		c.expectAck(packet.PUBACK, id)
	case 2:
		c.expectAck(packet.PUBREC, id)
		c.send(&packet.Ack{Kind: packet.PUBREL, PacketID: id})
		c.expectAck(packet.PUBCOMP, id)
	}
}

// ping round-trips a PINGREQ: everything the broker queued before the
// PINGRESP has been read once it returns.
func (c *rawClient) ping() {
	c.t.Helper()
	c.send(&packet.Pingreq{})
	for {
		if _, ok := c.recv().(*packet.Pingresp); ok {
			return
		}
	}
}

// waitFor polls cond until it holds or waitTime passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
