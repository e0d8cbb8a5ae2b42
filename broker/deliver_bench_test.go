package broker

import (
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// discardConn is a net.Conn whose writes vanish: the publish -> deliver
// path can be measured without sockets.
type discardConn struct {
	written atomic.Int64
	closed  chan struct{}
}

func newDiscardConn() *discardConn { return &discardConn{closed: make(chan struct{})} }

func (d *discardConn) Read([]byte) (int, error)         { <-d.closed; return 0, net.ErrClosed }
func (d *discardConn) Write(b []byte) (int, error)      { d.written.Add(int64(len(b))); return len(b), nil }
func (d *discardConn) Close() error                     { return nil }
func (d *discardConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (d *discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (d *discardConn) SetDeadline(time.Time) error      { return nil }
func (d *discardConn) SetReadDeadline(time.Time) error  { return nil }
func (d *discardConn) SetWriteDeadline(time.Time) error { return nil }

// fanoutServer connects n subscribers of "bench/t" at qos through the real
// CONNECT and SUBSCRIBE handlers, on connections that discard output.
func fanoutServer(tb testing.TB, n int, qos byte, version byte) (*Server, []*discardConn) {
	opts := DefaultOptions()
	opts.SysInterval = 0
	opts.ConnectionMessages = false
	opts.MaxQueuedMessages = 0 // unbounded: measure routing, not drops
	s := New(opts)
	tb.Cleanup(func() { s.Close() })
	l := DefaultListener(0)
	l.AllowAnonymous = true
	var ncs []*discardConn
	for i := range n {
		nc := newDiscardConn()
		c := newConn(s, nc, l)
		if !s.track(c) {
			tb.Fatal("server closed")
		}
		// track counts a reader goroutine for Close to wait for; these
		// connections are driven by the test and have none.
		s.wg.Done()
		err := c.handle(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: version, ClientID: fmt.Sprintf("sub-%d", i), CleanStart: true})
		if err != nil {
			tb.Fatal(err)
		}
		if err := c.handle(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "bench/t", QoS: qos}}}); err != nil {
			tb.Fatal(err)
		}
		ncs = append(ncs, nc)
	}
	tb.Cleanup(func() {
		for _, nc := range ncs {
			close(nc.closed)
		}
	})
	return s, ncs
}

func benchMessage(qos byte) *message {
	return newMessage(&packet.Publish{Topic: "bench/t", QoS: qos, Payload: make([]byte, 64)}, "pub", time.Now())
}

// BenchmarkFanoutQoS0 routes one QoS 0 message to 50 subscribers per
// operation: matching, encoding once per wire form, and queueing on each
// connection's writer.
func BenchmarkFanoutQoS0(b *testing.B) {
	for _, v := range []byte{packet.V311, packet.V5} {
		b.Run(fmt.Sprintf("v%d", v), func(b *testing.B) {
			s, _ := fanoutServer(b, 50, 0, v)
			// One message for every publish: messages are immutable and
			// each publish encodes its own wire forms, so this measures
			// routing and encoding without the decoder's allocations.
			m := benchMessage(0)
			b.ReportAllocs()
			for b.Loop() {
				if n, _ := s.publish(m, nil); n != 50 {
					b.Fatalf("matched %d", n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50), "ns/delivery")
		})
	}
}

// BenchmarkFanoutQoS1 is the same with QoS 1: a packet id, an in-flight
// record and an encoding per subscriber.
func BenchmarkFanoutQoS1(b *testing.B) {
	s, _ := fanoutServer(b, 50, 1, packet.V311)
	m := benchMessage(1)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = s.publish(m, nil)
		// Acknowledge everything so the in-flight windows stay open.
		b.StopTimer()
		for sess := range s.sessionsSnapshot() {
			sess.mu.Lock()
			for id, f := range sess.inflight {
				delete(sess.inflight, id)
				sess.inflightLen -= f.msg.size()
			}
			sess.mu.Unlock()
		}
		b.StartTimer()
	}
}

func (s *Server) sessionsSnapshot() map[*session]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[*session]struct{}, len(s.sessions))
	for _, ss := range s.sessions {
		out[ss] = struct{}{}
	}
	return out
}

// TestFanoutQoS0AllocatesNothing checks the hot-path rule: routing,
// encoding and writing a QoS 0 fan-out allocates nothing per message in
// steady state, whatever the number of subscribers. Each publish starts
// from idle connections, the case where every writer must take a packet
// list and start a flusher, and the count includes the flushers' own
// allocations. The message is built once, as the decoder would have.
//
// The rule is checked on the median publish: a garbage collection empties
// the pools (of packet lists, wire buffers, goroutines) now and then, and
// the publish after it refills them.
func TestFanoutQoS0AllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, n := range []int{5, 200} {
		for _, v := range []byte{packet.V311, packet.V5} {
			s, ncs := fanoutServer(t, n, 0, v)
			m := benchMessage(0)
			const warmup, rounds = 10, 51
			counts := make([]uint64, 0, rounds)
			var ms runtime.MemStats
			for i := range warmup + rounds {
				waitIdle(t, s)
				runtime.ReadMemStats(&ms)
				before := ms.Mallocs
				_, _ = s.publish(m, nil)
				waitIdle(t, s)
				runtime.ReadMemStats(&ms)
				if i >= warmup {
					counts = append(counts, ms.Mallocs-before)
				}
			}
			for _, nc := range ncs {
				if nc.written.Load() == 0 {
					t.Fatal("a subscriber received nothing")
				}
			}
			slices.Sort(counts)
			median := counts[len(counts)/2]
			t.Logf("%d subscribers, v%d: allocations per publish: median %d, max %d", n, v, median, counts[len(counts)-1])
			if median != 0 {
				t.Errorf("%d subscribers, v%d: a publish allocates %d times (median of %d)", n, v, median, rounds)
			}
		}
	}
}

// waitIdle waits until no connection of s has a flusher running.
func waitIdle(t *testing.T, s *Server) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := false
		s.mu.Lock()
		for c := range s.conns {
			c.w.mu.Lock()
			busy = busy || c.w.flushing
			c.w.mu.Unlock()
		}
		s.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("flushers did not finish")
		}
		runtime.Gosched()
	}
}
