package cluster

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
)

// replicatedCluster starts three nodes that keep every persistent
// session on all three.
func replicatedCluster(t *testing.T) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, replicas: 3}
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tc.routes = append(tc.routes, ln.Addr().String())
		ln.Close()
	}
	// Started together: JetStream makes the stream once three servers
	// are up.
	var wg sync.WaitGroup
	ms := make([]*member, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { ms[i], errs[i] = tc.start(fmt.Sprintf("n%d", i+1), tc.routes[i], nil) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	tc.members = ms
	tc.waitFormed()
	for _, m := range tc.members {
		select {
		case <-m.node.rep.ready:
		case <-time.After(20 * time.Second):
			t.Fatalf("node %s: no replicas", m.name)
		}
	}
	return tc
}

func waitSession(t *testing.T, m *member, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := m.srv.Session(id); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s never took the session of %s", m.name, id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A persistent session outlives its node: the messages queued for it
// there, and those published after the node went, reach the client when
// it reconnects to another node, and its subscription goes on.
func TestReplicatedSessionOutlivesItsNode(t *testing.T) {
	tc := replicatedCluster(t)
	n1, n2, n3 := tc.members[0], tc.members[1], tc.members[2]
	dev := connect(t, n1, "dev", keep300())
	subscribe(t, dev, "cmd/#", 1)
	if err := dev.Disconnect(context.Background(), client.Success, nil); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, n3, "pub", client.Options{})
	for i := range 5 {
		publish(t, pub, &client.Message{Topic: "cmd/x", Payload: fmt.Appendf(nil, "m%d", i), QoS: 1})
	}
	n1.stop()
	// n2, the lowest name left, takes the session over; it goes on
	// queueing what is published.
	waitSession(t, n2, "dev")
	for i := 5; i < 10; i++ {
		if ack := publish(t, pub, &client.Message{Topic: "cmd/x", Payload: fmt.Appendf(nil, "m%d", i), QoS: 1}); ack.ReasonCode != client.Success {
			t.Fatalf("PUBACK %v", ack.ReasonCode)
		}
	}
	box := newInbox()
	again := connect(t, n3, "dev", withInbox(keep300(), box))
	if !again.Connack().SessionPresent {
		t.Fatal("session not present after its node was lost")
	}
	for i, m := range box.wait(t, 10) {
		if string(m.Payload) != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d is %s", i, m.Payload)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if k := box.count(); k != 10 {
		t.Fatalf("%d messages, want 10", k)
	}
	if _, ok := n2.srv.Session("dev"); ok {
		t.Fatal("n2 still holds the session")
	}
}
