package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// writeTimeout bounds one write to the socket: a server that stops
// reading for this long is treated as gone.
const writeTimeout = 30 * time.Second

// conn is one network connection of a client, from CONNACK to close.
// Its reader goroutine handles everything the server sends; writes come
// from any goroutine under wmu.
type conn struct {
	c       *Client
	nc      net.Conn
	version byte

	// Set by install before start, read-only afterwards.
	keepAlive time.Duration
	aliasMax  uint16
	maxPacket int

	ctx    context.Context // ends with the connection (for OnConnect)
	cancel context.CancelFunc
	wg     sync.WaitGroup // reader and keep alive goroutines

	wmu      sync.Mutex
	wbuf     []byte
	aliasOut map[string]uint16 // outgoing topic aliases, under wmu

	aliasIn     map[uint16]string // incoming topic aliases, reader only
	lastWrite   atomic.Int64      // unix nanoseconds
	pingPending atomic.Bool
	// qos1Pending counts incoming QoS 1 messages not yet PUBACKed on this
	// connection, for the Receive Maximum the client announced.
	qos1Pending atomic.Int32
	// acks are the manual acknowledgements not yet sent, in arrival
	// order (Options.ManualAck).
	ackMu sync.Mutex
	acks  []*manualAck

	closeOnce sync.Once
	done      chan struct{}
	err       error // why the connection ended; set before done closes
}

func newConn(c *Client, nc net.Conn) *conn {
	cn := &conn{c: c, nc: nc, version: c.opts.ProtocolVersion, done: make(chan struct{})}
	cn.ctx, cn.cancel = context.WithCancel(c.ctx)
	cn.lastWrite.Store(time.Now().UnixNano())
	return cn
}

// start runs the reader and, if keep alive is on, the pinger.
func (cn *conn) start() {
	cn.wg.Go(cn.readLoop)
	if cn.keepAlive > 0 {
		cn.wg.Go(cn.pinger)
	}
}

// close ends the connection with err; only the first call counts. It
// takes no lock of the client, so it may be called from anywhere.
func (cn *conn) close(err error) {
	cn.closeOnce.Do(func() {
		cn.err = err
		close(cn.done)
		cn.cancel()
		cn.nc.Close()
	})
}

// lostErr is the error for a write or request on a closed connection.
func (cn *conn) lostErr() error {
	<-cn.done
	if errors.Is(cn.err, ErrConnectionLost) {
		return cn.err
	}
	return fmt.Errorf("%w: %w", ErrConnectionLost, cn.err)
}

func (cn *conn) write(p packet.Packet) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	return cn.writeLocked(p)
}

// writeLocked encodes and writes p; cn.wmu is held. A failed write
// closes the connection.
func (cn *conn) writeLocked(p packet.Packet) error {
	select {
	case <-cn.done:
		return cn.lostErr()
	default:
	}
	b, err := packet.Append(cn.wbuf[:0], p, cn.version)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if cap(b) <= 64<<10 {
		cn.wbuf = b // keep small buffers for the next packet
	}
	cn.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := cn.nc.Write(b); err != nil {
		cn.close(fmt.Errorf("%w: %w", ErrConnectionLost, err))
		return cn.lostErr()
	}
	cn.lastWrite.Store(time.Now().UnixNano())
	return nil
}

// writePublish writes p, replacing its topic by an alias where the server
// allows aliases (MQTT 5.0 section 3.3.2.3.4). Aliases belong to the
// connection [MQTT-3.3.2-7], so they are chosen here, under the write
// lock, in the order the server sees them. p itself is not modified.
func (cn *conn) writePublish(p *packet.Publish) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if cn.aliasMax == 0 {
		return cn.writeLocked(p)
	}
	if cn.aliasOut == nil {
		cn.aliasOut = make(map[string]uint16)
	}
	q := *p
	if a, ok := cn.aliasOut[p.Topic]; ok {
		q.Topic = ""
		q.Properties.TopicAlias = a
		q.Properties.Set(PropTopicAlias)
		return cn.writeLocked(&q)
	}
	if len(cn.aliasOut) < int(cn.aliasMax) {
		q.Properties.TopicAlias = uint16(len(cn.aliasOut) + 1)
		q.Properties.Set(PropTopicAlias)
		if cn.maxPacket == 0 || packet.Size(&q, cn.version) <= cn.maxPacket {
			if err := cn.writeLocked(&q); err != nil {
				return err
			}
			cn.aliasOut[p.Topic] = q.Properties.TopicAlias
			return nil
		}
	}
	return cn.writeLocked(p)
}

// pinger sends PINGREQ when nothing was sent for a keep alive period
// [MQTT-3.1.2-23] and closes the connection when the PINGRESP does not
// come within the next one.
func (cn *conn) pinger() {
	period := cn.keepAlive
	t := time.NewTimer(period)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-t.C:
		}
		if cn.pingPending.Load() {
			cn.close(ErrKeepAliveTimeout)
			return
		}
		idle := time.Since(time.Unix(0, cn.lastWrite.Load()))
		if idle < period {
			t.Reset(period - idle)
			continue
		}
		cn.pingPending.Store(true)
		if err := cn.write(&packet.Pingreq{}); err != nil {
			return
		}
		t.Reset(period)
	}
}

// violation is a server breaking the protocol: the client sends
// DISCONNECT with code (MQTT 5) and closes [MQTT-4.13.1-1].
type violation struct {
	code ReasonCode
	msg  string
}

func (v *violation) Error() string        { return "client: protocol error: " + v.msg }
func (v *violation) Is(target error) bool { return target == ErrProtocol }

func violated(code ReasonCode, format string, args ...any) error {
	return &violation{code: code, msg: fmt.Sprintf(format, args...)}
}

// readLoop reads and handles packets until the connection fails.
func (cn *conn) readLoop() {
	r := bufio.NewReaderSize(cn.nc, 4096)
	limit := cn.c.opts.maxIncoming()
	for {
		p, err := packet.ReadPacket(r, cn.version, limit)
		if err != nil {
			if pe, ok := errors.AsType[*packet.Error](err); ok {
				err = &violation{code: pe.Reason, msg: pe.Msg}
			}
		} else {
			err = cn.handle(p)
		}
		if err != nil {
			cn.fail(err)
			return
		}
	}
}

// fail closes the connection for err, telling an MQTT 5 server why when
// the fault is its own.
func (cn *conn) fail(err error) {
	if v, ok := err.(*violation); ok {
		if cn.c.opts.Bridge {
			// A bridge aborts the connection, as Mosquitto's do.
			abort(cn.nc)
		} else if cn.version == MQTT5 {
			cn.write(&packet.Disconnect{ReasonCode: v.code})
		}
	}
	select {
	case <-cn.done:
		return // closed by us; the first cause stands
	default:
	}
	if _, ok := err.(*violation); !ok {
		if _, ok := err.(*DisconnectError); !ok {
			err = fmt.Errorf("%w: %w", ErrConnectionLost, err)
		}
	}
	cn.close(err)
}

// handle dispatches one packet from the server.
func (cn *conn) handle(p packet.Packet) error {
	c := cn.c
	switch p := p.(type) {
	case *packet.Publish:
		return cn.handlePublish(p)
	case *packet.Ack:
		switch p.Kind {
		case packet.PUBREL:
			return cn.handlePubrel(p)
		default:
			return c.handleAck(cn, p)
		}
	case *packet.Suback:
		if c.opts.OnSuback != nil {
			c.inbox.push(delivery{suback: &Suback{ReasonCodes: p.ReasonCodes, Properties: p.Properties}}, cn.done, c.mayBlockReader)
		}
		c.handleResponse(p.PacketID, p)
	case *packet.Unsuback:
		c.handleResponse(p.PacketID, p)
	case *packet.Pingresp:
		cn.pingPending.Store(false)
	case *packet.Pingreq:
		if !c.opts.Bridge {
			return violated(ProtocolError, "unexpected PINGREQ from the server")
		}
		// A bridge is a client the remote broker may ping, as
		// Mosquitto's bridges answer.
		return cn.write(&packet.Pingresp{})
	case *packet.Disconnect:
		return &DisconnectError{ReasonCode: p.ReasonCode, Properties: p.Properties}
	case *packet.Auth:
		return violated(ProtocolError, "AUTH without enhanced authentication")
	default:
		// CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, a second CONNACK.
		return violated(ProtocolError, "unexpected %s from the server", p.Type())
	}
	return nil
}

// abort makes closing nc reset the TCP connection instead of ending it
// in order. A Dialer's own connection type takes part with a SetLinger
// method, as *net.TCPConn's.
func abort(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if l, ok := nc.(interface{ SetLinger(sec int) error }); ok {
		_ = l.SetLinger(0)
	}
}
