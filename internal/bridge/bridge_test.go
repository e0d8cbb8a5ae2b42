package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/packet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitTime = 10 * time.Second

// testBroker is a broker on a loopback port.
type testBroker struct {
	srv  *broker.Server
	addr string
}

func startBroker(t *testing.T, addr string) *testBroker {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	o := broker.DefaultOptions()
	o.SysInterval = 0
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	l := broker.DefaultListener(0)
	l.AllowAnonymous = true
	srv := broker.New(o)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln, l) }()
	b := &testBroker{srv: srv, addr: ln.Addr().String()}
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return b
}

// bridgeConfig parses a `connection` block (the address line is added).
func bridgeConfig(t *testing.T, addr string, lines ...string) []*config.Bridge {
	t.Helper()
	text := "connection test\naddress " + addr + "\n" + strings.Join(lines, "\n") + "\n"
	cfg, err := config.Parse("bridge.conf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Bridges
}

// startBridges runs the bridges of cfgs on local.
func startBridges(t *testing.T, local *testBroker, cfgs []*config.Bridge) *Manager {
	t.Helper()
	m := NewManager(local.srv, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{MaxInflight: 20})
	m.Start(cfgs)
	t.Cleanup(m.Close)
	return m
}

func waitConnected(t *testing.T, m *Manager, name string) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for !m.Bridges()[name] {
		if time.Now().After(deadline) {
			t.Fatalf("bridge %s not connected", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder is a subscriber that records what it receives.
type recorder struct {
	mu   sync.Mutex
	msgs []*client.Message
	got  chan struct{}
}

func subscribe(t *testing.T, addr, id string, version byte, subs ...client.Subscription) *recorder {
	t.Helper()
	r := &recorder{got: make(chan struct{}, 1)}
	c, err := client.Connect(ctxFor(t), client.Options{
		Address: addr, ClientID: id, ProtocolVersion: version,
		OnMessage: func(_ *client.Client, m *client.Message) {
			r.mu.Lock()
			r.msgs = append(r.msgs, m)
			r.mu.Unlock()
			select {
			case r.got <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background(), 0, nil) })
	if _, err := c.Subscribe(ctxFor(t), nil, subs...); err != nil {
		t.Fatal(err)
	}
	return r
}

// wait returns the messages once there are n, failing after waitTime.
func (r *recorder) wait(t *testing.T, n int) []*client.Message {
	t.Helper()
	deadline := time.After(waitTime)
	for {
		r.mu.Lock()
		if len(r.msgs) >= n {
			out := append([]*client.Message(nil), r.msgs...)
			r.mu.Unlock()
			return out
		}
		have := len(r.msgs)
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("%d messages, want %d", have, n)
		}
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

func publisher(t *testing.T, addr, id string) *client.Client {
	t.Helper()
	c, err := client.Connect(ctxFor(t), client.Options{Address: addr, ClientID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background(), 0, nil) })
	return c
}

func publish(t *testing.T, c *client.Client, topic, payload string, qos byte, retain bool) {
	t.Helper()
	if _, err := c.Publish(ctxFor(t), &client.Message{Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain}); err != nil {
		t.Fatal(err)
	}
}

// TestBridgeBothWays sends messages out and in over a bridge between two
// midge brokers at each protocol version and QoS, through remapped
// prefixes, and checks topics, payloads, QoS and that nothing is echoed.
func TestBridgeBothWays(t *testing.T) {
	for _, proto := range []string{"mqttv31", "mqttv311", "mqttv50"} {
		for qos := byte(0); qos <= 2; qos++ {
			t.Run(fmt.Sprintf("%s/qos%d", proto, qos), func(t *testing.T) {
				remote := startBroker(t, "")
				local := startBroker(t, "")
				m := startBridges(t, local, bridgeConfig(t, remote.addr,
					"bridge_protocol_version "+proto,
					fmt.Sprintf("topic # out %d loc/ rem/", qos),
					fmt.Sprintf("topic # in %d loc/in/ rem/in/", qos),
					fmt.Sprintf("topic both/# both %d", qos),
				))
				waitConnected(t, m, "test")
				onRemote := subscribe(t, remote.addr, "r-sub", client.MQTT311,
					client.Subscription{Filter: "rem/x/#", QoS: 2}, client.Subscription{Filter: "both/#", QoS: 2})
				onLocal := subscribe(t, local.addr, "l-sub", client.MQTT311,
					client.Subscription{Filter: "loc/in/y", QoS: 2}, client.Subscription{Filter: "both/#", QoS: 2})
				// The bridge's remote subscriptions are in place once a
				// message through them arrives.
				probe := subscribe(t, local.addr, "probe", client.MQTT311, client.Subscription{Filter: "loc/in/probe"})
				rp := publisher(t, remote.addr, "r-pub")
				lp := publisher(t, local.addr, "l-pub")
				waitRoute(t, rp, "rem/in/probe", probe)
				publish(t, lp, "loc/x/1", "out", 2, false)
				publish(t, rp, "rem/in/y", "in", 2, false)
				publish(t, lp, "both/l", "from local", 2, false)
				publish(t, rp, "both/r", "from remote", 2, false)

				got := onRemote.wait(t, 3)
				checkMsgs(t, "remote", got, qos, "both/r", "rem/x/1=out", "both/l=from local", "both/r=from remote")
				got = onLocal.wait(t, 3)
				checkMsgs(t, "local", got, qos, "both/l", "loc/in/y=in", "both/l=from local", "both/r=from remote")
				// No echo: a message that crossed the bridge does not come
				// back over it.
				time.Sleep(200 * time.Millisecond)
				if n := onRemote.count(); n != 3 {
					t.Errorf("remote subscriber got %d messages, want 3", n)
				}
				if n := onLocal.count(); n != 3 {
					t.Errorf("local subscriber got %d messages, want 3", n)
				}
			})
		}
	}
}

// waitRoute publishes to topic until sub receives a message, so that a
// test starts once subscriptions across the bridge are in place.
func waitRoute(t *testing.T, pub *client.Client, topic string, sub *recorder) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for sub.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing published to %s arrives across the bridge", topic)
		}
		publish(t, pub, topic, "probe", 0, false)
		time.Sleep(20 * time.Millisecond)
	}
	sub.wait(t, 1)
}

// checkMsgs checks that got has the messages want ("topic=payload"), and
// that those that crossed the bridge (all but the one on topic direct)
// came at the bridge's QoS.
func checkMsgs(t *testing.T, where string, got []*client.Message, qos byte, direct string, want ...string) {
	t.Helper()
	var have []string
	for _, m := range got {
		have = append(have, m.Topic+"="+string(m.Payload))
		if m.Topic != direct && m.QoS != qos {
			t.Errorf("%s: %s at QoS %d, want %d", where, m.Topic, m.QoS, qos)
		}
	}
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			t.Errorf("%s: got %q, want %q among them", where, have, w)
		}
	}
}

// TestBridgeNotifications checks the bridge's state topic: "1" retained
// on both sides while connected, "0" on the remote (the will) once the
// bridge is gone.
func TestBridgeNotifications(t *testing.T) {
	remote := startBroker(t, "")
	local := startBroker(t, "")
	m := NewManager(local.srv, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{MaxInflight: 20})
	m.Start(bridgeConfig(t, remote.addr, "topic x out 1", "remote_clientid edge"))
	waitConnected(t, m, "test")
	state := "$SYS/broker/connection/edge/state"
	onRemote := subscribe(t, remote.addr, "r-sub", client.MQTT311, client.Subscription{Filter: state, QoS: 1})
	onLocal := subscribe(t, local.addr, "l-sub", client.MQTT311, client.Subscription{Filter: state, QoS: 1})
	for _, r := range []*recorder{onRemote, onLocal} {
		if got := r.wait(t, 1); string(got[0].Payload) != "1" || !got[0].Retain {
			t.Fatalf("state %q retained %t, want 1 retained", got[0].Payload, got[0].Retain)
		}
	}
	m.Close()
	if got := onRemote.wait(t, 2); string(got[1].Payload) != "0" {
		t.Fatalf("state after close %q, want 0", got[1].Payload)
	}
}

// TestBridgeCutMidStream cuts the bridge's connection again and again in
// the middle of a QoS 1 stream: every message arrives, duplicates only as
// QoS 1 allows them, and in order where no cut intervened.
func TestBridgeCutMidStream(t *testing.T) {
	remote := startBroker(t, "")
	local := startBroker(t, "")
	px := newProxy(t, remote.addr)
	m := startBridges(t, local, bridgeConfig(t, px.addr(), "topic s/# out 1", "restart_timeout 1", "notifications false"))
	waitConnected(t, m, "test")
	sink := subscribe(t, remote.addr, "sink", client.MQTT311, client.Subscription{Filter: "s/#", QoS: 1})
	pub := publisher(t, local.addr, "source")
	const n = 300
	for i := range n {
		publish(t, pub, "s/stream", fmt.Sprint(i), 1, false)
		if i%100 == 50 {
			px.cut()
		}
	}
	deadline := time.Now().Add(3 * waitTime)
	for {
		seen := map[string]int{}
		for _, msg := range sink.wait(t, 1) {
			seen[string(msg.Payload)]++
		}
		if len(seen) == n {
			dups := sink.count() - n
			t.Logf("%d messages, %d duplicates", n, dups)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages arrived", len(seen), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBridgeReload adds, changes and removes bridges: an unchanged bridge
// keeps its connection.
func TestBridgeReload(t *testing.T) {
	remote := startBroker(t, "")
	local := startBroker(t, "")
	m := startBridges(t, local, nil)
	cfgA := bridgeConfig(t, remote.addr, "topic a out 0")
	m.Reload(cfgA)
	waitConnected(t, m, "test")
	m.mu.Lock()
	before := m.bridges["test"]
	m.mu.Unlock()
	m.Reload(bridgeConfig(t, remote.addr, "topic a out 0"))
	m.mu.Lock()
	same := m.bridges["test"] == before
	m.mu.Unlock()
	if !same {
		t.Fatal("an unchanged bridge was restarted")
	}
	m.Reload(bridgeConfig(t, remote.addr, "topic b out 0"))
	waitConnected(t, m, "test")
	sink := subscribe(t, remote.addr, "sink", client.MQTT311, client.Subscription{Filter: "#", QoS: 0})
	pub := publisher(t, local.addr, "p")
	deadline := time.Now().Add(waitTime)
	for sink.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the changed bridge does not forward b")
		}
		publish(t, pub, "b", "x", 0, false)
		time.Sleep(20 * time.Millisecond)
	}
	m.Reload(nil)
	if len(m.Bridges()) != 0 {
		t.Fatalf("bridges after removing them all: %v", m.Bridges())
	}
}

// proxy forwards TCP connections to a target and can cut them all.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		a, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			a.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, a, b)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(a, b); a.Close(); b.Close() })
		p.wg.Go(func() { io.Copy(b, a); a.Close(); b.Close() })
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestBridgeQoS0WhileConnecting checks that a QoS 0 message published
// locally while the bridge waits for the remote's CONNACK is sent once
// the connection is up, as Mosquitto queues it for a bridge with a socket,
// instead of being dropped as for a remote that is away.
func TestBridgeQoS0WhileConnecting(t *testing.T) {
	ln := remoteListener(t)
	local := startBroker(t, "")
	startBridges(t, local, bridgeConfig(t, ln.Addr().String(),
		"topic x out 0", "notifications false", "bridge_attempt_unsubscribe false"))

	remote := acceptBridge(t, ln)
	waitLocalSubscription(t, local)
	pub := publisher(t, local.addr, "pub")
	publish(t, pub, "x", "early", 0, false)
	time.Sleep(200 * time.Millisecond) // the message reaches the bridge
	if _, err := remote.Write([]byte{0x20, 2, 0, 0}); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x30, 8, 0, 1, 'x', 'e', 'a', 'r', 'l', 'y'}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(remote, got); err != nil || string(got) != string(want) {
		t.Fatalf("want PUBLISH % x, got % x, %v", want, got, err)
	}
}

// remoteListener is where a test plays the remote broker by hand.
func remoteListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptBridge accepts the bridge's connection on ln and reads its
// CONNECT.
func acceptBridge(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitTime))
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(waitTime))
	if p, err := packet.ReadPacket(nc, packet.V311, 0); err != nil || p.Type() != packet.CONNECT {
		t.Fatalf("want the bridge's CONNECT, got %v, %v", p, err)
	}
	return nc
}

// fakeRemote accepts the bridge's connection on ln and answers its
// CONNECT; it returns the connection.
func fakeRemote(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	nc := acceptBridge(t, ln)
	if _, err := nc.Write([]byte{0x20, 2, 0, 0}); err != nil {
		t.Fatal(err)
	}
	return nc
}

// waitLocalSubscription waits for the bridge's local subscription.
func waitLocalSubscription(t *testing.T, local *testBroker) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for local.srv.Stats().Subscriptions < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the bridge did not subscribe locally")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBridgePipelinesOut: several local messages are in flight to the
// remote at once, in order, each acknowledged locally when the remote
// acknowledges it.
func TestBridgePipelinesOut(t *testing.T) {
	ln := remoteListener(t)
	local := startBroker(t, "")
	m := startBridges(t, local, bridgeConfig(t, ln.Addr().String(),
		"topic x out 1", "notifications false", "bridge_attempt_unsubscribe false"))
	remote := fakeRemote(t, ln)
	waitLocalSubscription(t, local)
	pub := publisher(t, local.addr, "pub")
	for _, p := range []string{"1", "2", "3"} {
		publish(t, pub, "x", p, 1, false)
	}
	var ids []uint16
	for _, want := range []string{"1", "2", "3"} {
		// No PUBACK sent yet: the next one comes anyway.
		p, err := packet.ReadPacket(remote, packet.V311, 0)
		pp, ok := p.(*packet.Publish)
		if err != nil || !ok || string(pp.Payload) != want || pp.QoS != 1 {
			t.Fatalf("want PUBLISH %q, got %+v, %v", want, p, err)
		}
		ids = append(ids, pp.PacketID)
	}
	m.mu.Lock()
	b := m.bridges["test"]
	m.mu.Unlock()
	if n := b.sent.Load(); n != 0 {
		t.Fatalf("%d sent before the remote acknowledged", n)
	}
	for _, id := range ids {
		remote.Write([]byte{0x40, 2, byte(id >> 8), byte(id)})
	}
	deadline := time.Now().Add(waitTime)
	for b.sent.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("sent %d of 3 after the remote acknowledged", b.sent.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBridgeStopDrains stops a bridge while a message is in flight to the
// remote: the remote's acknowledgement during the stop is passed on to
// the local broker, so a restarted bridge does not send it again.
func TestBridgeStopDrains(t *testing.T) {
	ln := remoteListener(t)
	local := startBroker(t, "")
	cfgs := bridgeConfig(t, ln.Addr().String(), "topic x out 1", "notifications false", "bridge_attempt_unsubscribe false")
	m := NewManager(local.srv, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{MaxInflight: 20})
	m.Start(cfgs)
	remote := fakeRemote(t, ln)
	waitLocalSubscription(t, local)
	pub := publisher(t, local.addr, "pub")
	publish(t, pub, "x", "once", 1, false)
	p, err := packet.ReadPacket(remote, packet.V311, 0)
	pp, ok := p.(*packet.Publish)
	if err != nil || !ok {
		t.Fatalf("want PUBLISH, got %+v, %v", p, err)
	}
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	time.Sleep(50 * time.Millisecond) // the stop has begun
	remote.Write([]byte{0x40, 2, byte(pp.PacketID >> 8), byte(pp.PacketID)})
	select {
	case <-closed:
	case <-time.After(waitTime):
		t.Fatal("Close did not return")
	}

	startBridges(t, local, cfgs)
	remote2 := fakeRemote(t, ln)
	remote2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if p, err := packet.ReadPacket(remote2, packet.V311, 0); err == nil {
		t.Fatalf("the restarted bridge sent %+v again", p)
	}
}

// TestBridgeSysFigures: a bridge's figures appear under
// $SYS/broker/bridge/NAME/ and follow its traffic.
func TestBridgeSysFigures(t *testing.T) {
	ln := remoteListener(t)
	local := startBroker(t, "")
	m := NewManager(local.srv, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{MaxInflight: 20, SysInterval: 20 * time.Millisecond})
	t.Cleanup(m.Close)
	m.Start(bridgeConfig(t, ln.Addr().String(), "topic x out 0", "notifications false", "bridge_attempt_unsubscribe false"))
	remote := fakeRemote(t, ln)
	waitLocalSubscription(t, local)
	sys := subscribe(t, local.addr, "sys", client.MQTT311, client.Subscription{Filter: "$SYS/broker/bridge/#"})
	latest := func(topic, want string) {
		t.Helper()
		deadline := time.Now().Add(waitTime)
		for {
			got := ""
			sys.mu.Lock()
			for _, msg := range sys.msgs {
				if msg.Topic == topic {
					got = string(msg.Payload)
				}
			}
			sys.mu.Unlock()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %q, want %q", topic, got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	latest("$SYS/broker/bridge/test/state", "1")
	latest("$SYS/broker/bridge/test/messages/sent", "0")
	pub := publisher(t, local.addr, "pub")
	publish(t, pub, "x", "hello", 0, false)
	if p, err := packet.ReadPacket(remote, packet.V311, 0); err != nil || p.Type() != packet.PUBLISH {
		t.Fatalf("want PUBLISH, got %v, %v", p, err)
	}
	latest("$SYS/broker/bridge/test/messages/sent", "1")
	latest("$SYS/broker/bridge/test/bytes/sent", "5")
	latest("$SYS/broker/bridge/test/messages/queued", "0")
	// Removed by a reload: its figures are cleared.
	m.Reload(nil)
	latest("$SYS/broker/bridge/test/state", "")
}

// TestBridgeLazy: a lazy bridge connects once threshold messages wait for
// the remote, closes the connection after idle_timeout without traffic,
// and connects again when messages wait again.
func TestBridgeLazy(t *testing.T) {
	ln := remoteListener(t)
	local := startBroker(t, "")
	m := startBridges(t, local, bridgeConfig(t, ln.Addr().String(), "start_type lazy", "threshold 3", "idle_timeout 1", "restart_timeout 1",
		"topic x out 1", "notifications false", "bridge_attempt_unsubscribe false"))
	waitLocalSubscription(t, local)
	m.mu.Lock()
	b := m.bridges["test"]
	m.mu.Unlock()
	pub := publisher(t, local.addr, "pub")
	// relay publishes a message per payload: below the threshold they
	// wait without a connection; at it the bridge connects and sends them.
	relay := func(payloads ...string) net.Conn {
		t.Helper()
		for i, p := range payloads[:len(payloads)-1] {
			publish(t, pub, "x", p, 1, false)
			waitFor(t, func() bool { return b.queued() == i+1 }, "queued %d", i+1)
		}
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(300 * time.Millisecond))
		if nc, err := ln.Accept(); err == nil {
			nc.Close()
			t.Fatal("the lazy bridge connected below its threshold")
		}
		publish(t, pub, "x", payloads[len(payloads)-1], 1, false)
		remote := fakeRemote(t, ln)
		for _, want := range payloads {
			p, err := packet.ReadPacket(remote, packet.V311, 0)
			pp, ok := p.(*packet.Publish)
			if err != nil || !ok || string(pp.Payload) != want {
				t.Fatalf("want PUBLISH %s, got %v, %v", want, p, err)
			}
			remote.Write([]byte{0x40, 2, byte(pp.PacketID >> 8), byte(pp.PacketID)})
		}
		return remote
	}
	idle := func(remote net.Conn) {
		t.Helper()
		start := time.Now()
		remote.SetReadDeadline(time.Now().Add(waitTime))
		if p, err := packet.ReadPacket(remote, packet.V311, 0); err != nil || p.Type() != packet.DISCONNECT {
			t.Fatalf("want DISCONNECT after idle_timeout, got %v, %v", p, err)
		}
		if d := time.Since(start); d < 500*time.Millisecond {
			t.Fatalf("disconnected after %v, before idle_timeout", d)
		}
	}
	idle(relay("1", "2", "3"))
	idle(relay("4", "5", "6"))
	// A lost connection is made again at the next threshold too.
	relay("7", "8", "9").Close()
	waitFor(t, func() bool { return b.reconnects.Load() == 1 }, "the lost connection")
	idle(relay("10", "11", "12"))
	if n := b.queued(); n != 0 {
		t.Fatalf("queued %d after all were sent", n)
	}
}

// waitFor waits until cond holds, failing after waitTime.
func waitFor(t *testing.T, cond func() bool, what string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+what, args...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestBridgeTopicAliases: an MQTT 5 bridge sets up at most
// bridge_max_topic_alias aliases for what it sends, within the remote's
// Topic Alias Maximum, and uses them.
func TestBridgeTopicAliases(t *testing.T) {
	ln := remoteListener(t)
	local := startBroker(t, "")
	startBridges(t, local, bridgeConfig(t, ln.Addr().String(), "bridge_protocol_version mqttv50",
		"bridge_max_topic_alias 1", "topic # out 0", "notifications false", "bridge_attempt_unsubscribe false"))
	remote := acceptBridge(t, ln)
	// CONNACK with a Topic Alias Maximum of 10.
	if _, err := remote.Write([]byte{0x20, 6, 0, 0, 3, 0x22, 0, 10}); err != nil {
		t.Fatal(err)
	}
	waitLocalSubscription(t, local)
	pub := publisher(t, local.addr, "pub")
	type sent struct {
		topic string
		alias uint16
	}
	want := []sent{{"a", 1}, {"b", 0}, {"", 1}, {"b", 0}}
	for _, tp := range []string{"a", "b", "a", "b"} {
		publish(t, pub, tp, "m", 1, false)
	}
	for i, w := range want {
		p, err := packet.ReadPacket(remote, packet.V5, 0)
		pp, ok := p.(*packet.Publish)
		if err != nil || !ok {
			t.Fatalf("want PUBLISH, got %v, %v", p, err)
		}
		alias := uint16(0)
		if pp.Properties.Has(packet.PropTopicAlias) {
			alias = pp.Properties.TopicAlias
		}
		if pp.Topic != w.topic || alias != w.alias {
			t.Fatalf("PUBLISH %d: topic %q alias %d, want %q alias %d", i, pp.Topic, alias, w.topic, w.alias)
		}
	}
}

// TestBridgeQueuedWhileRemoteDown: what waits for an unreachable remote
// is counted whether the bridge holds it or the local broker still
// queues it behind the bridge's in-flight window.
func TestBridgeQueuedWhileRemoteDown(t *testing.T) {
	ln := remoteListener(t)
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every attempt fails
	local := startBroker(t, "")
	m := startBridges(t, local, bridgeConfig(t, addr, "topic x out 1", "notifications false", "restart_timeout 60"))
	waitLocalSubscription(t, local)
	m.mu.Lock()
	b := m.bridges["test"]
	m.mu.Unlock()
	pub := publisher(t, local.addr, "pub")
	const n = 50 // more than the broker's in-flight window
	for i := range n {
		publish(t, pub, "x", fmt.Sprint(i), 1, false)
	}
	waitFor(t, func() bool { return b.queued() == n }, "queued %d", n)
	info, ok := local.srv.Session(b.localID)
	if !ok || info.Queued == 0 || info.Inflight == 0 || !info.Connected || info.Subscriptions != 1 {
		t.Fatalf("the bridge's local session: %+v, %v", info, ok)
	}
}

// TestBridgeBadRemote: a remote that refuses the bridge, answers with
// garbage, breaks the protocol after accepting or hangs up costs the
// bridge a reconnect and nothing else: local clients go on, and the QoS 1
// message that waited for the remote reaches it on the next good
// connection.
func TestBridgeBadRemote(t *testing.T) {
	cases := []struct {
		name  string
		first func(nc net.Conn) // what the remote does with the first connection
	}{
		{"refuses", func(nc net.Conn) { nc.Write([]byte{0x20, 2, 0, 5}) }}, // CONNACK: not authorised
		{"garbage", func(nc net.Conn) { nc.Write([]byte{0x00, 0x00}) }},    // packet type 0 is reserved
		{"garbage after accepting", func(nc net.Conn) {
			nc.Write([]byte{0x20, 2, 0, 0})
			nc.Write([]byte{0x36, 4, 0, 1, 'x', 0}) // a PUBLISH at QoS 3
		}},
		{"hangs up", func(nc net.Conn) { nc.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln := remoteListener(t)
			local := startBroker(t, "")
			startBridges(t, local, bridgeConfig(t, ln.Addr().String(),
				"topic x out 1", "notifications false", "restart_timeout 1"))
			first := acceptBridge(t, ln)
			waitLocalSubscription(t, local)
			// Meanwhile local clients are served as ever.
			sub := subscribe(t, local.addr, "sub", client.MQTT311, client.Subscription{Filter: "x", QoS: 1})
			pub := publisher(t, local.addr, "pub")
			publish(t, pub, "x", "waiting", 1, false)
			sub.wait(t, 1)
			tc.first(first)

			second := acceptBridge(t, ln)
			if _, err := second.Write([]byte{0x20, 2, 0, 0}); err != nil {
				t.Fatal(err)
			}
			for {
				p, err := packet.ReadPacket(second, packet.V311, 0)
				if err != nil {
					t.Fatalf("reading the second connection: %v", err)
				}
				if m, ok := p.(*packet.Publish); ok {
					if m.Topic != "x" || string(m.Payload) != "waiting" || m.QoS != 1 {
						t.Fatalf("got %s %q at QoS %d", m.Topic, m.Payload, m.QoS)
					}
					break
				}
			}
		})
	}
}
