//go:build unix

package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// The cluster as three midge processes on loopback (docs/cluster.md):
// clients on different nodes, and a node killed, paused and restarted in
// the middle of QoS 1 traffic between the other two.

type clusterNode struct {
	name string
	addr string
	*midgeProcess
}

// runCluster starts n midge processes that form the cluster "t": each
// names every other's route port, and each has logged every other's
// joining before it returns.
func runCluster(t *testing.T, n int, extra ...string) []*clusterNode {
	t.Helper()
	return runClusterEach(t, n, func(int) []string { return extra })
}

// runClusterEach is runCluster with lines of their own for each node:
// node i's are extra(i).
func runClusterEach(t *testing.T, n int, extra func(i int) []string) []*clusterNode {
	t.Helper()
	routes := make([]int, n)
	for i := range routes {
		routes[i] = testtool.ListenPort(t)
	}
	nodes := make([]*clusterNode, n)
	for i := range nodes {
		port := testtool.ListenPort(t)
		lines := []string{
			fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous true",
			"cluster_name t", fmt.Sprintf("cluster_node_name n%d", i+1),
			fmt.Sprintf("cluster_listen 127.0.0.1:%d", routes[i]),
		}
		for j, r := range routes {
			if j != i {
				lines = append(lines, fmt.Sprintf("cluster_peer 127.0.0.1:%d", r))
			}
		}
		nodes[i] = &clusterNode{name: fmt.Sprintf("n%d", i+1), addr: fmt.Sprintf("127.0.0.1:%d", port), midgeProcess: runMidge(t, append(lines, extra(i)...)...)}
	}
	for _, nd := range nodes {
		for _, other := range nodes {
			if other != nd {
				waitLog(t, nd.name, nd.log, "node "+other.name+" joined", 1)
			}
		}
	}
	return nodes
}

func TestClusterOfThreeProcesses(t *testing.T) {
	nodes := runCluster(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	v5 := func(id string) client.Options {
		return client.Options{ClientID: id, ProtocolVersion: client.MQTT5}
	}

	t.Run("publish reaches every node in order", func(t *testing.T) {
		far := record(t, n3.addr, v5("far"), client.Subscription{Filter: "c/#", QoS: 1})
		near := record(t, n1.addr, v5("near"), client.Subscription{Filter: "c/s", QoS: 1})
		pub := publisher(t, n2.addr, "pub")
		ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
		defer cancel()
		if acked, err := publishStream(ctx, pub, "c/s", "s", 300, 20); err != nil || acked != 300 {
			t.Fatalf("%d of 300 acknowledged: %v", acked, err)
		}
		for _, r := range []*recorder{far, near} {
			r.waitStream(t, "s", 300)
			got, _ := r.snapshot()
			if len(got) != 300 {
				t.Fatalf("%s: %d messages, want 300", r.name, len(got))
			}
			for i, m := range got {
				if m.payload != seqPayload("s", i) {
					t.Fatalf("%s: message %d is %s", r.name, i, m.payload)
				}
			}
		}
	})

	t.Run("retained seen from every node", func(t *testing.T) {
		pub := publisher(t, n2.addr, "ret-pub")
		ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
		defer cancel()
		if _, err := pub.Publish(ctx, &client.Message{Topic: "r/one", Payload: []byte("kept"), QoS: 1, Retain: true}); err != nil {
			t.Fatal(err)
		}
		for _, nd := range []*clusterNode{n1, n3} {
			r := record(t, nd.addr, v5("ret-"+nd.name), client.Subscription{Filter: "r/#", QoS: 1})
			r.waitFor(t, "the retained message", func(got []received, _ map[string]int) bool {
				return len(got) == 1 && got[0].payload == "kept" && got[0].retain
			})
		}
	})

	t.Run("a session moves between nodes", func(t *testing.T) {
		opts := v5("mover")
		opts.KeepSession = true
		opts.Properties.Set(client.PropSessionExpiry)
		opts.Properties.SessionExpiry = 300
		first := record(t, n1.addr, opts, client.Subscription{Filter: "m/#", QoS: 1})
		first.c.Close()
		pub := publisher(t, n2.addr, "m-pub")
		ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
		defer cancel()
		if acked, err := publishStream(ctx, pub, "m/q", "q", 5, 5); err != nil || acked != 5 {
			t.Fatalf("%d of 5 acknowledged: %v", acked, err)
		}
		moved := record(t, n3.addr, opts)
		moved.waitStream(t, "q", 5)
		if lost := moved.sessionsLost.Load(); lost != 0 || !moved.c.Connack().SessionPresent {
			t.Fatal("the session did not come along to n3")
		}
		// Its subscription came along too.
		if _, err := pub.Publish(ctx, &client.Message{Topic: "m/after", Payload: []byte("after"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
		moved.waitFor(t, "a message after the move", func(_ []received, copies map[string]int) bool { return copies["after"] == 1 })
	})
}

// faultRun publishes a numbered QoS 1 stream on n1 to a subscriber on n3
// while fault (run once the stream is under way) strikes n2, which has a
// subscriber of its own to the stream's topic. The n3 subscriber must
// get every message once; the publisher must have every message
// acknowledged.
func faultRun(t *testing.T, name string, fault func(n2 *clusterNode)) (nodes []*clusterNode, far *recorder) {
	nodes = runCluster(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	far = record(t, n3.addr, client.Options{ClientID: "far", ProtocolVersion: client.MQTT5}, client.Subscription{Filter: "f/#", QoS: 1})
	record(t, n2.addr, client.Options{ClientID: "doomed", ProtocolVersion: client.MQTT5}, client.Subscription{Filter: "f/#", QoS: 1})
	pub := publisher(t, n1.addr, "pub")
	ctx, cancel := context.WithTimeout(context.Background(), 2*bridgeWait)
	defer cancel()
	const n = 2000
	done := make(chan struct{})
	var acked int
	var err error
	go func() {
		defer close(done)
		acked, err = publishStream(ctx, pub, "f/s", "f", n, 10)
	}()
	far.awaitWithin(bridgeWait, func(got []received, _ map[string]int) bool { return len(got) >= n/4 })
	start := time.Now()
	fault(n2)
	<-done
	if err != nil || acked != n {
		t.Fatalf("%s: %d of %d acknowledged: %v", name, acked, n, err)
	}
	far.awaitStream("f", n)
	lost, dup, first := far.lostAndDuplicated("f", n)
	t.Logf("%s: %d QoS 1 messages n1 -> n3, %d lost, %d duplicated; the stream took %v after the fault", name, n, lost, dup, time.Since(start).Round(time.Millisecond))
	if lost != 0 || dup != 0 {
		t.Fatalf("%s: %d lost (the first %s), %d duplicated", name, lost, first, dup)
	}
	return nodes, far
}

func TestClusterNodeKilled(t *testing.T) {
	nodes, _ := faultRun(t, "kill -9", func(n2 *clusterNode) { n2.kill() })
	n1, n2 := nodes[0], nodes[1]
	waitLog(t, "n1", n1.log, "node n2 is not answering", 1)
	// Restarted, it joins again and learns the retained messages it
	// missed.
	pub := publisher(t, n1.addr, "ret-pub")
	ctx, cancel := context.WithTimeout(context.Background(), bridgeWait)
	defer cancel()
	if _, err := pub.Publish(ctx, &client.Message{Topic: "r/while", Payload: []byte("down"), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	n2.start()
	waitLog(t, "n1", n1.log, "node n2 joined", 2)
	waitLog(t, "n2", n2.log, "retained messages from node", 2) // once per run
	r := record(t, n2.addr, client.Options{ClientID: "back", ProtocolVersion: client.MQTT5}, client.Subscription{Filter: "r/#", QoS: 1})
	r.waitFor(t, "the retained message set while n2 was down", func(got []received, _ map[string]int) bool {
		return len(got) == 1 && got[0].payload == "down"
	})
}

// The will of a client connected to a node killed with kill -9 is
// published by one of the others, once.
func TestClusterWillOfKilledNode(t *testing.T) {
	nodes := runCluster(t, 3)
	n1, n3 := nodes[0], nodes[2]
	watcher := record(t, n1.addr, client.Options{ClientID: "watcher", ProtocolVersion: client.MQTT5}, client.Subscription{Filter: "w/#", QoS: 1})
	record(t, n3.addr, client.Options{ClientID: "dev", Will: &client.Will{Topic: "w/dev", Payload: []byte("offline"), QoS: 1}})
	time.Sleep(time.Second) // the will reaches the other nodes
	n3.kill()
	// The QoS 1 will waits for the take-over of n3's sessions, which
	// waits for JetStream to elect successors to what n3 led: under
	// load, longer than bridgeWait.
	if !watcher.awaitWithin(3*bridgeWait, func(got []received, _ map[string]int) bool { return len(got) >= 1 }) {
		t.Fatalf("the will of n3's client: not within %v", 3*bridgeWait)
	}
	time.Sleep(2 * time.Second)
	if got, _ := watcher.snapshot(); len(got) != 1 || got[0].topic != "w/dev" || got[0].payload != "offline" {
		t.Fatalf("after n3 was killed: %v, want the will of dev once", got)
	}
}

func TestClusterNodePaused(t *testing.T) {
	nodes, _ := faultRun(t, "SIGSTOP 5s", func(n2 *clusterNode) {
		if err := n2.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(5*time.Second, func() { n2.cmd.Process.Signal(syscall.SIGCONT) })
	})
	// Resumed, n2 is taken back.
	waitLog(t, "n1", nodes[0].log, "node n2 joined", 2)
	if strings.Count(nodes[0].log(), "node n2 is not answering") == 0 {
		t.Fatal("n1 never took the paused n2 as lost")
	}
}

// A persistent session outlives its node killed with kill -9: the QoS 1
// messages acknowledged while it was queued there, and those published
// after the node went, reach the client when it reconnects to another
// node, none lost and none twice.
func TestClusterSessionSurvivesKill(t *testing.T) {
	nodes := runCluster(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	for _, nd := range nodes {
		waitLog(t, nd.name, nd.log, "persistent sessions replicated on 3 nodes", 1)
	}
	opts := client.Options{ClientID: "dev", ProtocolVersion: client.MQTT5, KeepSession: true}
	opts.Properties.SessionExpiry = 300
	opts.Properties.Set(client.PropSessionExpiry)
	first := record(t, n2.addr, opts, client.Subscription{Filter: "s/#", QoS: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*bridgeWait)
	defer cancel()
	if err := first.c.Disconnect(ctx, client.Success, nil); err != nil {
		t.Fatal(err)
	}
	pub := publisher(t, n1.addr, "pub")
	const n = 300
	if acked, err := publishStream(ctx, pub, "s/a", "a", n, 10); err != nil || acked != n {
		t.Fatalf("before: %d of %d acknowledged: %v", acked, n, err)
	}
	n2.kill()
	waitLog(t, "n1", n1.log, "took over 1 persistent sessions of node n2", 1)
	if acked, err := publishStream(ctx, pub, "s/b", "b", n, 10); err != nil || acked != n {
		t.Fatalf("after: %d of %d acknowledged: %v", acked, n, err)
	}
	again := record(t, n3.addr, opts)
	if !again.c.Connack().SessionPresent {
		t.Fatal("the session did not outlive its node")
	}
	for _, s := range []string{"a", "b"} {
		again.waitStream(t, s, n)
		lost, dup, first := again.lostAndDuplicated(s, n)
		t.Logf("kill -9 of the session's node: stream %s, %d QoS 1 messages, %d lost, %d duplicated", s, n, lost, dup)
		if lost != 0 || dup != 0 {
			t.Fatalf("stream %s: %d lost (the first %s), %d duplicated", s, lost, first, dup)
		}
	}
}
