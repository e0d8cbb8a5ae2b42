package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// FuzzConnection fuzzes the connection state machine over real TCP: one
// broker serves the whole run, and each input is one connection that
// optionally starts with a valid CONNECT, sends the fuzzed bytes and ends
// its side. The broker must end the connection, send only packets that
// decode, never fail to encode a packet it meant to send, and afterwards
// still serve a bystander client that has been connected all along. The
// client count, the session count and the number of goroutines must come
// back to where they were, so that no input leaves a connection or a
// goroutine behind.
//
// mode picks how the connection is driven (see the fuzzMode constants);
// the fuzzer mutates it along with the bytes.
func FuzzConnection(f *testing.F) {
	for _, s := range connectionSeeds(f) {
		f.Add(s.mode, s.data)
	}
	encodeFailures := &errorLog{}
	opts := testOptions()
	opts.Logger = slog.New(encodeFailures)
	b := startBroker(f, opts, nil)
	by := newBystander(f, b.addr)
	baseGoroutines := quietGoroutines()

	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		sessions := b.SessionCount()
		fuzzConnection(t, b.addr, mode, data)
		if msg := encodeFailures.take(); msg != "" {
			t.Fatalf("the broker failed to encode a packet: %s", msg)
		}
		by.check(t)
		// Connection goroutines are gone once the connection is: allow
		// for the bystander's reader (parked or not) and for the
		// goroutines the fuzzing machinery runs each input on.
		settle(t, "the broker to drop the connection", func() string {
			switch {
			case b.ClientCount() != 1:
				return fmt.Sprintf("%d clients connected, want 1 (the bystander)", b.ClientCount())
			case mode&fuzzPrefix != 0 && b.SessionCount() > sessions:
				// With a clean start of its own, the connection's session
				// ends with it; without, the bytes may have made one that
				// outlives it, as persistent sessions do.
				return fmt.Sprintf("%d sessions, %d before", b.SessionCount(), sessions)
			case runtime.NumGoroutine() > baseGoroutines+goroutineSlack:
				return fmt.Sprintf("%d goroutines, %d before the first input",
					runtime.NumGoroutine(), baseGoroutines)
			}
			return ""
		}, goroutineDump)
	})
}

// How FuzzConnection drives its connection, from the mode byte.
const (
	fuzzPrefix   = 0x03 // CONNECT sent first: 0 none, 1 3.1.1, 2 5.0, 3 3.1
	fuzzClose    = 0x04 // close the socket after the data instead of half-closing it
	fuzzWaitAck  = 0x08 // with a CONNECT first: wait for its CONNACK before the data
	fuzzChunkBit = 4    // mode>>fuzzChunkBit > 0: write the data in chunks of that many bytes
)

// fuzzClientID is the client id of the CONNECT sent ahead of the data;
// bystanderID is one the fuzzer will not stumble on.
const (
	fuzzClientID = "fuzz"
	bystanderID  = "bystander-7f3a9c1e5b2d4086"
	// goroutineSlack is how many goroutines above the settled count an
	// input may leave running for a moment (the bystander's reader,
	// the test's own); a leak of one per connection soon exceeds it.
	goroutineSlack = 6
)

func prefixVersion(mode byte) byte {
	return [...]byte{0, packet.V311, packet.V5, packet.V31}[mode&fuzzPrefix]
}

// prefixConnect is the CONNECT sent ahead of the data for level v: clean
// start, a will, and in 5.0 the properties that open the topic alias and
// flow control paths.
func prefixConnect(v byte) *packet.Connect {
	c := &packet.Connect{
		ProtocolName: "MQTT", ProtocolVersion: v, ClientID: fuzzClientID,
		CleanStart: true, KeepAlive: 60,
		Will: &packet.Will{Topic: "fuzz/will", Payload: []byte("gone"), QoS: 1},
	}
	if v == packet.V31 {
		c.ProtocolName = "MQIsdp"
	}
	if v == packet.V5 {
		p := &c.Properties
		p.TopicAliasMaximum = 10
		p.Set(packet.PropTopicAliasMaximum)
		p.ReceiveMaximum = 5
		p.Set(packet.PropReceiveMaximum)
		p.RequestProblemInfo = 1
		p.Set(packet.PropRequestProblemInfo)
	}
	return c
}

// fuzzConnection runs one input's connection to its end.
//
// The broker drops what it has not yet written when the client's side
// ends, so ending our side right after the data would leave most replies
// unseen and unchecked. Where the data is a sequence of whole packets, a
// PINGREQ follows it, and our side ends only once every PINGREQ has been
// answered: by then the broker has handled the data and queued its
// replies ahead of the last PINGRESP.
func fuzzConnection(t *testing.T, addr string, mode byte, data []byte) {
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(waitTime))

	version := prefixVersion(mode)
	var out []byte
	if version != 0 {
		if out, err = packet.Append(nil, prefixConnect(version), version); err != nil {
			t.Fatal(err)
		}
	} else {
		version = connectVersion(data)
	}
	r := &replyReader{nc: nc, version: version, acked: make(chan struct{}), pinged: make(chan struct{})}
	pings, whole := countPings(data)
	if version != 0 && whole && mode&fuzzClose == 0 {
		r.wantPings = pings + 1
	}
	// Read concurrently, so that a broker answering a long input never
	// waits for us to stop writing.
	done := make(chan error, 1)
	go func() { done <- r.run() }()

	if mode&fuzzPrefix != 0 && mode&fuzzWaitAck != 0 {
		_, _ = nc.Write(out)
		out = nil
		select {
		case <-r.acked:
		case err := <-done:
			t.Fatalf("no CONNACK for a valid CONNECT: %v", err)
		}
	}
	out = append(out, data...)
	if r.wantPings > 0 {
		out = append(out, byte(packet.PINGREQ)<<4, 0)
	}
	chunk := int(mode >> fuzzChunkBit)
	if chunk == 0 {
		chunk = len(out)
	}
	for len(out) > 0 {
		n := min(chunk, len(out))
		if _, err := nc.Write(out[:n]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the broker stopped reading without closing the connection")
			}
			break // closed by the broker, which is its right
		}
		out = out[n:]
	}
	if mode&fuzzClose != 0 {
		nc.Close()
		<-done
		return
	}
	if r.wantPings > 0 {
		select {
		case <-r.pinged:
		case err := <-done: // the broker closed the connection first
			if err != nil {
				t.Fatalf("mode %#02x: %v", mode, err)
			}
			return
		}
	}
	_ = nc.(*net.TCPConn).CloseWrite()
	if err := <-done; err != nil {
		t.Fatalf("mode %#02x: %v", mode, err)
	}
}

// countPings reports whether data is a sequence of whole packets (by
// their fixed headers), and how many of them are PINGREQs.
func countPings(data []byte) (pings int, whole bool) {
	for len(data) > 0 {
		first, rem, hl, err := packet.ParseHeader(data)
		if err != nil || hl+rem > len(data) {
			return 0, false
		}
		if first == byte(packet.PINGREQ)<<4 && rem == 0 {
			pings++
		}
		data = data[hl+rem:]
	}
	return pings, true
}

// connectVersion returns the protocol level of the CONNECT data starts
// with, or 0 if it does not start with one that decodes.
func connectVersion(data []byte) byte {
	first, rem, hl, err := packet.ParseHeader(data)
	if err != nil || packet.Type(first>>4) != packet.CONNECT || hl+rem > len(data) {
		return 0
	}
	p, err := packet.Decode(0, first, data[hl:hl+rem])
	if err != nil {
		return 0
	}
	return p.(*packet.Connect).ProtocolVersion
}

// replyReader reads what the broker sends until it closes the connection.
// Knowing the protocol level, it checks that every packet decodes, is one
// a server may send, starts with CONNACK and ends at a DISCONNECT.
type replyReader struct {
	nc      net.Conn
	version byte          // 0: unknown, the bytes are read but not checked
	acked   chan struct{} // closed at the first packet
	// pinged is closed at the wantPings-th PINGRESP (0: never).
	pinged    chan struct{}
	wantPings int
}

func (r *replyReader) run() error {
	if r.version == 0 {
		_, err := io.Copy(io.Discard, r.nc)
		return r.ended(err)
	}
	var last packet.Type
	pings := 0
	for n := 0; ; n++ {
		p, err := packet.ReadPacket(r.nc, r.version, 0)
		if err != nil {
			var perr *packet.Error
			if errors.As(err, &perr) {
				return fmt.Errorf("the broker sent a packet that does not decode (after %s): %w", last, err)
			}
			return r.ended(err)
		}
		t := p.Type()
		switch {
		case last == packet.DISCONNECT:
			return fmt.Errorf("the broker sent %s after DISCONNECT", t)
		case n == 0 && t != packet.CONNACK:
			return fmt.Errorf("the broker's first packet is %s, not CONNACK", t)
		case n > 0 && !serverSends(t, r.version):
			return fmt.Errorf("the broker sent %s (%+v), which a server never sends", t, p)
		}
		if n == 0 {
			close(r.acked)
		}
		if t == packet.PINGRESP {
			if pings++; pings == r.wantPings {
				close(r.pinged)
			}
		}
		last = t
	}
}

// ended turns the error that ended reading into nil for the ways a
// connection may end: the broker closed it, possibly cutting short what it
// was writing or discarding what we sent (a reset); we closed it.
func (r *replyReader) ended(err error) error {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("the broker neither closed the connection nor answered within %v", waitTime)
	}
	return err
}

// serverSends reports whether a server may send packets of type t after
// the CONNACK.
func serverSends(t packet.Type, version byte) bool {
	switch t {
	case packet.PUBLISH, packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP,
		packet.SUBACK, packet.UNSUBACK, packet.PINGRESP:
		return true
	case packet.DISCONNECT, packet.AUTH:
		return version == packet.V5
	}
	return false
}

// bystander is a v5 client connected for the whole fuzzing run, subscribed
// to a topic of its own; check shows that the broker still routes and
// answers.
type bystander struct {
	c     *rawClient
	topic string
	id    uint16
}

func newBystander(f *testing.F, addr string) *bystander {
	c := dialRaw(f, addr, packet.V5)
	if ack := c.connect(&packet.Connect{ClientID: bystanderID, CleanStart: true, KeepAlive: 0}); ack.ReasonCode != 0 {
		f.Fatalf("bystander CONNACK %#x", ack.ReasonCode)
	}
	by := &bystander{c: c, topic: "fuzz/" + bystanderID}
	by.c.subscribe(1, packet.Subscription{Filter: by.topic, QoS: 1})
	return by
}

// check publishes a QoS 1 message to the bystander's topic and waits for
// its PUBACK and its delivery, then for a PINGRESP.
func (by *bystander) check(t *testing.T) {
	t.Helper()
	by.c.t = t
	if by.id++; by.id == 0 {
		by.id = 1
	}
	payload := fmt.Sprintf("check %d", by.id)
	by.c.send(&packet.Publish{Topic: by.topic, Payload: []byte(payload), QoS: 1, PacketID: by.id})
	for acked, delivered := false, false; !acked || !delivered; {
		switch p := by.c.recv().(type) {
		case *packet.Ack:
			if p.Kind != packet.PUBACK || p.PacketID != by.id || p.ReasonCode.IsError() {
				t.Fatalf("bystander: %s %+v, want PUBACK %d", p.Kind, p, by.id)
			}
			acked = true
		case *packet.Publish:
			if p.Topic != by.topic || string(p.Payload) != payload || p.QoS != 1 {
				t.Fatalf("bystander got %+v, want %q at QoS 1 on %s", p, payload, by.topic)
			}
			by.c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
			delivered = true
		default:
			t.Fatalf("bystander got %s %+v", p.Type(), p)
		}
	}
	by.c.ping()
}

// errorLog is a slog handler that discards every line but keeps the
// first one saying the broker could not encode a packet: the broker
// accepted something it cannot send on, which is a bug.
type errorLog struct {
	mu    sync.Mutex
	first string
}

func (h *errorLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && strings.Contains(r.Message, "encoding") {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		h.mu.Lock()
		if h.first == "" {
			h.first = b.String()
		}
		h.mu.Unlock()
	}
	return nil
}

func (h *errorLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorLog) WithGroup(string) slog.Handler      { return h }

// take returns and forgets the first encoding failure logged.
func (h *errorLog) take() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.first
	h.first = ""
	return s
}

// settle polls cond, which returns what is wrong ("" when nothing is),
// until it holds, and after waitTime fails the test with the last
// complaint and what detail returns.
func settle(t *testing.T, what string, cond func() string, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for wait := 50 * time.Microsecond; ; wait = min(2*wait, 10*time.Millisecond) {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s\n%s", what, msg, detail())
		}
		time.Sleep(wait)
	}
}

// quietGoroutines returns the number of goroutines once it stops
// falling: the broker's background goroutines and the bystander's reader.
func quietGoroutines() int {
	n := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(5 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return max(m, n)
		}
		n = m
	}
	return n
}

func goroutineDump() string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	return b.String()
}

type connSeed struct {
	mode byte
	data []byte
}

// connectionSeeds are realistic packet sequences for each protocol level:
// the QoS flows in both directions, acks that fit no flow, DISCONNECT and
// AUTH with properties, topic aliases, a second CONNECT, and CONNECTs the
// data brings itself.
func connectionSeeds(f *testing.F) []connSeed {
	wire := func(v byte, ps ...packet.Packet) []byte {
		var b []byte
		for _, p := range ps {
			var err error
			if b, err = packet.Append(b, p, v); err != nil {
				f.Fatalf("seed %s: %v", p.Type(), err)
			}
		}
		return b
	}
	ack := func(kind packet.Type, id uint16) *packet.Ack { return &packet.Ack{Kind: kind, PacketID: id} }
	pub := func(topic string, qos byte, id uint16) *packet.Publish {
		return &packet.Publish{Topic: topic, QoS: qos, PacketID: id, Payload: []byte("p")}
	}
	sub := func(id uint16, filter string, qos byte) *packet.Subscribe {
		return &packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}
	}
	modeOf := map[byte]byte{packet.V311: 1, packet.V5: 2, packet.V31: 3}

	var seeds []connSeed
	add := func(mode byte, data []byte) { seeds = append(seeds, connSeed{mode, data}) }
	for _, v := range []byte{packet.V311, packet.V5, packet.V31} {
		m := modeOf[v]
		// Subscribe, publish at each QoS and ack the broker's deliveries
		// (ids 1 and 2: the QoS 1 and the QoS 2 copy).
		flows := wire(v,
			sub(1, "a/#", 2),
			pub("a/b", 0, 0), pub("a/b", 1, 2), pub("a/b", 2, 3), ack(packet.PUBREL, 3),
			ack(packet.PUBACK, 1), ack(packet.PUBREC, 2), ack(packet.PUBCOMP, 2),
			&packet.Pingreq{},
			&packet.Unsubscribe{PacketID: 4, Filters: []string{"a/#"}})
		add(m, flows)
		add(m|fuzzWaitAck, flows)
		add(m|fuzzClose, flows)
		add(m|3<<fuzzChunkBit, flows)
		// A normal DISCONNECT, and none: the will goes out.
		add(m, wire(v, pub("a/b", 1, 1), &packet.Disconnect{}))
		add(m, wire(v, sub(1, "fuzz/will", 1), pub("a/b", 1, 1)))
		// QoS 2 sent twice, released twice; a PUBCOMP for nothing.
		dup := pub("q/2", 2, 5)
		dup.Dup = true
		add(m, wire(v, pub("q/2", 2, 5), dup, ack(packet.PUBREL, 5), ack(packet.PUBREL, 5), ack(packet.PUBCOMP, 9)))
		// Acks that fit no flow, and a PUBACK for a QoS 2 delivery.
		add(m, wire(v, ack(packet.PUBACK, 7), ack(packet.PUBREC, 8), ack(packet.PUBREL, 9), ack(packet.PUBCOMP, 10)))
		add(m, wire(v, sub(1, "w/#", 2), pub("w/x", 2, 1), ack(packet.PUBREL, 1), ack(packet.PUBACK, 1), &packet.Pingreq{}))
		// Retained messages: set, receive on subscribing, clear.
		retained := pub("r/1", 1, 1)
		retained.Retain = true
		cleared := pub("r/1", 0, 0)
		cleared.Retain, cleared.Payload = true, nil
		add(m, wire(v, retained, sub(2, "r/#", 1), ack(packet.PUBACK, 1), cleared))
		// A second CONNECT, a wildcard topic name.
		add(m, wire(v, prefixConnect(v)))
		add(m, wire(v, sub(1, "x", 0))[:5]) // cut short
		add(m, append(wire(v, pub("ok", 0, 0)), 0x30, 5, 0, 3, 'a', '/', '#'))
		// The data brings its own CONNECT.
		c := prefixConnect(v)
		c.ClientID, c.CleanStart = "own", false
		c.UsernameFlag, c.Username = true, "user"
		c.PasswordFlag, c.Password = true, []byte("secret")
		add(0, wire(v, c, sub(1, "own/#", 1), pub("own/a", 1, 1), ack(packet.PUBACK, 1)))
	}

	v := packet.V5
	// DISCONNECT with properties: with the will, then a session expiry
	// after 0 in CONNECT, which is a protocol error.
	d := &packet.Disconnect{ReasonCode: packet.DisconnectWithWill}
	d.Properties.ReasonString = "bye"
	d.Properties.Set(packet.PropReasonString)
	d.Properties.User = []packet.UserProperty{{Key: "k", Value: "v"}}
	add(2, wire(v, sub(1, "fuzz/will", 0), d))
	d = &packet.Disconnect{}
	d.Properties.SessionExpiry = 30
	d.Properties.Set(packet.PropSessionExpiry)
	add(2, wire(v, d))
	// AUTH, which no client may send without an authentication method.
	a := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
	a.Properties.AuthMethod = "SCRAM-SHA-1"
	a.Properties.Set(packet.PropAuthMethod)
	a.Properties.AuthData = []byte("client-first")
	a.Properties.Set(packet.PropAuthData)
	add(2, wire(v, a))
	a.ReasonCode = packet.ReAuthenticate
	add(2|fuzzWaitAck, wire(v, &packet.Pingreq{}, a))
	// Topic aliases: set one, use it, use one never set, alias 0, one
	// above the maximum; the broker uses its own toward us.
	alias := func(topic string, n uint16) *packet.Publish {
		p := pub(topic, 0, 0)
		p.Properties.TopicAlias = n
		p.Properties.Set(packet.PropTopicAlias)
		return p
	}
	add(2, wire(v, sub(1, "t/#", 0), alias("t/a", 1), alias("", 1), alias("t/b", 1), alias("", 1), pub("t/c", 0, 0), pub("t/c", 0, 0)))
	add(2, wire(v, alias("", 2)))
	add(2, wire(v, alias("t/a", 0)))
	add(2, wire(v, alias("t/a", 11)))
	// Subscription options and identifiers, a shared subscription.
	s := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: "s/#", QoS: 2, NoLocal: true},
		{Filter: "$share/g/s/#", QoS: 1},
		{Filter: "s/+", QoS: 1, RetainAsPublished: true, RetainHandling: 2},
	}}
	s.Properties.SubscriptionIDs = []uint32{42}
	add(2, wire(v, s, pub("s/x", 2, 1), ack(packet.PUBREL, 1), ack(packet.PUBACK, 1), ack(packet.PUBREC, 2), ack(packet.PUBCOMP, 2)))
	// More QoS 2 in flight than the broker's Receive Maximum.
	var many []packet.Packet
	for id := uint16(1); id <= 25; id++ {
		many = append(many, pub("m", 2, id))
	}
	add(2, wire(v, many...))
	// Publish properties the broker passes on or acts on.
	p := pub("props", 1, 1)
	p.Properties.PayloadFormat = 1
	p.Properties.Set(packet.PropPayloadFormat)
	p.Payload = []byte{0xff, 0xfe}
	p.Properties.MessageExpiry = 1
	p.Properties.Set(packet.PropMessageExpiry)
	p.Properties.ResponseTopic = "reply"
	p.Properties.Set(packet.PropResponseTopic)
	p.Properties.CorrelationData = []byte{1, 2}
	p.Properties.Set(packet.PropCorrelationData)
	add(2, wire(v, sub(1, "props", 1), p, ack(packet.PUBACK, 1)))
	// Raw bytes: nothing but garbage, a header announcing 256 MB, a
	// packet of the reserved type 0, a lone first byte.
	add(0, []byte("GET / HTTP/1.1\r\n\r\n"))
	add(1, []byte{0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, 'a'})
	add(2, []byte{0x00, 0x00})
	add(1|fuzzClose, []byte{0x82})
	add(0, nil)
	return seeds
}
