package broker_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
)

// Byte-exact answers, as Mosquitto gives them: these pin the behaviour
// Mosquitto's own test suite checks, so that a change cannot bring a
// difference back unnoticed.

// wireClient reads and writes raw bytes.
type wireClient struct {
	t  testing.TB
	nc net.Conn
}

func dialWire(t testing.TB, addr string) *wireClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &wireClient{t: t, nc: nc}
}

func (c *wireClient) send(hexBytes string) {
	c.t.Helper()
	b, err := hex.DecodeString(hexBytes)
	if err != nil {
		c.t.Fatal(err)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitTime))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expect reads exactly len(want) bytes and compares them.
func (c *wireClient) expect(what, wantHex string) {
	c.t.Helper()
	want, _ := hex.DecodeString(wantHex)
	got := make([]byte, len(want))
	_ = c.nc.SetReadDeadline(time.Now().Add(waitTime))
	n, err := io.ReadFull(c.nc, got)
	if err != nil {
		c.t.Fatalf("%s: read %x then %v, want %s", what, got[:n], err, wantHex)
	}
	if !bytes.Equal(got, want) {
		c.t.Fatalf("%s: got %x, want %s", what, got, wantHex)
	}
}

// expectNothingFor checks that nothing arrives within d.
func (c *wireClient) expectNothingFor(d time.Duration) {
	c.t.Helper()
	var b [1]byte
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	if n, err := c.nc.Read(b[:]); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("got %x %v, want nothing yet", b[:n], err)
	}
}

// expectClosed checks that the broker closes the connection without
// sending anything more.
func (c *wireClient) expectClosed(what string) {
	c.t.Helper()
	var b [1]byte
	_ = c.nc.SetReadDeadline(time.Now().Add(waitTime))
	n, err := c.nc.Read(b[:])
	switch {
	case n > 0:
		c.t.Fatalf("%s: got byte %#x, want the connection closed", what, b[0])
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatalf("%s: connection still open", what)
	case err != io.EOF && !isReset(err):
		c.t.Fatalf("%s: %v", what, err)
	}
}

// Wire forms used below: CONNECT of client id "c" (keep alive 60) in
// 3.1.1 and 5.0, and the CONNACK Mosquitto answers them with under its
// defaults (Topic Alias Maximum 10, Receive Maximum 20).
const (
	connect311 = "100d00044d5154540402003c000163"
	connect5   = "100e00044d5154540502003c00000163"
	connack311 = "20020000"
	connack5   = "200900000622000a210014"
)

func TestWireConnack(t *testing.T) {
	o := testOptions()
	o.RetainAvailable = false
	noRetain := startBroker(t, o, nil)
	l := broker.DefaultListener(0)
	l.AllowAnonymous = true
	l.MaxQoS = 1
	qos1 := startBroker(t, testOptions(), l)
	o = testOptions()
	o.MaxKeepalive = 60
	o.MaxInflightMessages = 0
	keep := startBroker(t, o, nil)
	def := startBroker(t, testOptions(), nil)

	cases := []struct {
		name    string
		addr    string
		connect string
		want    string
	}{
		{"3.1.1", def.addr, connect311, connack311},
		{"5.0 defaults", def.addr, connect5, connack5},
		// Mosquitto's order: Topic Alias Maximum, Server Keep Alive,
		// Assigned Client Identifier, Retain Available, Maximum Packet
		// Size, Receive Maximum, Maximum QoS. No Receive Maximum with
		// max_inflight_messages 0.
		{"5.0 keep alive 0 over max_keepalive", keep.addr, "100e00044d5154540502000000000163", "200900000622000a13003c"},
		{"5.0 retain unavailable", noRetain.addr, connect5, "200b00000822000a2500210014"},
		{"5.0 max_qos 1", qos1.addr, connect5, "200b00000822000a2100142401"},
		// No Response Information, even when asked for.
		{"5.0 request response information", def.addr, "101000044d5154540502003c02190100016a", connack5},
		// A refusal on a max_qos 1 listener still says Maximum QoS.
		{"5.0 refused, max_qos 1", qos1.addr, "101200044d5154540502003c0415000178000163", "2005008c022401"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWire(t, tc.addr)
			c.send(tc.connect)
			c.expect("CONNACK", tc.want)
		})
	}
}

func TestWireProtocolNameAndLevel(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	// A known protocol name with an unknown level gets return code 1, in
	// the 3.x form; an unknown name or a name of the wrong length, nothing.
	c := dialWire(t, b.addr)
	c.send("100d00044d5154540602003c000163")
	c.expect("CONNACK", "20020001")
	c.expectClosed("after CONNACK 1")
	for _, connect := range []string{
		"100d000448545450040200 3c000163",
		"100c00034d51540402003c000163",
		"1003000400",
	} {
		c := dialWire(t, b.addr)
		c.send(stripSpaces(connect))
		c.expectClosed("CONNECT " + connect)
	}
}

func stripSpaces(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil))
}

func TestWireAcks(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	c := dialWire(t, b.addr)
	c.send(connect5)
	c.expect("CONNACK", connack5)
	// QoS 2 without subscribers: PUBREC success in the short form (no
	// 0x10, which Mosquitto puts in PUBACK only).
	c.send("3407000174000100" + "78")
	c.expect("PUBREC", "50020001")
	c.send("62020001")
	c.expect("PUBCOMP", "70020001")
	// PUBREL again, for an id now unknown: PUBCOMP success all the same.
	c.send("62020001")
	c.expect("PUBCOMP", "70020001")
	// PUBREC for an unknown id: PUBREL success; PUBACK and PUBCOMP for
	// unknown ids are ignored.
	c.send("50020009")
	c.expect("PUBREL", "62020009")
	c.send("40020009" + "70020009" + "c000")
	c.expect("PINGRESP", "d000")
	// QoS 1 without subscribers: 0x10.
	c.send("3207000174000200" + "78")
	c.expect("PUBACK", "4003000210")
}

func TestWireAckBeforeOwnCopy(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	for _, v := range []struct{ name, connect, connack, sub, suback, pub, ack, copy string }{
		{"3.1.1 QoS 1", connect311, connack311, "8206000100017401", "9003000101",
			"32060001740005" + "78", "40020005", "32060001740001" + "78"},
		{"5.0 QoS 1", connect5, connack5, "820700010000017401", "900400010001",
			"3207000174000500" + "78", "40020005", "3207000174000100" + "78"},
		{"5.0 QoS 2", connect5, connack5, "820700010000017402", "900400010002",
			"3407000174000500" + "78", "50020005", "3407000174000100" + "78"},
	} {
		t.Run(v.name, func(t *testing.T) {
			c := dialWire(t, b.addr)
			c.send(v.connect)
			c.expect("CONNACK", v.connack)
			c.send(v.sub)
			c.expect("SUBACK", v.suback)
			c.send(v.pub)
			c.expect("acknowledgement first", v.ack)
			if v.ack[:2] == "50" {
				// QoS 2 is routed at PUBREL, as Mosquitto does: PUBCOMP
				// first, then the copy.
				c.expectNothingFor(100 * time.Millisecond)
				c.send("62020005")
				c.expect("PUBCOMP", "70020005")
			}
			c.expect("then the client's own copy", v.copy)
		})
	}
}

// TestWireAckOutOfFlow: an acknowledgement of the wrong kind for a message
// in flight closes the connection, in 5.0 without a DISCONNECT.
func TestWireAckOutOfFlow(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	cases := []struct {
		name string
		v5   bool
		qos  int
		// steps are sent (and answered with PUBREL) before the bad ack.
		steps, bad string
	}{
		{"PUBCOMP for QoS 1", false, 1, "", "70020001"},
		{"PUBREC for QoS 1", true, 1, "", "50020001"},
		{"PUBACK for QoS 2", true, 2, "", "40020001"},
		{"PUBCOMP before PUBREC", false, 2, "", "70020001"},
		{"PUBACK after PUBREC", false, 2, "50020001", "40020001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub := dialWire(t, b.addr)
			q := hex.EncodeToString([]byte{byte(tc.qos)})
			publish := hex.EncodeToString([]byte{0x30 | byte(tc.qos)<<1}) + "060001740001" + "78"
			if tc.v5 {
				sub.send(connect5)
				sub.expect("CONNACK", connack5)
				sub.send("8207000100000174" + q)
				sub.expect("SUBACK", "90040001"+"00"+q)
				publish = hex.EncodeToString([]byte{0x30 | byte(tc.qos)<<1}) + "07000174000100" + "78"
			} else {
				sub.send(connect311)
				sub.expect("CONNACK", connack311)
				sub.send("82060001000174" + q)
				sub.expect("SUBACK", "900300"+"01"+q)
			}
			pub := dialWire(t, b.addr)
			pub.send("100f00044d5154540402003c0003707562")
			pub.expect("CONNACK", connack311)
			pub.send(hex.EncodeToString([]byte{0x30 | byte(tc.qos)<<1}) + "060001740001" + "78")
			if tc.qos == 1 {
				pub.expect("PUBACK", "40020001")
			} else {
				pub.expect("PUBREC", "50020001")
				pub.send("62020001")
				pub.expect("PUBCOMP", "70020001")
			}
			sub.expect("PUBLISH", publish)
			if tc.steps != "" {
				sub.send(tc.steps)
				sub.expect("PUBREL", "62020001")
			}
			sub.send(tc.bad + "c000")
			sub.expectClosed(tc.name)
		})
	}
}

// TestWireQoS2Repeats: a QoS 2 PUBLISH sent again before PUBREL is
// answered once more; a third copy is a protocol error.
func TestWireQoS2Repeats(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	for _, v := range []struct{ name, connect, connack, publish, third string }{
		{"5.0", connect5, connack5, "3c07000174000100" + "78", "e00182"},
		{"3.1.1", connect311, connack311, "3c060001740001" + "78", ""},
	} {
		t.Run(v.name, func(t *testing.T) {
			c := dialWire(t, b.addr)
			c.send(v.connect)
			c.expect("CONNACK", v.connack)
			for range 2 {
				c.send(v.publish)
				c.expect("PUBREC", "50020001")
			}
			c.send(v.publish)
			if v.third != "" {
				c.expect("DISCONNECT", v.third)
			}
			c.expectClosed("after the third copy")
		})
	}
}

// TestWireBadPacketAnswers pins, for 5.0, which bad packets get a
// DISCONNECT and with which reason code, as Mosquitto's suite checks them.
func TestWireBadPacketAnswers(t *testing.T) {
	o := testOptions()
	o.RetainAvailable = false
	l := broker.DefaultListener(0)
	l.AllowAnonymous = true
	l.MaxQoS = 1
	b := startBroker(t, o, l)
	const connack = "200d00000a22000a2500210014" + "2401"
	cases := []struct{ name, packet, want string }{
		{"PUBLISH packet id 0", "3206000174000000", "e00182"},
		{"PUBLISH QoS 3", "36070001740001" + "0000", "e00181"},
		{"PUBLISH QoS above maximum", "3406000174000100", "e0019b"},
		{"PUBLISH retain unavailable", "31050001740061", "e0019a"},
		{"PUBLISH property not allowed", "320c0001740001" + "051100000000" + "00", "e00181"},
		{"PUBLISH truncated", "3000", "e00181"},
		{"PUBLISH empty topic, no properties", "30020000", "e00181"},
		{"PUBLISH wildcard topic", "3208000323" + "2f61000100", "e00182"},
		{"PUBLISH over 200 levels", "", "e00182"}, // built below
		{"SUBSCRIBE packet id 0", "820700000000017401", "e00181"},
		{"SUBSCRIBE flags", "800700010000017401", "e00181"},
		{"SUBSCRIBE retain handling 3", "820700010000017430", "e00181"},
		{"SUBSCRIBE subscription id 0", "820900010" + "2" + "0b00" + "00017401", "e00181"},
		{"SUBSCRIBE wildcard misplaced", "8209000100000323" + "2f6101", "e00181"},
		{"UNSUBSCRIBE packet id 0", "a206000000000174", "e00181"},
		{"UNSUBSCRIBE empty", "a20300010" + "0", "e00181"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWire(t, b.addr)
			c.send(connect5)
			c.expect("CONNACK", connack)
			p := tc.packet
			if p == "" {
				// 201 level separators: over Mosquitto's limit of 200.
				body := append([]byte{0, 201}, bytes.Repeat([]byte("/"), 201)...)
				body = append(body, 0)
				raw := packet.AppendVarint([]byte{0x30}, len(body))
				p = hex.EncodeToString(append(raw, body...))
			}
			c.send(p)
			c.expect("DISCONNECT", tc.want)
			c.expectClosed("after DISCONNECT")
		})
	}
}

// TestWireQoS2HeldUntilPubrel: an inbound QoS 2 message is delivered at
// PUBREL, as Mosquitto does, and a new message reusing a packet id that
// awaits PUBREL replaces the one held (Mosquitto's 03-publish-qos2-reuse-mid).
func TestWireQoS2HeldUntilPubrel(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	sub := dialWire(t, b.addr)
	sub.send(connect311)
	sub.expect("CONNACK", connack311)
	sub.send("820600010001" + "2302") // "#" at QoS 2
	sub.expect("SUBACK", "9003000102")
	pub := dialWire(t, b.addr)
	pub.send("100f00044d5154540402003c0003707562")
	pub.expect("CONNACK", connack311)
	pub.send("3418000d7075622f716f73322f746573740138" + "6d657373616765") // pub/qos2/test, id 312
	pub.expect("PUBREC 1", "50020138")
	sub.expectNothingFor(100 * time.Millisecond)
	pub.send("3419000e7075622f716f73322f72657573650138" + "6d657373616765") // pub/qos2/reuse, id 312
	pub.expect("PUBREC 2", "50020138")
	pub.send("62020138")
	pub.expect("PUBCOMP", "70020138")
	sub.expect("the second message only", "3419000e7075622f716f73322f72657573650001"+"6d657373616765")
	sub.send("c000")
	sub.expect("PINGRESP", "d000")
}
