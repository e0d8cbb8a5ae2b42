package auth

// Helpers for the interop tests: run the real mosquitto 2.0 broker and talk
// to it with a tiny raw MQTT 3.1.1 client built on internal/packet.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startMosquitto runs mosquitto with the given config lines plus a listener
// on a free loopback port, waits until it logs that it is running, and
// returns the address. The broker is stopped when the test ends.
func startMosquitto(t *testing.T, config ...string) string {
	t.Helper()
	addr, ok, log := runMosquitto(t, config...)
	if !ok {
		t.Fatalf("mosquitto did not start:\n%s", log)
	}
	return addr
}

// runMosquitto is startMosquitto for configurations that may be refused:
// ok is false, with the broker's log, when mosquitto exits instead of
// reaching "running".
func runMosquitto(t *testing.T, config ...string) (addr string, ok bool, log string) {
	t.Helper()
	bin := testtool.Need(t, "mosquitto")
	port := freePort(t)
	dir := readableTempDir(t)
	conf := filepath.Join(dir, "mosquitto.conf")
	lines := append([]string{
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"log_dest stderr", // unbuffered, unlike stdout into a pipe
		"log_type all",
		"persistence false",
		"set_tcp_nodelay true", // no Nagle delay between a PUBACK and the next request
	}, config...)
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	running := make(chan bool, 1)
	var mu sync.Mutex
	var logBuf strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			mu.Lock()
			logBuf.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !signalled && strings.Contains(sc.Text(), " running") {
				signalled = true
				running <- true
			}
		}
		if !signalled {
			running <- false
		}
	}()
	logText := func() string {
		mu.Lock()
		defer mu.Unlock()
		return logBuf.String()
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		<-done
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", logText())
		}
	})
	select {
	case ok = <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("mosquitto neither started nor exited within 10s")
	}
	if !ok {
		<-done
	}
	return fmt.Sprintf("127.0.0.1:%d", port), ok, logText()
}

// readableTempDir is t.TempDir opened to everyone: started as root,
// mosquitto drops to the "mosquitto" user before it reads the password and
// ACL files.
func readableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rawClient is a minimal MQTT 3.1.1 client. Every read has a deadline, and
// PUBLISH packets that arrive while it waits for something else are kept.
type rawClient struct {
	t        *testing.T
	conn     net.Conn
	nextID   uint16
	received []*packet.Publish
}

type login struct {
	clientID    string
	username    string
	hasUsername bool
	password    string
	hasPassword bool
}

// connect returns the client and the CONNACK return code; on a refusal the
// connection is closed and the client is nil.
func connect(t *testing.T, addr string, l login) (*rawClient, packet.ReasonCode) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn}
	c.send(&packet.Connect{
		ProtocolName: "MQTT", ProtocolVersion: packet.V311, CleanStart: true, KeepAlive: 60,
		ClientID: l.clientID, UsernameFlag: l.hasUsername, Username: l.username,
		PasswordFlag: l.hasPassword, Password: []byte(l.password),
	})
	ack, ok := c.read().(*packet.Connack)
	if !ok {
		t.Fatalf("expected CONNACK")
	}
	if ack.ReasonCode != 0 {
		conn.Close()
		return nil, ack.ReasonCode
	}
	t.Cleanup(func() { conn.Close() })
	return c, 0
}

func (c *rawClient) send(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Append(nil, p, packet.V311)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() packet.Packet {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := packet.ReadPacket(c.conn, packet.V311, 0)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// await reads until a packet satisfying ok arrives, keeping PUBLISHes.
func (c *rawClient) await(ok func(packet.Packet) bool) packet.Packet {
	c.t.Helper()
	for {
		p := c.read()
		if ok(p) {
			return p
		}
		if pub, isPub := p.(*packet.Publish); isPub {
			c.received = append(c.received, pub)
			continue
		}
		c.t.Fatalf("unexpected %s", p.Type())
	}
}

func (c *rawClient) id() uint16 {
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	return c.nextID
}

// publish sends a QoS 1 PUBLISH and waits for its PUBACK. Mosquitto sends
// the PUBACK even when the ACL drops the message.
func (c *rawClient) publish(topic, payload string) {
	c.t.Helper()
	id := c.id()
	c.send(&packet.Publish{QoS: 1, Topic: topic, PacketID: id, Payload: []byte(payload)})
	c.await(func(p packet.Packet) bool {
		a, ok := p.(*packet.Ack)
		return ok && a.Kind == packet.PUBACK && a.PacketID == id
	})
}

// subscribe subscribes at QoS 0 and returns the SUBACK return codes.
func (c *rawClient) subscribe(filters ...string) []packet.ReasonCode {
	c.t.Helper()
	s := &packet.Subscribe{PacketID: c.id()}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: f, QoS: 0})
	}
	c.send(s)
	ack := c.await(func(p packet.Packet) bool { _, ok := p.(*packet.Suback); return ok }).(*packet.Suback)
	return ack.ReasonCodes
}

// barrier sends PINGREQ and waits for PINGRESP. Mosquitto queues packets
// for a client in order, so every message routed to this client before the
// PINGREQ was handled has arrived when barrier returns: this replaces
// "wait a bit and see whether anything came".
func (c *rawClient) barrier() {
	c.t.Helper()
	c.send(&packet.Pingreq{})
	c.await(func(p packet.Packet) bool { _, ok := p.(*packet.Pingresp); return ok })
}

// take returns and forgets the PUBLISHes received so far.
func (c *rawClient) take() []*packet.Publish {
	r := c.received
	c.received = nil
	return r
}
