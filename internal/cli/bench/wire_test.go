package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// The generator's codec is independent of internal/packet on purpose;
// these tests check the two agree on what the generator sends.

func decodeOne(t *testing.T, version byte, b []byte) packet.Packet {
	t.Helper()
	first, rl, hl, err := packet.ParseHeader(b)
	if err != nil {
		t.Fatalf("header of % x: %v", b, err)
	}
	if hl+rl != len(b) {
		t.Fatalf("header says %d+%d bytes, have %d", hl, rl, len(b))
	}
	p, err := packet.Decode(version, first, b[hl:])
	if err != nil {
		t.Fatalf("decode % x: %v", b, err)
	}
	return p
}

func TestConnectDecodes(t *testing.T) {
	for _, v := range []byte{V311, V5} {
		b := appendConnect(nil, connectOptions{version: v, clientID: "bench-1", username: "u", password: "pw"})
		c, ok := decodeOne(t, 0, b).(*packet.Connect)
		if !ok {
			t.Fatalf("v%d: not a CONNECT", v)
		}
		if c.ProtocolVersion != v || c.ClientID != "bench-1" || !c.CleanStart || c.Username != "u" || string(c.Password) != "pw" || c.KeepAlive != 0 {
			t.Errorf("v%d: decoded %+v", v, c)
		}
	}
}

func TestConnectKeepsSession(t *testing.T) {
	for _, v := range []byte{V311, V5} {
		b := appendConnect(nil, connectOptions{version: v, clientID: "s", keepSession: true})
		c, ok := decodeOne(t, 0, b).(*packet.Connect)
		if !ok {
			t.Fatalf("v%d: not a CONNECT", v)
		}
		if v == V311 && c.CleanStart || v == V5 && c.Properties.SessionExpiry != sessionExpiryV5 {
			t.Errorf("v%d: decoded %+v", v, c)
		}
	}
}

func TestSubscribeDecodes(t *testing.T) {
	for _, v := range []byte{V311, V5} {
		b := appendSubscribe(nil, v, 7, "$share/g/a/+", 2)
		s, ok := decodeOne(t, v, b).(*packet.Subscribe)
		if !ok || s.PacketID != 7 || len(s.Subscriptions) != 1 || s.Subscriptions[0].Filter != "$share/g/a/+" || s.Subscriptions[0].QoS != 2 {
			t.Errorf("v%d: decoded %+v", v, s)
		}
	}
}

func TestPublishTemplateRoundTrip(t *testing.T) {
	for _, v := range []byte{V311, V5} {
		for qos := range byte(3) {
			tpl := newPublishTemplate(v, "bench/fanout/0", qos, 200)
			b := tpl.fill(513, 0x0102030405060708)
			p, ok := decodeOne(t, v, b).(*packet.Publish)
			if !ok {
				t.Fatalf("v%d QoS %d: not a PUBLISH", v, qos)
			}
			wantID := uint16(513)
			if qos == 0 {
				wantID = 0
			}
			if p.Topic != "bench/fanout/0" || p.QoS != qos || p.PacketID != wantID || len(p.Payload) != 200 {
				t.Errorf("v%d QoS %d: decoded %+v", v, qos, p)
			}
			if got := binary.LittleEndian.Uint64(p.Payload); got != 0x0102030405060708 {
				t.Errorf("v%d QoS %d: timestamp %x", v, qos, got)
			}
			// And our own reader takes it apart the same way.
			r := bufio.NewReader(bytes.NewReader(b))
			var scratch []byte
			first, body, err := readPacket(r, &scratch)
			if err != nil {
				t.Fatal(err)
			}
			id, payload, err := publishFields(v, first, body)
			if err != nil || id != wantID || !bytes.Equal(payload, p.Payload) {
				t.Errorf("v%d QoS %d: publishFields = %d, %d bytes, %v", v, qos, id, len(payload), err)
			}
		}
	}
}

func TestAcksDecode(t *testing.T) {
	for _, hdr := range []byte{hdrPuback, hdrPubrec, hdrPubrel, hdrPubcomp} {
		for _, v := range []byte{V311, V5} {
			a, ok := decodeOne(t, v, appendAck(nil, hdr, 42)).(*packet.Ack)
			if !ok || a.PacketID != 42 || a.ReasonCode != 0 {
				t.Errorf("0x%02x v%d: decoded %+v", hdr, v, a)
			}
		}
	}
	id, reason, err := ackFields([]byte{0, 9, 0x87, 0})
	if err != nil || id != 9 || reason != 0x87 {
		t.Errorf("ackFields with reason = %d, 0x%x, %v", id, reason, err)
	}
}

func TestReadPacketLargeBody(t *testing.T) {
	// A body larger than the reader's buffer goes through scratch.
	tpl := newPublishTemplate(V311, "t", 0, 5000)
	r := bufio.NewReaderSize(bytes.NewReader(tpl.fill(0, 1)), 16)
	var scratch []byte
	_, body, err := readPacket(r, &scratch)
	if err != nil || len(body) != 5003 {
		t.Fatalf("readPacket = %d bytes, %v", len(body), err)
	}
}

func TestReadPacketUnbuffered(t *testing.T) {
	first, body, err := readPacketUnbuffered(bytes.NewReader([]byte{0x20, 3, 0, 0, 0, 0xff}))
	if err != nil || first != 0x20 || !bytes.Equal(body, []byte{0, 0, 0}) {
		t.Errorf("got 0x%02x % x %v", first, body, err)
	}
	if _, _, err := readPacketUnbuffered(bytes.NewReader([]byte{0x20, 0x80, 0x80, 0x80, 0x80})); err == nil {
		t.Error("five-byte remaining length accepted")
	}
	if _, _, err := readPacketUnbuffered(bytes.NewReader([]byte{0x20, 3, 0})); err == nil {
		t.Error("short body accepted")
	}
}

func TestMatchesAndDeliveries(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a", true},
		{"a/b", "a", false},
		{"a", "a/b", false},
	} {
		if got := matches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("matches(%q, %q) = %v", tc.filter, tc.topic, got)
		}
	}
	filters := []string{"x/1", "x/+", "$share/g/x/1", "$share/g/x/+", "$share/h/x/1", "y"}
	if got := deliveries(filters, "x/1"); got != 4 {
		t.Errorf("deliveries = %d, want 4 (two plain, groups g and h)", got)
	}
}

func BenchmarkPublishEncode(b *testing.B) {
	tpl := newPublishTemplate(V311, "bench/fanout/0", 1, 64)
	w := bufio.NewWriterSize(discard{}, 64<<10)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, _ = w.Write(tpl.fill(uint16(i), uint64(i)))
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// loopReader repeats its data forever, standing in for a broker that
// keeps sending.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// BenchmarkSubscriberMessage is the subscriber's per-message work: read a
// PUBLISH, take its timestamp, record the latency.
func BenchmarkSubscriberMessage(b *testing.B) {
	tpl := newPublishTemplate(V311, "bench/fanout/0", 0, 64)
	var stream []byte
	for range 1000 {
		stream = append(stream, tpl.fill(0, 1)...)
	}
	r := bufio.NewReaderSize(&loopReader{data: stream}, 64<<10)
	var scratch []byte
	var h histogram
	b.ReportAllocs()
	for b.Loop() {
		first, body, err := readPacket(r, &scratch)
		if err != nil {
			b.Fatal(err)
		}
		_, payload, err := publishFields(V311, first, body)
		if err != nil {
			b.Fatal(err)
		}
		h.record(time.Duration(binary.LittleEndian.Uint64(payload)))
	}
}
