package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// conn is one network connection. Its goroutine runs serve, which reads
// and handles packets one at a time; writes go through the writer.
//
// Its fields are ordered so that the small ones share words: every idle
// connection holds one, so its size class (320 bytes) is part of what an
// idle connection costs. TestStateSizes keeps it there.
type conn struct {
	srv *Server
	nc  net.Conn
	l   *Listener
	w   *writer

	// Set once by the CONNECT handler, then read-only.
	// barrier, if set, runs before the CONNECT (Options.ConnectBarrier).
	barrier   func()
	sess      *session
	clientID  string
	keepAlive time.Duration
	info      *ClientInfo

	// Guarded by sess.mu: outgoing topic aliases of this connection.
	aliasOut map[string]uint16

	// Reader-only state.
	// inboundRepeats counts QoS 2 PUBLISH packets sent again on this
	// connection while their packet id awaits PUBREL.
	inboundRepeats map[uint16]uint8
	aliasIn        map[uint16]string
	lastTopic      string     // topic name of the previous PUBLISH, reused when it repeats
	ahead          *aheadList // messages forwarded and not yet routed here (ahead.go)

	// will is the will message of this connection; whoever swaps it out
	// (a normal DISCONNECT, a takeover, the close path) decides its fate.
	will atomic.Pointer[willMsg]
	// heldWill numbers the will a WillKeeper holds for this connection
	// (0: none); set in attach, read in detach, both on the reader.
	heldWill uint64
	// authInfo is info once the client is accepted, for Reauthenticate.
	authInfo atomic.Pointer[ClientInfo]
	// expiry disconnects the client when its credentials expire
	// (ClientInfo.Expires); nil when they do not.
	expiry *time.Timer
	// active, if set, counts the listener's open connections.
	active *atomic.Int64

	// Parking (park_linux.go): raw is set if the socket can be parked.
	raw          syscall.RawConn
	parked       atomic.Uint64 // 0: a reader owns c; odd: parked
	parkDeadline atomic.Int64  // keep alive deadline while parked (monotime), 0: none
	registerMu   sync.Mutex
	waitStart    atomic.Int64 // monotime when the current reader began waiting
	waitSince    atomic.Int64 // monotime when the last burst ended
	readDeadline int64        // reader-only: the deadline set after the last burst (monotime, 0: none)

	// Order across connections (order.go): ticket is the sequence number
	// of c's ticket of the order gate (0: none); settling is set while a
	// new connection waits for c to handle what it received before a
	// takeover; burstSeq (reader-only) is the gate's ticket count when the
	// burst began.
	ticket   atomic.Uint64
	settling atomic.Pointer[chan struct{}]
	burstSeq uint64

	closeOnce sync.Once
	// connectExpiry is the session expiry asked for in CONNECT.
	connectExpiry uint32

	// Receive limits the client announced (v5), set by the CONNECT
	// handler: window is the outgoing QoS 1/2 in flight allowed.
	window       int32
	maxPacketOut uint32 // 0: no limit

	// kickReason, when set, is the DISCONNECT reason sent when the
	// connection is closed by the broker (takeover, shutdown).
	kickReason atomic.Uint32
	flags      connFlags

	fd        int32
	waitState atomic.Int32 // readerBusy, readerWaiting, readerNudged

	aliasMaxOut uint16 // topic aliases we may use toward the client (v5)
	// first holds the first byte of the next packet: the reader blocks on
	// a one-byte read into it, so an idle connection holds no read buffer.
	first [1]byte
	// connected and version are set once by the CONNECT handler.
	connected bool
	version   byte
	// bridge: a 3.x CONNECT with the bridge bit (0x80) in its protocol
	// level, as Mosquitto's try_private sends. Its subscriptions are
	// no local and retain as published, as in Mosquitto.
	bridge bool
	// released: the session has let go of the connection (letGo);
	// used by the reader only.
	released          bool
	inType            packet.Type // reader-only: type of the packet being handled
	knownProtocolName bool        // reader-only: CONNECT named MQTT or MQIsdp
}

// connFlags are a conn's yes-or-no states that goroutines other than its
// reader read, in one word.
type connFlags struct{ v atomic.Uint32 }

const (
	// flagV5 mirrors version == V5 for goroutines other than the reader
	// (takeover, shutdown), which may run while CONNECT is handled.
	flagV5 uint32 = 1 << iota
	// flagNoPark: the parker could not watch the socket.
	flagNoPark
	// flagPacing is set while the reader waits for a congested
	// subscriber (pacing.go); other readers check it before waiting for
	// this one.
	flagPacing
	// flagHandling is set while the reader handles a burst.
	flagHandling
	// flagAnswering is set while the connection's answerer goroutine
	// answers messages the reader handed it (ahead.go); flagAwaiting
	// while the reader waits for the answerer, and cannot handle its
	// client's acknowledgements either (pacing.go: blocked).
	flagAnswering
	flagAwaiting
	// flagAnswerHere is set while the reader handles a burst whose
	// read-ahead it must answer itself, not hand to an answerer: the
	// connection will be parked after it, or cannot be parked (its
	// reader would not come back to give the read-ahead list up).
	flagAnswerHere
	// flagBare: parked without a net.Conn (bare_linux.go); flagBareHot:
	// came back from bare soon after going bare, and stays as it is
	// until quiet; flagSockClosed: the socket was closed. All three
	// change under the writer's lock.
	flagBare
	flagBareHot
	flagSockClosed
)

// blocked are the flags of a connection whose reader cannot handle its
// client's acknowledgements now: nobody should wait for it.
const blocked = flagPacing | flagAwaiting

func (f *connFlags) set(flag uint32, on bool) {
	if on {
		f.v.Or(flag)
	} else {
		f.v.And(^flag)
	}
}

func (f *connFlags) has(flag uint32) bool { return f.v.Load()&flag != 0 }

type willMsg struct {
	msg   *message
	delay uint32
}

func newConn(s *Server, nc net.Conn, l *Listener) *conn {
	c := &conn{srv: s, nc: nc, l: l}
	if s.opts.ConnectBarrier != nil {
		c.barrier = s.opts.ConnectBarrier()
	}
	c.w = newWriter(nc, &s.lists)
	c.w.events = c
	if s.opts.SetTCPNoDelay {
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
	} else if tc, ok := nc.(*net.TCPConn); ok {
		// set_tcp_nodelay false: Nagle on, as Mosquitto's default.
		_ = tc.SetNoDelay(false)
	}
	if s.parker != nil {
		s.parker.canPark(c)
	}
	return c
}

// remote is the client's address, for the log and introspection: made
// when asked for, so that an idle connection does not hold it. A bare
// connection (bare_linux.go) has the address its client was accepted
// from.
func (c *conn) remote() string {
	c.w.mu.Lock()
	nc := c.nc
	c.w.mu.Unlock()
	if nc != nil {
		if a := nc.RemoteAddr(); a != nil {
			return a.String()
		}
	}
	if info := c.authInfo.Load(); info != nil && info.RemoteAddr != nil {
		return info.RemoteAddr.String()
	}
	return "unknown"
}

// ownAddr returns a TCP address as a copy of its own. The socket's
// address shares memory with the socket address it was decoded from;
// kept in ClientInfo for the connection's life, it would keep both (112
// bytes) after a bare connection (bare_linux.go) let its socket go.
func ownAddr(a net.Addr) net.Addr {
	if t, ok := a.(*net.TCPAddr); ok && t != nil {
		return net.TCPAddrFromAddrPort(t.AddrPort())
	}
	return a
}

// wrote counts bytes the writer sent, for $SYS.
func (c *conn) wrote(n int) { c.srv.stats.bytesSent.Add(int64(n)) }

// writeFailed closes the socket when a write fails: the reader (woken if
// parked) then ends the connection.
func (c *conn) writeFailed(error) {
	c.closeSocket()
	c.wake()
}

// closeSocket closes c's socket; any goroutine may call it.
func (c *conn) closeSocket() {
	c.w.mu.Lock()
	c.closeSocketLocked()
	c.w.mu.Unlock()
}

// errClosedByBroker marks connections we closed on purpose.
var errClosedByBroker = errors.New("closed by broker")

// serve runs on the connection's first goroutine: it logs the new
// connection and waits for CONNECT.
func (c *conn) serve() {
	s := c.srv
	if s.opts.ConnectionMessages {
		s.log.Notice(fmt.Sprintf("New connection from %s on port %d.", c.remote(), c.l.Port))
	}
	c.readDeadline = monotime() + int64(s.opts.ConnectTimeout)
	_ = c.nc.SetReadDeadline(monoDeadline(c.readDeadline))
	c.awaitBytes()
}

// awaitBytes blocks until the first byte of the next packet arrives, then
// handles everything that arrives in the same burst.
//
// Handling packets (logging, routing, CONNECT) grows a goroutine's stack to
// several KB, and the runtime never shrinks a stack below four times what
// the blocked reader uses, so a goroutine that handled a packet and then
// waits for the next would keep 4 KB or more of stack per idle connection.
// Instead each burst ends by handing the wait to someone else: on Linux a
// connection that has been quiet is parked (park_linux.go) and has no
// goroutine until bytes arrive; one that cannot park gets a fresh goroutine
// whose stack starts small, and the busy goroutine exits and its stack goes
// back to the runtime. A busy connection that can park keeps its goroutine
// and stack from burst to burst: growing a fresh stack for every packet
// costs a sixth of the broker's CPU when packets come one at a time, and
// the parker nudges the goroutine into parking (and exiting) as soon as the
// connection falls quiet.
func (c *conn) awaitBytes() {
	for c.awaitBurst() {
	}
}

// awaitBurst waits for and handles one burst. It reports whether the
// calling goroutine should wait for the next one itself; otherwise the
// connection ended, was parked or has a new reader.
func (c *conn) awaitBurst() bool {
	if c.raw != nil {
		c.waitStart.Store(monotime())
		c.waitState.Store(readerWaiting)
	}
	_, err := io.ReadFull(c.nc, c.first[:])
	if c.raw != nil {
		if c.waitState.Swap(readerBusy) == readerNudged && c.unnudge(err) {
			return false // parked
		}
	}
	if err != nil {
		c.end(err)
		return false
	}
	if k := ticketFor(c.first[0]); k != 0 {
		c.srv.gate.enter(c, k) // unless the parker did when it woke c
	}
	// A connection whose bytes came after a quiet spell (or its first
	// burst, CONNECT) is likely to be quiet again: it is parked after
	// the burst, and answers what it read before (ahead.go). A busy one
	// keeps this goroutine, which is cheaper per packet, and its answerer
	// answers while it reads on; the parker nudges it into parking if it
	// falls quiet (parkIdleAfter). One that cannot park answers what it
	// read itself.
	parkable := c.raw != nil && !c.flags.has(flagNoPark)
	quiet := parkable && monotime()-c.waitSince.Load() > int64(parkHotGap)
	c.flags.set(flagAnswerHere, quiet || !parkable)
	c.flags.set(flagHandling, true)
	deadline, err := c.readBurst()
	c.flags.set(flagHandling, false)
	if err != nil {
		c.end(err)
		return false
	}
	if c.settling.Load() != nil {
		// A takeover waits for what was handled, answers included.
		if err := c.answered(); err != nil {
			c.end(err)
			return false
		}
	}
	c.settled()
	s := c.srv
	if parkable {
		c.waitSince.Store(monotime())
		c.readDeadline = deadline
		if !quiet {
			return true
		}
		if err := c.answered(); err != nil { // a parked connection has no answerer
			c.end(err)
			return false
		}
		s.wg.Add(1) // before this goroutine's own Done, so Close's Wait cannot pass
		s.parker.park(c, deadline)
		return false
	}
	c.readDeadline = deadline
	s.wg.Add(1) // before this goroutine's own Done, so Close's Wait cannot pass
	go c.awaitNext()
	return false
}

// A connection whose next packet comes within parkHotGap of the last is
// busy and keeps a goroutine waiting for it; one quiet for parkIdleAfter
// is parked anyway.
const (
	parkHotGap    = 50 * time.Millisecond
	parkIdleAfter = 2 * time.Second
)

// Reader wait states, for the parker's nudge (park_linux.go).
const (
	readerBusy    = iota // handling a burst
	readerWaiting        // blocked reading the first byte of the next packet
	readerNudged         // the parker cut that wait short to park the connection
)

// unnudge runs when the parker nudged the wait for the first byte (it set
// the read deadline to now). It restores the keep alive deadline and, if
// the wait ended because of the nudge, parks c (or, if its answerer
// failed, ends it) and reports true.
func (c *conn) unnudge(err error) bool {
	// The nudger holds registerMu while it sets the deadline: once we hold
	// it, the nudge's deadline is in place and ours replaces it.
	c.registerMu.Lock()
	_ = c.nc.SetReadDeadline(monoDeadline(c.readDeadline))
	c.registerMu.Unlock()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false // bytes (or a real error) arrived first
	}
	if e := c.answered(); e != nil { // a parked connection has no answerer
		c.end(e)
		return true
	}
	c.srv.wg.Add(1)
	c.srv.parker.park(c, c.readDeadline)
	return true
}

var monoStart = time.Now()

// monotime is a cheap monotonic clock in nanoseconds.
func monotime() int64 { return int64(time.Since(monoStart)) }

// monoDeadline is the deadline for a monotime (0: none).
func monoDeadline(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return monoStart.Add(time.Duration(t))
}

// wake starts a reader for c if c is parked; close calls it so that a
// parked connection learns that its socket was closed.
func (c *conn) wake() {
	for {
		v := c.parked.Load()
		if v&1 == 0 {
			return
		}
		if c.parked.CompareAndSwap(v, 0) {
			go c.awaitNext()
			return
		}
	}
}

func (c *conn) awaitNext() {
	defer c.srv.wg.Done()
	// A parked connection may be bare: it needs its net.Conn back.
	c.w.mu.Lock()
	err := c.restoreLocked()
	c.w.mu.Unlock()
	if err != nil {
		c.end(err)
		return
	}
	c.awaitBytes()
}

// end runs once when the connection's reading stops for good.
func (c *conn) end(err error) {
	if e := c.answered(); e != nil {
		err = e // why the answerer closed the connection
	}
	c.srv.gate.leave(c)
	if p := c.settling.Swap(nil); p != nil {
		close(*p) // nothing more will be handled: the takeover may go on
	}
	c.finish(err)
	if c.srv.parker != nil {
		c.srv.parker.forget(c)
	}
	if c.active != nil {
		c.active.Add(-1)
	}
}

// readBurst handles the packet whose first byte is in c.first and every
// packet already buffered behind it. It borrows a pooled bufio.Reader only
// for the burst, so an idle connection holds no read buffer. It returns
// the read deadline it set for the next packet (monotime, 0: none).
func (c *conn) readBurst() (int64, error) {
	s := c.srv
	s.waitIfPaused()
	c.burstSeq = s.gate.seq.Load()
	br := s.getReader(c.nc)
	err := c.readBuffered(br)
	s.putReader(br)
	if err != nil {
		return 0, err
	}
	c.w.waitBelowHighWater()
	var deadline int64
	if c.keepAlive > 0 {
		// [MQTT-3.1.2-24] one and a half times the keep alive.
		deadline = monotime() + int64(c.keepAlive*3/2)
		_ = c.nc.SetReadDeadline(monoDeadline(deadline))
	} else if c.connected {
		_ = c.nc.SetReadDeadline(time.Time{})
	} else {
		deadline = c.readDeadline // the connect timeout from serve, still in force
	}
	return deadline, nil
}

// readBuffered handles packets from br until its buffer is empty, and
// then settles what it read ahead (see ahead.go).
func (c *conn) readBuffered(br *bufio.Reader) (err error) {
	defer func() {
		// At the end of a busy connection's burst, messages that only
		// wait for the store go to the answerer (ahead.go).
		if e := c.settleRead(err == nil && !c.flags.has(flagAnswerHere)); err == nil {
			err = e
		}
	}()
	first := c.first[0]
	for {
		err := c.readPacket(first, br)
		if c.ticket.Load() != 0 {
			c.srv.gate.leave(c) // its first packet is done
		}
		if err != nil {
			return err
		}
		if br.Buffered() == 0 {
			return nil
		}
		if first, err = br.ReadByte(); err != nil {
			return err
		}
	}
}

// maxBodyChunk is how much body is allocated ahead of the bytes that have
// actually arrived, so a header announcing 256 MB cannot make us allocate
// 256 MB before the peer sends it.
const maxBodyChunk = 64 << 10

// readPacket reads the rest of one packet whose first byte is known.
func (c *conn) readPacket(first byte, br *bufio.Reader) error {
	s := c.srv
	remaining, n, err := readRemainingLength(br)
	if err != nil {
		return err
	}
	total := 1 + n + remaining
	t := packet.Type(first >> 4)
	c.inType = t
	if limit := s.opts.MaxPacketSize; limit > 0 && total > limit {
		return &packet.Error{Reason: packet.PacketTooLarge, Msg: fmt.Sprintf("packet of %d bytes exceeds max_packet_size %d", total, limit)}
	}
	if !c.connected && t != packet.CONNECT {
		// [MQTT-3.1.0-1] the first packet must be CONNECT.
		return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("%s before CONNECT", t)}
	}
	switch t {
	case 0:
		// Refused before its body is read: nothing it says can matter.
		return &packet.Error{Reason: packet.ProtocolError, Msg: "reserved packet type 0"}
	case packet.CONNACK, packet.SUBACK, packet.UNSUBACK, packet.PINGRESP:
		// Only a server sends these (sections 3.2, 3.9, 3.11, 3.13).
		return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("%s from a client", t)}
	}
	if c.ahead != nil && settlesAhead(t) {
		if err := c.settleAhead(); err != nil {
			return err
		}
	}
	if t >= packet.PUBACK && t <= packet.PUBCOMP && remaining <= maxInPlaceAck {
		return c.readAck(first, br, remaining, total)
	}
	var body, wire []byte
	if t == packet.PUBLISH && first&0x06 == 0 && remaining <= maxBodyChunk {
		// A QoS 0 PUBLISH is read behind room for its fixed header, so
		// that the packet as received can go to subscribers as it is
		// (message.wire).
		wire = make([]byte, 1+n+remaining)
		body = wire[1+n:]
		if _, err := io.ReadFull(br, body); err != nil {
			return noEOF(err)
		}
	} else if body, err = readBody(br, remaining); err != nil {
		return err
	}
	s.stats.bytesRecv.Add(int64(total))
	s.stats.msgsRecv.Add(1)
	version := c.version
	if t == packet.PUBLISH {
		// Decoded into a Publish on the stack, with the topic string of
		// the previous PUBLISH when it repeats: what remains per message
		// is the body, which the message keeps as its payload.
		var p packet.Publish
		if err := packet.DecodePublish(version, first, body, &p, c.lastTopic); err != nil {
			return err
		}
		if p.Topic != "" {
			c.lastTopic = p.Topic
		}
		if wire != nil {
			wire = receivedWire(wire, n, remaining, &p, version)
		}
		return c.handlePublish(&p, wire)
	}
	if t == packet.CONNECT && !c.connected {
		c.knownProtocolName = knownProtocolName(body)
	}
	pk, err := packet.Decode(version, first, body)
	if err != nil {
		return err
	}
	return c.handle(pk)
}

// knownProtocolName reports whether a CONNECT body starts with the
// protocol name of MQTT 3.1.1 and 5.0 ("MQTT") or of 3.1 ("MQIsdp").
func knownProtocolName(body []byte) bool {
	return len(body) >= 6 && body[0] == 0 && body[1] == 4 && string(body[2:6]) == "MQTT" ||
		len(body) >= 8 && body[0] == 0 && body[1] == 6 && string(body[2:8]) == "MQIsdp"
}

// maxInPlaceAck is the longest ack body readAck handles: packet id,
// reason code and an empty property list.
const maxInPlaceAck = 4

// readAck reads and handles an ack without properties (all of them in
// 3.x, nearly all in 5.0) in place: decoded from the read buffer into an
// Ack on the stack. Acks come as often as QoS 1 and 2 messages, and
// allocating a body and an Ack for each was a fifth of the allocations of
// QoS 1 traffic.
func (c *conn) readAck(first byte, br *bufio.Reader, remaining, total int) error {
	body, err := br.Peek(remaining)
	if err != nil {
		return noEOF(err)
	}
	c.srv.stats.bytesRecv.Add(int64(total))
	c.srv.stats.msgsRecv.Add(1)
	var a packet.Ack
	err = packet.DecodeAck(c.version, first, body, &a)
	_, _ = br.Discard(remaining)
	if err != nil {
		return err
	}
	return c.handleAck(&a)
}

func readRemainingLength(br *bufio.Reader) (value, n int, err error) {
	mult := 1
	for n < 4 {
		b, err := br.ReadByte()
		if err != nil {
			return 0, n, err
		}
		n++
		value += int(b&0x7f) * mult
		if b&0x80 == 0 {
			if n > 1 && b == 0 {
				// [MQTT-1.5.5-1] the encoding must use the fewest bytes.
				return 0, n, &packet.Error{Reason: packet.MalformedPacket, Msg: "remaining length not minimally encoded"}
			}
			return value, n, nil
		}
		mult *= 128
	}
	return 0, n, &packet.Error{Reason: packet.MalformedPacket, Msg: "remaining length longer than four bytes"}
}

func readBody(br *bufio.Reader, n int) ([]byte, error) {
	if n <= maxBodyChunk {
		body := make([]byte, n)
		_, err := io.ReadFull(br, body)
		return body, noEOF(err)
	}
	body := make([]byte, 0, maxBodyChunk)
	for len(body) < n {
		want := min(n-len(body), max(cap(body)-len(body), maxBodyChunk))
		if cap(body)-len(body) < want {
			body = append(body[:cap(body)], make([]byte, want)...)[:len(body)]
		}
		m, err := io.ReadFull(br, body[len(body):len(body)+want])
		body = body[:len(body)+m]
		if err != nil {
			return nil, noEOF(err)
		}
	}
	return body, nil
}

// noEOF turns a clean EOF in the middle of a packet into an unexpected one.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// getReader and putReader lend read buffers to connections with bytes to read.
func (s *Server) getReader(r io.Reader) *bufio.Reader {
	if br, ok := s.readers.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, 4096)
}

func (s *Server) putReader(br *bufio.Reader) {
	br.Reset(nil)
	s.readers.Put(br)
}

// sendAck encodes and queues a PUBACK, PUBREC, PUBREL or PUBCOMP.
func (c *conn) sendAck(kind packet.Type, id uint16, reason packet.ReasonCode) {
	c.ack(kind, id, reason, false)
}

// holdAck is sendAck for the acknowledgement of a message being routed:
// it stays queued, with whatever is queued after it, until c.w.letGo
// (see writer.holdWire).
func (c *conn) holdAck(kind packet.Type, id uint16, reason packet.ReasonCode) {
	c.ack(kind, id, reason, true)
}

func (c *conn) ack(kind packet.Type, id uint16, reason packet.ReasonCode, hold bool) {
	a := packet.Ack{Kind: kind, PacketID: id, ReasonCode: reason}
	wb := getWireBuf(maxAckSize)
	var err error
	if wb.b, err = packet.AppendAck(wb.b, &a, c.version); err != nil {
		wb.release()
		c.srv.log.Error("encoding failed", "client", c.clientID, "packet", kind.String(), "error", err)
		return
	}
	write := c.w.writeWire
	if hold {
		write = c.w.holdWire
	}
	if write(wb) {
		c.srv.stats.msgsSent.Add(1)
	}
	if c.srv.log.debugEnabled() {
		if kind == packet.PUBACK || kind == packet.PUBREC {
			c.srv.log.Debug(fmt.Sprintf("Sending %s to %s (m%d, rc%d)", kind, c.clientID, id, reason))
		} else {
			c.srv.log.Debug(fmt.Sprintf("Sending %s to %s (m%d)", kind, c.clientID, id))
		}
	}
}

// maxAckSize is the longest ack sendAck writes: fixed header, packet id
// and reason code.
const maxAckSize = 5

// send encodes and queues a control packet.
func (c *conn) send(p packet.Packet) {
	b, err := packet.Append(nil, p, c.version)
	if err != nil {
		c.srv.log.Error("encoding failed", "client", c.clientID, "packet", p.Type().String(), "error", err)
		return
	}
	if c.w.write(b) {
		c.srv.stats.msgsSent.Add(1)
	}
	if c.srv.log.debugEnabled() {
		c.logSent(p)
	}
}

// logSent writes Mosquitto's debug line for a control packet sent.
func (c *conn) logSent(p packet.Packet) {
	var line string
	switch p := p.(type) {
	case *packet.Connack:
		to := c.clientID
		if to == "" {
			to = c.remote()
		}
		line = fmt.Sprintf("Sending CONNACK to %s (%d, %d)", to, b2i(p.SessionPresent), p.ReasonCode)
	case *packet.Disconnect:
		line = fmt.Sprintf("Sending DISCONNECT to %s (rc%d)", c.clientID, p.ReasonCode)
	default:
		line = fmt.Sprintf("Sending %s to %s", p.Type(), c.clientID)
	}
	c.srv.log.Debug(line)
}

// disconnect sends a v5 DISCONNECT with reason (nothing for 3.x) and
// closes the connection after a short drain.
func (c *conn) disconnect(reason packet.ReasonCode) {
	if c.version == packet.V5 && c.connected {
		c.send(&packet.Disconnect{ReasonCode: reason})
	}
	c.close(true)
}

// close ends the connection: the writer is optionally drained, then the
// socket is closed, which ends the reader.
func (c *conn) close(drain bool) {
	c.closeOnce.Do(func() {
		c.stopCredentialExpiry()
		c.w.close(drain, 2*time.Second)
		c.closeSocket()
	})
	c.wake()
}

// kick closes the connection from another goroutine with a v5 reason.
// It may block for the drain timeout: callers run it on its own goroutine.
func (c *conn) kick(reason packet.ReasonCode) {
	c.kickReason.Store(uint32(reason) | 0x100)
	if c.flags.has(flagV5) {
		b, err := packet.Append(nil, &packet.Disconnect{ReasonCode: reason}, packet.V5)
		if err == nil && c.w.write(b) {
			c.srv.stats.msgsSent.Add(1)
		}
	}
	c.close(true)
}

// finish runs when the reader ends: it logs why, reports protocol errors
// to v5 clients, and detaches the session.
func (c *conn) finish(err error) {
	s := c.srv
	defer s.untrack(c)

	var perr *packet.Error
	switch {
	case c.kickReason.Load() != 0:
		// closed on purpose by the broker; already logged there
	case errors.As(err, &perr):
		c.logBadPacket(perr)
		if perr.Reason == packet.UnsupportedProtocolVersion && !c.connected && c.knownProtocolName {
			// [MQTT-3.1.2-2] refuse an unknown protocol level with return
			// code 1, in the 3.x form whatever the level asked for, as
			// Mosquitto does. An unknown protocol name gets no answer.
			c.w.write([]byte{byte(packet.CONNACK) << 4, 2, 0, byte(packet.V3UnacceptableProtocolVersion)})
			s.stats.refused[packet.UnsupportedProtocolVersion].Add(1)
		}
		if answersWithDisconnect(c.inType, perr.Reason) {
			c.disconnect(perr.Reason)
		} else {
			c.close(true)
		}
	case errors.Is(err, errClosedByBroker), errors.Is(err, net.ErrClosed):
	case errors.Is(err, os.ErrDeadlineExceeded):
		if c.connected {
			s.log.Notice(fmt.Sprintf("Client %s has exceeded timeout, disconnecting.", c.clientID))
			c.disconnect(packet.KeepAliveTimeout)
		} else {
			s.log.Notice(fmt.Sprintf("Client %s sent no CONNECT in time, disconnecting.", c.remote()))
		}
	case err == io.EOF && c.connected:
		s.log.Notice(fmt.Sprintf("Client %s closed its connection.", c.clientID))
	case err != nil && c.connected:
		s.log.Info(fmt.Sprintf("Client %s disconnected: %v.", c.clientID, err))
	}
	c.letGo()
	c.close(false)
}

// letGo detaches the session from the connection, once, before its
// socket closes: what is routed to the client from then on is queued for
// its next connection instead of being written to one that is ending, to
// be sent again later as a duplicate.
func (c *conn) letGo() {
	if c.connected && !c.released {
		c.released = true
		c.srv.stats.connected.Add(-1)
		c.srv.detach(c)
	}
}

// answersWithDisconnect reports whether a v5 client that sent a packet of
// type t which broke a rule gets a DISCONNECT with the reason before the
// connection closes. The specification leaves it open (section 4.13.1);
// Mosquitto sends one for a bad PUBLISH, SUBSCRIBE, UNSUBSCRIBE,
// DISCONNECT or AUTH, a packet of the reserved type 0 and a packet over
// max_packet_size, and closes silently after any other: a second CONNECT,
// an acknowledgement that does not fit its flow, a packet only servers
// send.
func answersWithDisconnect(t packet.Type, reason packet.ReasonCode) bool {
	switch {
	case reason == packet.PacketTooLarge:
		return true
	case t == 0, t == packet.PUBLISH, t == packet.SUBSCRIBE, t == packet.UNSUBSCRIBE,
		t == packet.DISCONNECT, t == packet.AUTH:
		return true
	}
	return false
}

// logBadPacket logs why a client is being disconnected for a packet that
// broke a rule: the detail, then Mosquitto's line for the class of error.
func (c *conn) logBadPacket(perr *packet.Error) {
	s := c.srv
	if !s.opts.ConnectionMessages {
		return
	}
	id := c.displayID()
	s.log.Info(fmt.Sprintf("Bad %s from %s: %s.", c.inType, id, clip(perr.Msg)))
	var why string
	switch perr.Reason {
	case packet.MalformedPacket:
		why = "due to malformed packet"
	case packet.PacketTooLarge:
		why = "due to oversize packet"
	case packet.QoSNotSupported, packet.RetainNotSupported:
		why = "due to QoS too high or retain not supported"
	case packet.UnspecifiedError, packet.QuotaExceeded:
		why = "due to an internal error"
	default:
		why = "due to protocol error"
	}
	s.log.Notice(fmt.Sprintf("Client %s disconnected %s.", id, why))
}

func (c *conn) displayID() string {
	if c.clientID != "" {
		return c.clientID
	}
	return "<unknown>"
}

// handle dispatches one decoded packet.
func (c *conn) handle(pk packet.Packet) error {
	switch p := pk.(type) {
	case *packet.Connect:
		if c.connected {
			// [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
			return &packet.Error{Reason: packet.ProtocolError, Msg: "second CONNECT"}
		}
		return c.handleConnect(p)
	case *packet.Publish:
		return c.handlePublish(p, nil)
	case *packet.Ack:
		return c.handleAck(p)
	case *packet.Subscribe:
		return c.handleSubscribe(p)
	case *packet.Unsubscribe:
		return c.handleUnsubscribe(p)
	case *packet.Pingreq:
		if c.srv.log.debugEnabled() {
			c.srv.log.Debug("Received PINGREQ from " + c.clientID)
		}
		c.send(&packet.Pingresp{})
		return nil
	case *packet.Disconnect:
		return c.handleDisconnect(p)
	case *packet.Auth:
		return c.handleAuth(p)
	default:
		return &packet.Error{Reason: packet.ProtocolError, Msg: fmt.Sprintf("unexpected %s from client", pk.Type())}
	}
}

// handleDisconnect ends the connection normally: no will, unless a v5
// client asks for it with reason 0x04.
func (c *conn) handleDisconnect(p *packet.Disconnect) error {
	if c.srv.log.debugEnabled() {
		c.srv.log.Debug("Received DISCONNECT from " + c.clientID)
	}
	if c.version == packet.V5 && p.Properties.Has(packet.PropSessionExpiry) {
		// [MQTT-3.14.2-2] a session that was to end cannot be made to last.
		if c.connectExpiry == 0 && p.Properties.SessionExpiry != 0 {
			return &packet.Error{Reason: packet.ProtocolError, Msg: "session expiry set in DISCONNECT after 0 in CONNECT"}
		}
		c.sess.mu.Lock()
		c.sess.expiry = p.Properties.SessionExpiry
		c.sess.mu.Unlock()
	}
	if p.ReasonCode != packet.DisconnectWithWill {
		c.will.Store(nil) // [MQTT-3.14.4-3]
	}
	// Closing on the client's request, with no DISCONNECT back. As in
	// Mosquitto, nothing is routed to the connection once its DISCONNECT
	// has been read.
	c.kickReason.Store(0x100)
	c.letGo()
	if c.srv.opts.ConnectionMessages {
		c.srv.log.Info(fmt.Sprintf("Client %s disconnected.", c.clientID))
	}
	return errClosedByBroker
}
