//go:build linux

package broker_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// TestBusyConnectionParksWhenQuiet: a connection that sends packets in
// quick succession keeps a reader goroutine; once it falls quiet the
// parker nudges that reader, the goroutine exits, and the connection still
// answers afterwards.
func TestBusyConnectionParksWhenQuiet(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	// Connected and silent since: parked.
	warm := mustConnect(t, b.addr, packet.V311, "warm", true)
	base := settledGoroutines(t, -1)

	c := mustConnect(t, b.addr, packet.V311, "busy", true)
	for range 20 { // closer together than the parker's hot gap
		c.ping()
	}
	// Busy: its reader waits in a goroutine of its own.
	settledGoroutines(t, base+1)
	// Quiet: after the idle interval the parker takes it over.
	waitFor(t, "the quiet connection to be parked", func() bool {
		time.Sleep(50 * time.Millisecond)
		return settledGoroutines(t, -1) == base
	})
	c.ping()
	c.subscribe(1, packet.Subscription{Filter: "t"})
	warm.publish("t", "after parking", 0, false, 0)
	if p := c.expectPublish(); string(p.Payload) != "after parking" {
		t.Fatalf("got %q", p.Payload)
	}
}

// TestBusyConnectionKeepsItsReader: while packets come in quick
// succession the same goroutine reads burst after burst; starting a fresh
// one per packet (with a stack to grow) cost a sixth of the broker's CPU
// when packets come one at a time.
func TestBusyConnectionKeepsItsReader(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	c := mustConnect(t, b.addr, packet.V311, "busy", true)
	for range 20 {
		c.ping()
	}
	const pings = 500
	sample := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	for range pings {
		c.ping()
	}
	metrics.Read(sample)
	created := sample[0].Value.Uint64() - before
	t.Logf("%d goroutines created for %d pings", created, pings)
	// The writer may start a flusher per answer; a reader per ping
	// would double that.
	if created > pings*5/4 {
		t.Fatalf("%d goroutines created for %d pings: a reader per burst", created, pings)
	}
}

// TestKeepAliveOfBusyThenSilentConnection: a busy connection that then goes silent
// is still disconnected when its keep alive runs out.
func TestKeepAliveOfBusyThenSilentConnection(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	c := dialRaw(t, b.addr, packet.V5)
	c.connect(&packet.Connect{ClientID: "busy-sleepy", CleanStart: true, KeepAlive: 3})
	for range 10 {
		c.ping()
	}
	start := time.Now()
	d := c.expectClosed()
	if el := time.Since(start); el < 4*time.Second {
		t.Fatalf("closed after %v, before one and a half keep alives", el)
	}
	if d == nil || d.ReasonCode != packet.KeepAliveTimeout {
		t.Fatalf("DISCONNECT %+v, want 0x8D", d)
	}
}

// TestParkingChurn connects and disconnects many clients while others sit
// parked and are pinged now and then, so descriptors are reused while
// parked connections wake and park again; every ping must be answered and
// every message delivered.
func TestParkingChurn(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	const idle = 40
	clients := make([]*rawClient, idle)
	for i := range clients {
		clients[i] = mustConnect(t, b.addr, packet.V311, fmt.Sprintf("idle-%d", i), true)
		clients[i].subscribe(1, packet.Subscription{Filter: fmt.Sprintf("churn/%d", i)})
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				if err := churnOnce(b.addr, fmt.Sprintf("churn-%d-%d", w, i), i%2 == 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	pub := mustConnect(t, b.addr, packet.V311, "pub", true)
	for round := range 5 {
		for i, c := range clients {
			if (i+round)%3 == 0 {
				c.ping()
			}
			pub.publish(fmt.Sprintf("churn/%d", i), fmt.Sprintf("r%d", round), 0, false, 0)
			if p := c.expectPublish(); string(p.Payload) != fmt.Sprintf("r%d", round) {
				t.Fatalf("client %d round %d got %q", i, round, p.Payload)
			}
		}
		time.Sleep(60 * time.Millisecond) // let them go quiet and park
	}
	wg.Wait()
}

// churnOnce connects, optionally pings, and disconnects, on a goroutine of
// its own (so it reports errors instead of failing the test).
func churnOnce(addr, id string, ping bool) error {
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(waitTime))
	out, _ := packet.Append(nil, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: id, CleanStart: true}, packet.V311)
	if _, err := nc.Write(out); err != nil {
		return err
	}
	want := []byte{0x20, 2, 0, 0} // CONNACK accepted
	if ping {
		out = []byte{0xC0, 0} // PINGREQ
		if _, err := nc.Write(out); err != nil {
			return err
		}
		want = append(want, 0xD0, 0) // PINGRESP
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(nc, got); err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s: got % x, want % x", id, got, want)
	}
	_, err = nc.Write([]byte{0xE0, 0}) // DISCONNECT
	return err
}
