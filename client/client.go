package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// Client is a connection to an MQTT server, re-established when
// Options.AutoReconnect is set. Create it with Connect. Its methods are
// safe for concurrent use.
type Client struct {
	opts Options

	ctx    context.Context // ends when the client ends
	cancel context.CancelFunc

	// superDone closes when the supervisor, which owns the connections,
	// has returned; done when every goroutine, callbacks included, has.
	superDone chan struct{}
	done      chan struct{}
	callbacks sync.WaitGroup // the delivery goroutine and OnConnect calls

	inbox inbox

	// Lock order: conn.wmu before mu; never the other way round, so that
	// a failing write may look at client state.
	mu       sync.Mutex
	conn     *conn // the live connection; nil while reconnecting
	connack  *Connack
	clientID string
	limits   limits
	sess     session
	slotFree chan struct{} // closed and replaced when an in-flight slot frees
	closing  bool          // Disconnect or Close was called
	err      error         // why the client ended
}

// limits are what the current CONNACK allows.
type limits struct {
	window    int    // outgoing QoS 1/2 messages awaiting acknowledgement
	maxPacket int    // 0: no limit
	aliasMax  uint16 // outgoing topic aliases (0: none)
	maxQoS    byte
	retain    bool
	keepAlive time.Duration // 0: no keep alive
}

// Connect connects to the server described by opts and returns once the
// server has accepted the connection. A refused connection returns a
// *ConnectError. ctx bounds dialling and the CONNECT/CONNACK exchange; it
// does not bound the client's life, which ends with Disconnect, Close or
// (without AutoReconnect) a lost connection.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:      o,
		clientID:  o.ClientID,
		superDone: make(chan struct{}),
		done:      make(chan struct{}),
		slotFree:  make(chan struct{}),
		sess:      newSession(),
	}
	c.inbox.init()
	nc, ack, err := c.handshake(ctx)
	if err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	cn := c.install(nc, ack)
	c.callbacks.Go(c.deliver)
	go c.supervise(cn)
	go func() {
		<-c.superDone
		c.callbacks.Wait()
		close(c.done)
	}()
	return c, nil
}

// handshake dials and exchanges CONNECT and CONNACK within ctx.
func (c *Client) handshake(ctx context.Context) (net.Conn, *packet.Connack, error) {
	o := &c.opts
	nc, err := dial(ctx, o)
	if err != nil {
		return nil, nil, fmt.Errorf("client: dial: %w", err)
	}
	// Bound the exchange by ctx: its deadline, or an expired one as soon
	// as it is cancelled.
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	ack, err := c.exchange(nc)
	stop()
	if err != nil {
		// The socket deadline can fire a moment before the context
		// notices its own; report the context as the cause either way.
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		} else if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	nc.SetDeadline(time.Time{})
	return nc, ack, nil
}

func (c *Client) exchange(nc net.Conn) (*packet.Connack, error) {
	o := &c.opts
	c.mu.Lock()
	id := c.clientID
	c.mu.Unlock()
	b, err := packet.Append(nil, o.connectPacket(id), o.ProtocolVersion)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := nc.Write(b); err != nil {
		return nil, fmt.Errorf("client: sending CONNECT: %w", err)
	}
	p, err := packet.ReadPacket(nc, o.ProtocolVersion, o.maxIncoming())
	if err != nil {
		return nil, fmt.Errorf("client: reading CONNACK: %w", err)
	}
	switch p := p.(type) {
	case *packet.Connack:
		if p.ReasonCode != 0 {
			return nil, &ConnectError{ReasonCode: p.ReasonCode, ProtocolVersion: o.ProtocolVersion, Properties: p.Properties}
		}
		return p, nil
	case *packet.Auth:
		// Enhanced authentication (MQTT 5.0 section 4.12) is not
		// implemented: a server that starts it is refused.
		return nil, fmt.Errorf("%w: enhanced authentication (AUTH) is not supported", ErrProtocol)
	default:
		return nil, fmt.Errorf("%w: expected CONNACK, got %s [MQTT-3.2.0-1]", ErrProtocol, p.Type())
	}
}

// maxIncoming is the largest packet the client accepts: the Maximum
// Packet Size it announced (MQTT 5), else no limit.
func (o *Options) maxIncoming() int {
	if o.ProtocolVersion == MQTT5 && o.Properties.Has(PropMaximumPacketSize) {
		return int(o.Properties.MaximumPacketSize)
	}
	return 0
}

// install makes nc, just accepted with ack, the client's connection:
// it applies the CONNACK, resumes or resets the session, starts the
// connection's goroutines and resends what the session holds. It returns
// nil if the client was closed meanwhile.
func (c *Client) install(nc net.Conn, ack *packet.Connack) *conn {
	cn := newConn(c, nc)
	// Hold the write lock until the resends are out, so that no new
	// message overtakes them [MQTT-4.6.0-1].
	cn.wmu.Lock()
	defer cn.wmu.Unlock()

	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		nc.Close()
		return nil
	}
	c.applyConnack(ack)
	cn.keepAlive = c.limits.keepAlive
	cn.aliasMax = c.limits.aliasMax
	cn.maxPacket = c.limits.maxPacket
	// MQTT 3.1 has no Session Present flag: trust our own request.
	present := ack.SessionPresent || (c.opts.ProtocolVersion == MQTT31 && c.opts.KeepSession) ||
		c.opts.AlwaysResume
	resend := c.resumeLocked(present)
	c.conn = cn
	c.mu.Unlock()

	cn.start()
	if f := c.opts.Prelude; f != nil {
		pr := &Prelude{c: c, cn: cn}
		f(pr, c.Connack())
		pr.cn = nil // its methods fail once the prelude is over
	}
	for _, p := range resend {
		if err := cn.writeLocked(p); err != nil {
			break // the connection is closing; the session keeps them
		}
	}
	return cn
}

// applyConnack records what the CONNACK says; c.mu is held.
func (c *Client) applyConnack(ack *packet.Connack) {
	o := &c.opts
	c.connack = &Connack{SessionPresent: ack.SessionPresent, ReasonCode: ack.ReasonCode, Properties: ack.Properties}
	l := limits{window: o.MaxInflight, maxQoS: 2, retain: true, keepAlive: max(o.KeepAlive, 0)}
	if o.ProtocolVersion == MQTT5 {
		p := &ack.Properties
		if p.Has(PropReceiveMaximum) && p.ReceiveMaximum > 0 {
			l.window = min(l.window, int(p.ReceiveMaximum)) // [MQTT-3.3.4-7]
		}
		if p.Has(PropMaximumPacketSize) {
			l.maxPacket = int(p.MaximumPacketSize)
		}
		if o.TopicAliases && p.Has(PropTopicAliasMaximum) {
			l.aliasMax = p.TopicAliasMaximum
			if o.MaxTopicAliases > 0 {
				l.aliasMax = min(l.aliasMax, o.MaxTopicAliases)
			}
		}
		if p.Has(PropMaximumQoS) {
			l.maxQoS = p.MaximumQoS
		}
		if p.Has(PropRetainAvailable) {
			l.retain = p.RetainAvailable == 1
		}
		if p.Has(PropServerKeepAlive) {
			l.keepAlive = time.Duration(p.ServerKeepAlive) * time.Second // [MQTT-3.2.2-21]
		}
		if p.Has(PropAssignedClientID) {
			// Reconnections must use it to resume the session.
			c.clientID = p.AssignedClientID
		}
	}
	if l.window > c.limits.window {
		c.signalSlotLocked()
	}
	c.limits = l
}

// supervise owns the connections: it waits for each to end and, with
// AutoReconnect, replaces it.
func (c *Client) supervise(cn *conn) {
	defer close(c.superDone)
	for cn != nil {
		c.notifyConnect(cn)
		select {
		case <-cn.done:
		case <-c.ctx.Done():
			cn.close(ErrClosed)
		}
		cn.wg.Wait()
		c.mu.Lock()
		if c.conn == cn {
			c.conn = nil
		}
		closing := c.closing
		c.mu.Unlock()
		if closing || c.ctx.Err() != nil {
			// Disconnect or Close ended it (they set closing before
			// touching the connection), or the client already ended.
			return
		}
		err := cn.err
		if !c.opts.AutoReconnect {
			// Messages already received are still delivered.
			c.finish(err, false)
			return
		}
		if f := c.opts.OnConnectionLost; f != nil {
			// On its own goroutine, so that it may call Disconnect.
			c.callbacks.Go(func() { f(c, err) })
		}
		cn = c.reconnect()
	}
}

// notifyConnect runs OnConnect for cn on its own goroutine, with a
// context that ends with the connection.
func (c *Client) notifyConnect(cn *conn) {
	f := c.opts.OnConnect
	if f == nil {
		return
	}
	c.mu.Lock()
	ack := *c.connack
	c.mu.Unlock()
	c.callbacks.Go(func() { f(cn.ctx, c, &ack) })
}

// reconnect dials until a connection is accepted, waiting ReconnectDelay
// and doubling the wait up to MaxReconnectDelay after each failure. It
// returns nil when the client ends first.
func (c *Client) reconnect() *conn {
	delay := c.opts.ReconnectDelay
	for {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return nil
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.ConnectTimeout)
		nc, ack, err := c.handshake(ctx)
		cancel()
		if err == nil {
			return c.install(nc, ack) // nil if closed meanwhile
		}
		if c.opts.ReconnectJitter {
			// Decorrelated jitter: random in [base, 3 × last], capped.
			base := c.opts.ReconnectDelay
			delay = min(base+rand.N(max(3*delay-base, 1)), c.opts.MaxReconnectDelay)
		} else {
			delay = min(2*delay, c.opts.MaxReconnectDelay)
		}
	}
}

// finish ends the client with err (the first cause wins). drop discards
// received messages that the handler has not seen yet.
func (c *Client) finish(err error, drop bool) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.inbox.close(drop)
	c.cancel()
}

// endErr is the error for calls cut short by the end of the client.
func (c *Client) endErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return ErrClosed
	}
	return c.err
}

// Disconnect sends DISCONNECT with the reason code (MQTT 5; Success is
// the normal disconnection, DisconnectWithWill keeps the will) and
// properties (may be nil: Session Expiry Interval, Reason String, User
// Properties), closes the connection and stops reconnecting. It returns
// when the connection is closed or ctx is done. Messages not yet handed
// to OnMessage are dropped unacknowledged; a callback still running is
// not waited for (Disconnect may be called from one): wait on Done for
// that. Calling it again returns ErrClosed.
func (c *Client) Disconnect(ctx context.Context, reason ReasonCode, props *Properties) error {
	d := &packet.Disconnect{ReasonCode: reason}
	if props != nil {
		d.Properties = *props
		if d.Properties.Has(PropSessionExpiry) && d.Properties.SessionExpiry != 0 &&
			(!c.opts.Properties.Has(PropSessionExpiry) || c.opts.Properties.SessionExpiry == 0) {
			// [MQTT-3.14.2-2] A session that was to end with the
			// connection cannot be extended at DISCONNECT.
			return fmt.Errorf("%w: session expiry in DISCONNECT after a CONNECT with none", ErrInvalid)
		}
	}
	return c.shutdown(ctx, d)
}

// Close closes the connection without DISCONNECT, so the server publishes
// the will, and stops the client like Disconnect.
func (c *Client) Close() error {
	return c.shutdown(context.Background(), nil)
}

func (c *Client) shutdown(ctx context.Context, d *packet.Disconnect) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closing = true
	cn := c.conn
	c.mu.Unlock()
	var err error
	if cn != nil && d != nil {
		if werr := cn.write(d); werr != nil && !errors.Is(werr, ErrConnectionLost) {
			err = werr
		}
	}
	c.finish(ErrClosed, true)
	select {
	case <-c.superDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// Backlog returns the number of received messages waiting for
// OnMessage, not counting one it is handling.
func (c *Client) Backlog() int { return c.inbox.len() }

// Done is closed when the client has ended and every goroutine it
// started, callbacks included, has returned.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the client runs and, once it has ended, why:
// ErrClosed after Disconnect or Close, a *DisconnectError if the server
// sent DISCONNECT, or an error wrapping ErrConnectionLost,
// ErrKeepAliveTimeout or ErrProtocol.
func (c *Client) Err() error {
	if c.ctx.Err() == nil {
		return nil
	}
	return c.endErr()
}

// Connack returns the CONNACK of the current (or last) connection.
func (c *Client) Connack() *Connack {
	c.mu.Lock()
	defer c.mu.Unlock()
	ack := *c.connack
	return &ack
}

// ClientID returns the client identifier in use: Options.ClientID, or the
// one an MQTT 5 server assigned.
func (c *Client) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// ProtocolVersion returns the protocol version of the connection.
func (c *Client) ProtocolVersion() byte { return c.opts.ProtocolVersion }
