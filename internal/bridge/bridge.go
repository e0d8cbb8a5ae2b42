package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/cli/clientflags"
	"github.com/midge-mqtt/midge/internal/config"
)

// Bridge is one running `connection` block.
type Bridge struct {
	m        *Manager
	cfg      *config.Bridge
	log      *slog.Logger
	remoteID string
	localID  string
	// notifyTopic is where the bridge's state goes ("" without
	// notifications).
	notifyTopic string
	topics      []route

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	local *client.Client // set before any callback runs
	// localRef is local for what runs outside the callbacks (queued).
	localRef atomic.Pointer[client.Client]

	// flight are the messages sent to the remote whose acknowledgement
	// ackOut waits for, in the order they were sent.
	flight chan outFlight
	// draining is closed when the bridge begins to stop: nothing more is
	// taken on, and what is in flight (busy) may finish (see stop).
	draining chan struct{}
	busy     atomic.Int64

	mu     sync.Mutex
	remote *client.Client // nil until the first connection
	up     bool           // the remote connection is up
	// linking: a remote connection is being made or is open, as
	// Mosquitto's bridge has a socket; while it has one, what the local
	// side sends waits for the connection instead of being dropped.
	linking   bool
	upChanged chan struct{} // closed and replaced when up or linking changes
	connects  int           // successful remote connections so far
	dials     uint64        // remote connections attempted so far
	addr      int           // index of the address to dial next

	// waiting counts the messages held for a remote connection (see
	// waitUp); wake (cap 1) is signalled when one begins to wait, for a
	// lazy bridge's threshold (waitDemand). lastActive is when a message
	// last crossed, in Unix nanoseconds, for its idle_timeout.
	waiting    atomic.Int64
	wake       chan struct{}
	lastActive atomic.Int64

	// Counters for $SYS and tests.
	sent, received, dropped, reconnects atomic.Int64
	bytesSent, bytesReceived            atomic.Int64 // payload bytes
}

// route is one `topic` line.
type route struct {
	local, remote             string // filters on each side
	localPrefix, remotePrefix string
	qos                       byte
	out, in                   bool
}

func newBridge(m *Manager, c *config.Bridge) *Bridge {
	b := &Bridge{
		m: m, cfg: c, log: m.log,
		remoteID:  c.EffectiveRemoteClientID(m.hostname),
		localID:   c.EffectiveLocalClientID(m.hostname),
		upChanged: make(chan struct{}),
		flight:    make(chan outFlight, flightQueue),
		draining:  make(chan struct{}),
		wake:      make(chan struct{}, 1),
		// The first connection is on its way from the start: what the
		// local side sends before it is queued, not dropped.
		linking: c.StartType != "lazy",
	}
	if c.Notifications {
		b.notifyTopic = c.NotificationTopic
		if b.notifyTopic == "" {
			b.notifyTopic = "$SYS/broker/connection/" + b.remoteID + "/state"
		}
	}
	for _, t := range c.Topics {
		b.topics = append(b.topics, route{
			local: t.LocalTopic(), remote: t.RemoteTopic(),
			localPrefix: t.LocalPrefix, remotePrefix: t.RemotePrefix,
			qos: byte(t.QoS),
			out: t.Direction == "out" || t.Direction == "both",
			in:  t.Direction == "in" || t.Direction == "both",
		})
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

func (b *Bridge) notice(msg string) { b.log.Log(context.Background(), broker.LevelNotice, msg) }

// Connected reports whether the remote connection is up.
func (b *Bridge) Connected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.up
}

// start connects the local side, then keeps the remote side connected,
// all on goroutines of the bridge.
func (b *Bridge) start() {
	b.wg.Go(b.run)
}

// stop ends the bridge. It first takes on no more messages and lets
// those in flight finish for up to drainWait: a message the remote has
// acknowledged is then acknowledged to the local broker, and one the
// local broker has acknowledged is acknowledged to the remote, so a
// restart sends neither again. Then the remote connection is closed
// without DISCONNECT (its will tells the remote that the bridge is gone),
// and the local one is dropped, leaving what is still unacknowledged on
// each side to be sent again.
func (b *Bridge) stop() {
	close(b.draining)
	deadline := time.Now().Add(drainWait)
	for b.busy.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	b.cancel()
	b.wg.Wait()
}

// drainWait bounds how long a stopping bridge waits for the messages in
// flight; flightQueue is how many sent messages may await their
// acknowledgement before forwardOut waits (the local broker's
// max_inflight_messages and the remote's Receive Maximum bound it first).
const (
	drainWait   = time.Second
	flightQueue = 1024
)

// stopping reports whether the bridge has begun to stop.
func (b *Bridge) stopping() bool {
	select {
	case <-b.draining:
		return true
	default:
		return false
	}
}

// lazy reports whether the bridge connects only when messages wait for
// the remote (start_type lazy).
func (b *Bridge) lazy() bool { return b.cfg.StartType == "lazy" }

func (b *Bridge) run() {
	if b.cfg.TCPUserTimeout >= 0 && !haveUserTimeout {
		b.log.Warn(fmt.Sprintf("Warning: %s:%d: bridge %s: bridge_tcp_user_timeout is not available on this system; ignored.",
			b.cfg.File, b.cfg.Line, b.cfg.Name))
	}
	local, err := b.connectLocal()
	if err != nil {
		if b.ctx.Err() == nil {
			b.log.Error(fmt.Sprintf("Error: bridge %s: local connection failed: %v.", b.cfg.Name, err))
		}
		return
	}
	defer local.Close()
	b.wg.Go(func() { b.ackOut(local) })
	b.notifyLocal('0')

	delay := b.firstDelay()
	for failed := false; ; {
		if failed {
			if !b.sleep(delay) {
				return
			}
			delay = b.nextDelay(delay)
		}
		if b.lazy() && !b.waitDemand() {
			return
		}
		rc, err := b.connectRemote()
		if err == nil {
			b.mu.Lock()
			b.remote = rc
			b.changedLocked() // OnConnect may have set up before this
			b.mu.Unlock()
			idle := b.hold(rc)
			b.setUp(false)
			b.mu.Lock()
			b.remote = nil // until the next one's Connect returns
			b.mu.Unlock()
			rc.Close()
			if b.cfg.StartType == "once" || b.ctx.Err() != nil {
				return
			}
			if !idle {
				// A client without AutoReconnect (lazy) reports its lost
				// connection only by ending.
				b.reconnects.Add(1)
				b.notice(fmt.Sprintf("Bridge %s: connection lost: %v.", b.cfg.Name, rc.Err()))
			}
			// A connection left idle is made again as soon as messages
			// wait for it; after a lost one, the next waits its delay.
			failed = !idle
			if idle {
				delay = b.firstDelay()
			}
			continue
		}
		if b.ctx.Err() != nil {
			return
		}
		b.log.Warn(fmt.Sprintf("Warning: Unable to connect to bridge %s: %v.", b.cfg.Name, err))
		if b.cfg.StartType == "once" {
			return
		}
		failed = true
	}
}

// demandPoll is how often a lazy bridge without a connection counts the
// messages waiting for it.
const demandPoll = 100 * time.Millisecond

// waitDemand waits until threshold messages wait for the remote, for a
// lazy bridge; it returns false if the bridge stops first.
func (b *Bridge) waitDemand() bool {
	t := time.NewTicker(demandPoll)
	defer t.Stop()
	for {
		if n := b.queued(); n >= b.cfg.Threshold {
			b.notice(fmt.Sprintf("Bridge %s: %d messages queued, starting the connection.", b.cfg.Name, n))
			return true
		}
		select {
		case <-b.wake:
		case <-t.C:
		case <-b.draining:
			return false
		case <-b.ctx.Done():
			return false
		}
	}
}

// queued returns the number of messages for the remote that are not sent
// yet: waiting in the bridge, received from the local broker and not yet
// handled, and queued for the bridge's session by the local broker.
func (b *Bridge) queued() int {
	n := int(b.waiting.Load())
	if local := b.localRef.Load(); local != nil {
		n += local.Backlog()
	}
	if info, ok := b.m.srv.Session(b.localID); ok {
		n += info.Queued
	}
	return n
}

// hold returns when the remote client rc has ended (a client with
// AutoReconnect ends only when closed; one without, with its first
// connection) or the bridge stops; or, for a lazy bridge, once nothing
// has crossed for idle_timeout, having closed the connection. It reports
// whether it closed it for that.
func (b *Bridge) hold(rc *client.Client) (idle bool) {
	var tick <-chan time.Time
	timeout := time.Duration(b.cfg.IdleTimeout) * time.Second
	if b.lazy() {
		b.active()
		t := time.NewTicker(min(timeout/4, time.Second))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-b.ctx.Done():
			return false
		case <-rc.Done():
			return false
		case <-tick:
			last := time.Unix(0, b.lastActive.Load())
			if time.Since(last) < timeout || b.busy.Load() > 0 || b.queued() > 0 {
				continue
			}
			b.notice(fmt.Sprintf("Bridge connection %s has exceeded idle timeout, disconnecting.", b.cfg.Name))
			b.closeIdle(rc)
			return true
		}
	}
}

// active records that a message crossed the bridge now.
func (b *Bridge) active() { b.lastActive.Store(time.Now().UnixNano()) }

// closeIdle ends an idle remote connection: what the local side sends
// from now on waits for the next one; what is still in flight may finish
// for drainWait; the remote is told that the bridge is down (its will
// would not be sent after a DISCONNECT), and the connection is closed
// with a DISCONNECT.
func (b *Bridge) closeIdle(rc *client.Client) {
	b.setUp(false)
	deadline := time.Now().Add(drainWait)
	for b.busy.Load()-b.waiting.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if b.notifyTopic != "" && !b.cfg.NotificationsLocalOnly {
		_, _ = rc.Publish(ctx, &client.Message{Topic: b.notifyTopic, Payload: []byte("0"), QoS: 1, Retain: true})
	}
	_ = rc.Disconnect(ctx, client.Success, nil)
}

// firstDelay and nextDelay are the waits between attempts to connect:
// restart_timeout, or Mosquitto's backoff between its base and cap.
func (b *Bridge) firstDelay() time.Duration {
	if b.cfg.RestartTimeout > 0 {
		return time.Duration(b.cfg.RestartTimeout) * time.Second
	}
	return time.Duration(b.cfg.BackoffBase) * time.Second
}

func (b *Bridge) nextDelay(last time.Duration) time.Duration {
	if b.cfg.RestartTimeout > 0 {
		return last
	}
	base := time.Duration(b.cfg.BackoffBase) * time.Second
	capd := time.Duration(b.cfg.BackoffCap) * time.Second
	return min(base+randDuration(max(3*last-base, 1)), capd)
}

func (b *Bridge) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}

// connectLocal connects the bridge's client to the local broker and
// subscribes to the local side of the `out` topics.
// localClean reports whether the bridge's local session is clean
// (local_cleansession, by default cleansession).
func (b *Bridge) localClean() bool {
	if b.cfg.LocalCleanSession != nil {
		return *b.cfg.LocalCleanSession
	}
	return b.cfg.CleanSession
}

func (b *Bridge) connectLocal() (*client.Client, error) {
	keep := !b.localClean()
	opts := client.Options{
		ClientID:        b.localID,
		ProtocolVersion: client.MQTT5,
		KeepSession:     keep,
		KeepAlive:       -1,
		Username:        b.cfg.LocalUsername,
		MaxInflight:     65535,
		AutoReconnect:   true,
		ReconnectDelay:  100 * time.Millisecond,
		Dialer: func(context.Context) (net.Conn, error) {
			return b.m.ln.dial("bridge:" + b.cfg.Name)
		},
		OnMessage: b.forwardOut,
		// forwardOut acknowledges once the remote has (ackOut), so that
		// several messages are in flight at once.
		ManualAck: true,
		Prelude:   func(p *client.Prelude, _ *client.Connack) { b.subscribeLocal(p) },
	}
	if b.cfg.LocalPassword != "" {
		opts.Password = []byte(b.cfg.LocalPassword)
	}
	if keep {
		// The local session lasts until the bridge connects with a clean
		// start: its queue is what the remote has yet to get.
		opts.Properties.SessionExpiry = math.MaxUint32
		opts.Properties.Set(client.PropSessionExpiry)
	}
	local, err := client.Connect(b.ctx, opts)
	if err != nil {
		return nil, err
	}
	b.local = local
	b.localRef.Store(local)
	return local, nil
}

// localSubscriptions are the bridge's subscriptions on the local broker,
// one per `out` topic, as Mosquitto's bridge makes them: no local echo of
// what the bridge itself publishes locally, retain flags as published, at
// most the topic's QoS. Retained messages come with each subscription.
func (b *Bridge) localSubscriptions() []client.Subscription {
	var subs []client.Subscription
	for _, t := range b.topics {
		if t.out {
			subs = append(subs, client.Subscription{Filter: t.local, QoS: t.qos, NoLocal: true, RetainAsPublished: true})
		}
	}
	return subs
}

// subscribeLocal subscribes to the local side of every `out` topic on
// each local connection.
func (b *Bridge) subscribeLocal(p *client.Prelude) {
	for _, s := range b.localSubscriptions() {
		b.log.Debug(fmt.Sprintf("Bridge %s doing local SUBSCRIBE on topic %s", b.localID, s.Filter))
		if err := p.Subscribe(nil, nil, s); err != nil {
			b.log.Error(fmt.Sprintf("Error: bridge %s: local subscription to %s: %v.", b.cfg.Name, s.Filter, err))
		}
	}
}

// resubscribeLocal subscribes again to the local `out` topics after a
// reconnection to the remote, so that the retained messages are sent to
// it again, as Mosquitto does.
func (b *Bridge) resubscribeLocal() {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	for _, s := range b.localSubscriptions() {
		if _, err := b.local.Subscribe(ctx, nil, s); err != nil && b.ctx.Err() == nil {
			b.log.Error(fmt.Sprintf("Error: bridge %s: local subscription to %s: %v.", b.cfg.Name, s.Filter, err))
		}
	}
}

// connectRemote makes the first connection to the remote broker; the
// client reconnects by itself after that.
func (b *Bridge) connectRemote() (*client.Client, error) {
	c := b.cfg
	version := client.MQTT311
	switch c.ProtocolVersion {
	case "mqttv31":
		version = client.MQTT31
	case "mqttv50":
		version = client.MQTT5
	}
	opts := client.Options{
		ClientID:        b.remoteID,
		ProtocolVersion: version,
		KeepSession:     !c.CleanSession,
		KeepAlive:       time.Duration(c.KeepaliveInterval) * time.Second,
		Username:        c.RemoteUsername,
		Bridge:          true,
		TryPrivate:      c.TryPrivate,
		AlwaysResume:    true,
		AutoReconnect:   c.StartType == "automatic",
		ReconnectDelay:  b.firstDelay(),
		ConnectTimeout:  30 * time.Second,
		Dialer:          b.dialRemote,
		OnMessage:       b.forwardIn,
		Prelude:         b.prelude,
		OnConnect: func(_ context.Context, _ *client.Client, _ *client.Connack) {
			b.connected()
		},
		OnConnectionLost: func(_ *client.Client, err error) {
			b.setUp(false)
			b.reconnects.Add(1)
			b.notice(fmt.Sprintf("Bridge %s: connection lost: %v.", b.cfg.Name, err))
		},
	}
	if c.RestartTimeout > 0 {
		opts.MaxReconnectDelay = opts.ReconnectDelay
	} else {
		opts.MaxReconnectDelay = time.Duration(c.BackoffCap) * time.Second
		opts.ReconnectJitter = true
	}
	if c.RemotePassword != "" {
		opts.Password = []byte(c.RemotePassword)
	}
	inflight := b.m.opts.MaxInflight
	if inflight <= 0 || inflight > 65535 {
		inflight = 65535
	}
	opts.MaxInflight = inflight
	if version == client.MQTT5 {
		p := &opts.Properties
		// As Mosquitto: the Receive Maximum is always sent, from
		// max_inflight_messages unless bridge_receive_maximum is set.
		p.ReceiveMaximum = uint16(inflight)
		p.Set(client.PropReceiveMaximum)
		if c.SessionExpiryInterval > 0 {
			p.SessionExpiry = uint32(c.SessionExpiryInterval)
			p.Set(client.PropSessionExpiry)
		}
		if c.ReceiveMaximum > 0 {
			p.ReceiveMaximum = uint16(c.ReceiveMaximum)
			p.Set(client.PropReceiveMaximum)
		}
		if c.MaxPacketSize > 0 {
			p.MaximumPacketSize = uint32(c.MaxPacketSize)
			p.Set(client.PropMaximumPacketSize)
		}
		// bridge_max_topic_alias: the aliases the bridge may set up for
		// the topics it sends, within the remote's Topic Alias Maximum.
		opts.TopicAliases = c.MaxTopicAlias > 0
		opts.MaxTopicAliases = uint16(c.MaxTopicAlias)
	}
	if b.notifyTopic != "" && !c.NotificationsLocalOnly {
		opts.Will = &client.Will{Topic: b.notifyTopic, Payload: []byte("0"), QoS: 1, Retain: true}
	}
	addr := c.Addresses[b.addr%len(c.Addresses)]
	b.notice(fmt.Sprintf("Connecting bridge %s (%s:%d)", c.Name, addr.Host, addr.Port))
	return client.Connect(b.ctx, opts)
}

// dialRemote dials the remote broker: the addresses in order, from the
// first after a failure without round_robin, from the next one with it.
func (b *Bridge) dialRemote(ctx context.Context) (net.Conn, error) {
	addrs := b.cfg.Addresses
	d := b.dialer()
	b.mu.Lock()
	start := b.addr
	if !b.cfg.RoundRobin {
		start = 0
	}
	b.dials++
	dial := b.dials
	if !b.linking {
		b.linking = true
		b.changedLocked()
	}
	b.mu.Unlock()
	var firstErr error
	for i := range addrs {
		n := (start + i) % len(addrs)
		a := addrs[n]
		nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.Host, strconv.Itoa(a.Port)))
		if err == nil && b.usesTLS() {
			nc, err = b.handshake(ctx, nc, a.Host)
		}
		if err == nil {
			b.mu.Lock()
			b.addr = n
			if b.cfg.RoundRobin {
				b.addr = n + 1
			}
			b.mu.Unlock()
			return &remoteConn{Conn: nc, b: b, dial: dial}, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	b.endLink(dial)
	return nil, firstErr
}

// endLink records that the connection of the given dial is over, unless
// a newer one has begun.
func (b *Bridge) endLink(dial uint64) {
	b.mu.Lock()
	if b.dials == dial && b.linking {
		b.linking = false
		b.changedLocked()
	}
	b.mu.Unlock()
}

// remoteConn is a connection to the remote broker that tells the bridge
// when it is closed.
type remoteConn struct {
	net.Conn
	b    *Bridge
	dial uint64
}

func (c *remoteConn) Close() error {
	err := c.Conn.Close()
	c.b.endLink(c.dial)
	return err
}

// SetLinger lets the client reset the connection on a protocol error.
func (c *remoteConn) SetLinger(sec int) error {
	nc := c.Conn
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		return tc.SetLinger(sec)
	}
	return nil
}

// prelude is what the bridge sends first on each remote connection, as
// Mosquitto: its state notification, then a SUBSCRIBE for every `in`
// topic and, if bridge_attempt_unsubscribe, an UNSUBSCRIBE for every
// `out` one (a subscription left from an earlier configuration).
func (b *Bridge) prelude(p *client.Prelude, ack *client.Connack) {
	maxQoS := byte(2)
	if ack.Properties.Has(client.PropMaximumQoS) {
		maxQoS = ack.Properties.MaximumQoS
	}
	if b.notifyTopic != "" && !b.cfg.NotificationsLocalOnly {
		retain := !ack.Properties.Has(client.PropRetainAvailable) || ack.Properties.RetainAvailable == 1
		_ = p.Publish(&client.Message{Topic: b.notifyTopic, Payload: []byte("1"), QoS: min(1, maxQoS), Retain: retain})
	}
	v5 := b.cfg.ProtocolVersion == "mqttv50"
	for _, t := range b.topics {
		if t.in {
			s := client.Subscription{Filter: t.remote, QoS: min(t.qos, maxQoS)}
			if v5 {
				s.NoLocal, s.RetainAsPublished = true, true
			}
			filter := t.remote
			_ = p.Subscribe(func(sa *client.Suback, err error) {
				if err == nil && len(sa.ReasonCodes) > 0 && sa.ReasonCodes[0] >= 0x80 {
					b.log.Warn(fmt.Sprintf("Warning: bridge %s: the remote refused the subscription to %s (reason 0x%02x).",
						b.cfg.Name, filter, byte(sa.ReasonCodes[0])))
				}
			}, nil, s)
		} else if b.cfg.AttemptUnsubscribe {
			_ = p.Unsubscribe(nil, nil, t.remote)
		}
	}
}

// connected runs once a remote connection is up.
func (b *Bridge) connected() {
	b.mu.Lock()
	b.connects++
	again := b.connects > 1
	b.mu.Unlock()
	b.setUp(true)
	b.notifyLocal('1')
	if again {
		b.resubscribeLocal()
	}
}

// setUp records whether the remote connection is up; its going down is
// published locally.
func (b *Bridge) setUp(up bool) {
	b.mu.Lock()
	changed := b.up != up
	if changed {
		b.up = up
		b.changedLocked()
	}
	b.mu.Unlock()
	if changed && !up {
		b.notifyLocal('0')
	}
}

func (b *Bridge) changedLocked() {
	close(b.upChanged)
	b.upChanged = make(chan struct{})
}

// notifyLocal publishes the bridge's state to the local broker, retained.
func (b *Bridge) notifyLocal(state byte) {
	if b.notifyTopic == "" || b.local == nil {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	_, _ = b.local.Publish(ctx, &client.Message{Topic: b.notifyTopic, Payload: []byte{state}, QoS: 1, Retain: true})
}

// waitUp returns the remote client once its connection is up. It returns
// a nil client if keep is false and the bridge has no remote connection
// and is not making one, and false if the bridge begins to stop first.
//
// While it waits the message counts as queued (see queued); a lazy
// bridge keeps every message, as its remote is away by design.
func (b *Bridge) waitUp(keep bool) (*client.Client, bool) {
	keep = keep || b.lazy()
	for counted := false; ; {
		b.mu.Lock()
		up, linking, rc, ch := b.up, b.linking, b.remote, b.upChanged
		b.mu.Unlock()
		if up && rc != nil {
			return rc, true
		}
		if !keep && !linking {
			return nil, true
		}
		if !counted {
			counted = true
			b.waiting.Add(1)
			defer b.waiting.Add(-1)
			signal(b.wake)
		}
		select {
		case <-ch:
		case <-b.draining:
			return nil, false // nothing new is sent while stopping
		case <-b.ctx.Done():
			return nil, false
		}
	}
}

// forwardOut passes a message from the local broker to the remote one;
// ackOut acknowledges it to the local broker once the remote has. A QoS 0
// message while the remote is away is dropped, as Mosquitto drops it for
// a disconnected bridge.
func (b *Bridge) forwardOut(local *client.Client, m *client.Message) {
	if b.stopping() {
		return // left unacknowledged: sent again after the restart
	}
	t, ok := b.remapOut(m.Topic)
	if !ok {
		local.Ack(m)
		return // a subscription of an earlier configuration
	}
	out := &client.Message{Topic: t, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain && b.cfg.OutgoingRetain,
		Properties: m.Properties}
	out.Properties.Clear(client.PropSubscriptionID)
	b.busy.Add(1)
	if p := b.sendOut(m, out); p != nil {
		select {
		case b.flight <- outFlight{m: m, out: out, p: p}: // busy until ackOut is done with it
			return
		case <-b.ctx.Done():
		}
	}
	b.busy.Add(-1)
}

// outFlight is a message sent to the remote and not yet acknowledged.
type outFlight struct {
	m, out *client.Message // as received locally, as sent
	p      *client.Pending
}

// sendOut sends out, m as it came from the local broker, to the remote,
// waiting for a connection where it should. It returns nil when the
// message is not sent, having acknowledged it locally when it is not to
// be sent again.
func (b *Bridge) sendOut(m, out *client.Message) *client.Pending {
	for {
		// A QoS 0 message, or any with a clean local session, is kept
		// only while a remote connection is open or being made, as
		// Mosquitto keeps nothing for a bridge without a socket.
		rc, running := b.waitUp(m.QoS > 0 && !b.localClean())
		if !running {
			return nil // stopping: unacknowledged
		}
		if rc == nil {
			b.dropped.Add(1)
			b.local.Ack(m)
			return nil
		}
		p, err := rc.Send(b.ctx, out)
		if err == nil {
			b.active()
		}
		switch {
		case err == nil && m.QoS == 0:
			b.sent.Add(1)
			b.bytesSent.Add(int64(len(out.Payload)))
			return nil
		case err == nil:
			return p
		case b.ctx.Err() != nil:
			return nil
		case errors.Is(err, client.ErrClosed) && (m.QoS > 0 || b.lazy()):
			// The remote client was replaced (start_type once and lazy
			// end it): wait for the next one.
		case m.QoS == 0:
			b.dropped.Add(1)
			return nil
		default:
			// Not a message the remote can take (too large, QoS or
			// retain not available).
			b.dropped.Add(1)
			b.log.Warn(fmt.Sprintf("Warning: bridge %s: message on %s not sent: %v.", b.cfg.Name, out.Topic, err))
			b.local.Ack(m)
			return nil
		}
	}
}

// ackOut waits for the remote's acknowledgement of each message sent, in
// order, and acknowledges the message to the local broker.
func (b *Bridge) ackOut(local *client.Client) {
	for {
		var f outFlight
		select {
		case f = <-b.flight:
		case <-b.ctx.Done():
			return
		}
		for {
			_, err := f.p.Wait(b.ctx)
			var re *client.ReasonError
			switch {
			case err == nil:
				b.sent.Add(1)
				b.bytesSent.Add(int64(len(f.out.Payload)))
				b.active()
				local.Ack(f.m)
			case errors.As(err, &re):
				// The remote refused it (not authorised, quota ...): as a
				// client's refused message, it is gone.
				b.dropped.Add(1)
				b.log.Warn(fmt.Sprintf("Warning: bridge %s: the remote refused a message on %s: %v.", b.cfg.Name, f.out.Topic, err))
				local.Ack(f.m)
			case b.ctx.Err() != nil:
				b.busy.Add(-1)
				return // unacknowledged: sent again after the restart
			default:
				// The remote client ended with the message (start_type
				// once): send it with the next one.
				if f.p = b.sendOut(f.m, f.out); f.p != nil {
					continue
				}
			}
			break
		}
		b.busy.Add(-1)
	}
}

// forwardIn passes a message from the remote broker to the local one; the
// remote client acknowledges it when this returns, once the local broker
// has acknowledged it (with persistence on: once it is on disk).
func (b *Bridge) forwardIn(remote *client.Client, m *client.Message) {
	if b.stopping() {
		// Unacknowledged: the remote sends it again. Not dropped yet,
		// which would start a reconnection.
		<-b.ctx.Done()
		b.abandon(remote)
		return
	}
	b.busy.Add(1)
	defer b.busy.Add(-1)
	b.active()
	t, ok := b.remapIn(m.Topic)
	if !ok {
		return
	}
	in := &client.Message{Topic: t, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Properties: m.Properties}
	in.Properties.Clear(client.PropSubscriptionID)
	if _, err := b.local.Publish(b.ctx, in); err != nil {
		var re *client.ReasonError
		if errors.As(err, &re) {
			b.dropped.Add(1)
			return // refused locally: acknowledged and dropped, as for any client
		}
		// The bridge is stopping: leave the message unacknowledged so
		// that the remote sends it again.
		b.abandon(remote)
		return
	}
	b.received.Add(1)
	b.bytesReceived.Add(int64(len(m.Payload)))
	b.active()
}

// abandon drops c's connection so that the message being handled is not
// acknowledged.
func (b *Bridge) abandon(c *client.Client) { c.Close() }

// usesTLS reports whether the bridge connects over TLS: with a CA file or
// directory to trust, or the system's roots, as in Mosquitto.
func (b *Bridge) usesTLS() bool {
	c := b.cfg
	return c.CAFile != "" || c.CAPath != "" || c.UseOSCerts
}

// handshake runs the TLS handshake on nc to host, verifying the remote as
// libmosquitto does: the chain from the configured CAs, and the host name
// unless bridge_insecure.
func (b *Bridge) handshake(ctx context.Context, nc net.Conn, host string) (net.Conn, error) {
	c := b.cfg
	flags := clientflags.Config{
		Host: host, CAFile: c.CAFile, CAPath: c.CAPath, CertFile: c.CertFile, KeyFile: c.KeyFile,
		Insecure: c.Insecure, TLSVersion: c.TLSVersion, TLSALPN: c.ALPN, TLSUseOSCerts: c.UseOSCerts,
	}
	cfg, err := flags.TLSConfig()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS settings (bridge_cafile, bridge_capath, bridge_certfile, bridge_keyfile, bridge_tls_version): %s",
			strings.TrimSpace(strings.TrimPrefix(err.Error(), "Error: ")))
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// signal wakes whoever waits on ch (cap 1), if not already woken.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// dialer is the dialer of the remote connection: bridge_bind_address and
// bridge_tcp_keepalive, and bridge_tcp_user_timeout where the system has
// it.
func (b *Bridge) dialer() net.Dialer {
	c := b.cfg
	d := net.Dialer{}
	if c.BindAddress != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.BindAddress)}
	}
	if c.TCPKeepaliveIdle > 0 {
		d.KeepAliveConfig = net.KeepAliveConfig{
			Enable:   true,
			Idle:     time.Duration(c.TCPKeepaliveIdle) * time.Second,
			Interval: time.Duration(c.TCPKeepaliveInterval) * time.Second,
			Count:    c.TCPKeepaliveCount,
		}
	}
	if c.TCPUserTimeout >= 0 && haveUserTimeout {
		ms := c.TCPUserTimeout
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) { serr = setUserTimeout(fd, ms) }); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("bridge_tcp_user_timeout: %w", serr)
			}
			return nil
		}
	}
	return d
}
