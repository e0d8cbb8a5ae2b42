package bench

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
)

// startBroker runs midge's broker in-process on a loopback port.
func startBroker(t *testing.T) string {
	t.Helper()
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	opts.ConnectionMessages = false
	srv := broker.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	l := broker.DefaultListener(port)
	l.AllowAnonymous = true
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln, l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// countingListener counts the connections it has accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// startBrokerListeners runs midge's broker in-process with n loopback
// listeners, which stand for n linked brokers: a message published on one
// reaches subscribers on all.
func startBrokerListeners(t *testing.T, n int) ([]string, []*countingListener) {
	t.Helper()
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	opts.ConnectionMessages = false
	srv := broker.New(opts)
	var served sync.WaitGroup
	var addrs []string
	var lns []*countingListener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl := &countingListener{Listener: ln}
		l := broker.DefaultListener(ln.Addr().(*net.TCPAddr).Port)
		l.AllowAnonymous = true
		served.Go(func() { _ = srv.Serve(cl, l) })
		addrs = append(addrs, ln.Addr().String())
		lns = append(lns, cl)
	}
	t.Cleanup(func() {
		srv.Close()
		served.Wait()
	})
	return addrs, lns
}

// TestSplitBrokers runs publishers and subscribers on different listeners
// and checks that each connection went where it should, round-robin, and
// that the counts add up as with one broker.
func TestSplitBrokers(t *testing.T) {
	addrs, lns := startBrokerListeners(t, 3)
	cfg := Config{
		Scenario: Fanin, Publishers: 4, Subscribers: 3, SlowSubscribers: 1, QoS: 1, Rate: 1000,
		PubBrokers: []Endpoint{{Addr: addrs[0]}},
		SubBrokers: []Endpoint{{Addr: addrs[1]}, {Addr: addrs[2]}},
		Duration:   300 * time.Millisecond, Drain: 5 * time.Second,
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Subscribers 0 and 2 and slow subscriber 0 on the second listener,
	// subscriber 1 on the third.
	for i, want := range []int64{4, 3, 1} {
		if got := lns[i].accepted.Load(); got != want {
			t.Errorf("listener %d accepted %d connections, want %d", i, got, want)
		}
	}
	if res.Sent == 0 || res.Expected != 3*res.Sent || res.Delivered != res.Expected || res.Lost != 0 {
		t.Errorf("sent %d, expected %d, delivered %d, lost %d", res.Sent, res.Expected, res.Delivered, res.Lost)
	}
	if want := addrs[0] + ", subscribers on " + addrs[1] + " " + addrs[2]; !strings.Contains(describe(&res.Config), want) {
		t.Errorf("description %q lacks %q", describe(&res.Config), want)
	}
}

// TestScenarios runs every scenario briefly against the in-process broker
// and checks that the counts add up. Speed is never asserted.
func TestScenarios(t *testing.T) {
	addr := startBroker(t)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		// At QoS 1 and 2 a broker acknowledges a message once it is queued
		// for the subscribers, so a publisher faster than the subscribers
		// overflows their queues (max_queued_messages) and loses messages
		// legitimately. The rates keep the load well below what the
		// subscribers take even under the race detector, so that any loss
		// is a bug.
		{"fanout qos0", Config{Scenario: Fanout, Subscribers: 5, Rate: 2000}},
		{"pairs qos0 as fast as possible", Config{Scenario: Pairs, Publishers: 3}},
		{"fanout qos1 v5", Config{Scenario: Fanout, Subscribers: 5, QoS: 1, Version: V5, Rate: 1000}},
		{"fanout qos2", Config{Scenario: Fanout, Subscribers: 3, QoS: 2, Topics: 2, Publishers: 2, Rate: 1000}},
		{"fanin qos1", Config{Scenario: Fanin, Publishers: 5, QoS: 1, Rate: 1000}},
		{"pairs qos1", Config{Scenario: Pairs, Publishers: 10, QoS: 1, Rate: 2000}},
		{"pairs qos2 v5", Config{Scenario: Pairs, Publishers: 4, QoS: 2, Version: V5, Rate: 1000}},
		{"shared qos1", Config{Scenario: Shared, Subscribers: 4, QoS: 1, Rate: 1000}},
		{"shared qos1 v5", Config{Scenario: Shared, Subscribers: 4, QoS: 1, Version: V5, Rate: 1000}},
		{"slow subscriber qos1", Config{Scenario: Fanout, Subscribers: 3, SlowSubscribers: 1, QoS: 1, Payload: 1024, Rate: 1000}},
		{"idle", Config{Scenario: Idle, Connections: 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Addr = addr
			cfg.Duration = 300 * time.Millisecond
			cfg.Drain = 5 * time.Second
			var progress int
			cfg.Progress = func(Progress) { progress++ }
			cfg.ProgressInterval = 50 * time.Millisecond
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := res.Config
			if progress == 0 {
				t.Error("progress was never reported")
			}
			if c.Scenario == Idle {
				if res.Connections != c.Connections || res.ConnectRate <= 0 {
					t.Errorf("idle: %d connections at %.0f/s", res.Connections, res.ConnectRate)
				}
				return
			}
			if want := c.Publishers + c.Subscribers + c.SlowSubscribers; res.Connections != want {
				t.Errorf("connections = %d, want %d", res.Connections, want)
			}
			if res.Sent == 0 {
				t.Fatal("nothing sent")
			}
			perMessage := int64(c.Subscribers)
			if c.Scenario == Shared || c.Scenario == Pairs {
				perMessage = 1
			}
			if c.Scenario == Fanout && c.Topics > 1 {
				perMessage = int64(c.Subscribers / c.Topics) // not exact: checked below
			}
			if c.Topics == 1 && res.Expected != res.Sent*perMessage {
				t.Errorf("expected %d deliveries for %d sent, want %d", res.Expected, res.Sent, res.Sent*perMessage)
			}
			if res.Delivered > res.Expected || res.DeliveredInWindow > res.Delivered {
				t.Errorf("delivered %d (%d in window) of %d expected", res.Delivered, res.DeliveredInWindow, res.Expected)
			}
			if c.QoS > 0 {
				if res.Lost != 0 || res.Delivered != res.Expected {
					t.Errorf("QoS %d: lost %d, delivered %d of %d", c.QoS, res.Lost, res.Delivered, res.Expected)
				}
				if res.Acked != res.Sent || res.Rejected != 0 {
					t.Errorf("QoS %d: %d sent, %d acknowledged, %d rejected", c.QoS, res.Sent, res.Acked, res.Rejected)
				}
			}
			if res.Latency.Count != uint64(res.Delivered) {
				t.Errorf("latency count %d, delivered %d", res.Latency.Count, res.Delivered)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Addr: "x:1", Scenario: "nope"},
		{Addr: "x:1", QoS: 3},
		{Addr: "x:1", Payload: 4},
		{Addr: "x:1", Version: 3},
		{Addr: "x:1", Rate: -1},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
}

func TestRunConnectError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = Run(context.Background(), Config{Addr: addr, Subscribers: 3, Duration: time.Millisecond})
	if err == nil {
		t.Fatal("Run against a closed port succeeded")
	}
}
