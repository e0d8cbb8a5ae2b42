//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/client"
)

// hosts is a small network of network namespaces on one bridge: host i
// has the address 10.213.<net>.i, and this process reaches every host
// through the bridge's address .254.
type hosts struct {
	t      *testing.T
	net    int
	names  []string // namespace of host i+1
	bridge string
}

// netnsHosts makes n hosts, or skips the test where network namespaces
// cannot be made (not root, no ip, a container without the right); in
// CI a missing ip command fails instead.
func netnsHosts(t *testing.T, n int) *hosts {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the partition test needs ip (iproute2)")
		}
		t.Skip("ip (iproute2) not installed")
	}
	id := fmt.Sprintf("%04x", rand.IntN(0x10000))
	h := &hosts{t: t, net: 1 + rand.IntN(250), bridge: "mbr" + id}
	if out, err := exec.Command("ip", "link", "add", h.bridge, "type", "bridge").CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable here: ip link add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		for _, ns := range h.names {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
		_ = exec.Command("ip", "link", "del", h.bridge).Run()
	})
	h.ip("addr", "add", h.addr(254)+"/24", "dev", h.bridge)
	h.ip("link", "set", h.bridge, "up")
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("midge-%s-%d", id, i)
		outer, inner := fmt.Sprintf("mv%s%d", id, i), fmt.Sprintf("mp%s%d", id, i)
		h.ip("netns", "add", ns)
		h.names = append(h.names, ns)
		h.ip("link", "add", outer, "type", "veth", "peer", "name", inner)
		h.ip("link", "set", inner, "netns", ns)
		h.ip("link", "set", outer, "master", h.bridge, "up")
		h.ip("-n", ns, "addr", "add", h.addr(i)+"/24", "dev", inner)
		h.ip("-n", ns, "link", "set", inner, "up")
		h.ip("-n", ns, "link", "set", "lo", "up")
	}
	return h
}

func (h *hosts) addr(i int) string { return fmt.Sprintf("10.213.%d.%d", h.net, i) }

func (h *hosts) ip(args ...string) {
	h.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		h.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// cut makes hosts i and j unable to reach each other (cut: false
// undoes it); both still reach this process.
func (h *hosts) cut(i, j int, cut bool) {
	op := "add"
	if !cut {
		op = "del"
	}
	h.ip("-n", h.names[i-1], "route", op, "blackhole", h.addr(j)+"/32")
	h.ip("-n", h.names[j-1], "route", op, "blackhole", h.addr(i)+"/32")
}

// netnsCluster runs a node on each host, every one a peer of the others,
// and waits until they have all met.
func netnsCluster(t *testing.T, h *hosts) []*clusterNode {
	t.Helper()
	nodes := make([]*clusterNode, len(h.names))
	for i := range nodes {
		lines := []string{
			"listener 1883", "allow_anonymous true",
			"cluster_name t", fmt.Sprintf("cluster_node_name n%d", i+1),
			"cluster_listen " + h.addr(i+1) + ":7422",
		}
		for j := range nodes {
			if j != i {
				lines = append(lines, "cluster_peer "+h.addr(j+1)+":7422")
			}
		}
		nodes[i] = &clusterNode{name: fmt.Sprintf("n%d", i+1), addr: h.addr(i+1) + ":1883", midgeProcess: runMidgeIn(t, h.names[i], lines...)}
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

// TestClusterPartition cuts one node of three off from the other two in
// the middle of QoS 1 traffic. The two keep the quorum (cluster_quorum
// defaults to a majority): they go on, and lose or duplicate nothing. The
// one cut off sends its clients elsewhere (DISCONNECT 0x9C), refuses new
// connections and does not diverge; when the network heals it joins again
// and takes the retained messages set meanwhile.
func TestClusterPartition(t *testing.T) {
	h := netnsHosts(t, 3)
	nodes := netnsCluster(t, h)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	v5 := func(id string) client.Options {
		return client.Options{ClientID: id, ProtocolVersion: client.MQTT5}
	}
	sub := record(t, n2.addr, v5("sub"), client.Subscription{Filter: "p/#", QoS: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	onCut, err := client.Connect(ctx, client.Options{Address: n3.addr, ClientID: "on-cut", ProtocolVersion: client.MQTT5})
	if err != nil {
		t.Fatal(err)
	}
	defer onCut.Close()

	// A QoS 1 stream from n1 to n2 runs through the partition.
	pub := publisher(t, n1.addr, "pub")
	const total = 3000
	streamed := make(chan error, 1)
	go func() {
		// Paced, so that it runs before, through and after the cut.
		for i := range total {
			if _, err := pub.Publish(ctx, &client.Message{Topic: "p/s", Payload: []byte(seqPayload("s", i)), QoS: 1}); err != nil {
				streamed <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		streamed <- nil
	}()
	sub.waitFor(t, "the stream under way", func(got []received, _ map[string]int) bool { return len(got) >= total/10 })

	h.cut(3, 1, true)
	h.cut(3, 2, true)
	waitLog(t, "n3", n3.log, "nodes cluster_quorum needs in reach: refusing", 1)
	waitLog(t, "n1", n1.log, "node n3 is not answering", 1)
	waitLog(t, "n2", n2.log, "node n3 is not answering", 1)

	select {
	case <-onCut.Done():
		var de *client.DisconnectError
		if !errors.As(onCut.Err(), &de) || de.ReasonCode != client.UseAnotherServer {
			t.Errorf("the client of the node cut off: %v, want DISCONNECT Use another server", onCut.Err())
		}
	case <-time.After(10 * time.Second):
		t.Error("the node cut off kept its client")
	}
	_, err = client.Connect(ctx, client.Options{Address: n3.addr, ClientID: "late", ProtocolVersion: client.MQTT5})
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.ReasonCode != client.ServerUnavailable {
		t.Errorf("connecting to the node cut off: %v, want Server unavailable", err)
	}
	// A retained message set on the side with the quorum meanwhile.
	setter := publisher(t, n1.addr, "setter")
	if _, err := setter.Publish(ctx, &client.Message{Topic: "p/r", Payload: []byte("during"), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}

	if err := <-streamed; err != nil {
		t.Fatalf("the stream through the partition: %v", err)
	}
	sub.waitStream(t, "s", total)
	if lost, dups, first := sub.lostAndDuplicated("s", total); lost != 0 || dups != 0 {
		t.Errorf("through the partition: %d lost (first %s), %d duplicated of %d", lost, first, dups, total)
	}

	h.cut(3, 1, false)
	h.cut(3, 2, false)
	waitLog(t, "n3", n3.log, "as cluster_quorum needs: taking every message", 2)
	waitLog(t, "n3", n3.log, "retained messages from node", 2)
	back := record(t, n3.addr, v5("back"), client.Subscription{Filter: "p/r", QoS: 1})
	back.waitFor(t, "the retained message set during the partition", func(got []received, _ map[string]int) bool {
		return len(got) == 1 && got[0].payload == "during"
	})
	// The node back may learn of n2's subscriptions a moment after its
	// retained messages: publish until one arrives.
	after := publisher(t, n3.addr, "after")
	for i := 0; ; i++ {
		if _, err := after.Publish(ctx, &client.Message{Topic: "p/after", Payload: []byte("healed"), QoS: 1}); err != nil {
			t.Fatalf("publishing on the node back: %v", err)
		}
		if sub.awaitWithin(time.Second, func(_ []received, copies map[string]int) bool { return copies["healed"] > 0 }) || i == 10 {
			break
		}
	}
	sub.waitFor(t, "a message published on the node back", func(_ []received, copies map[string]int) bool { return copies["healed"] > 0 })
}

// TestClusterPartitionOfTheFirstNode cuts off n1, the node that takes
// over the sessions of lost nodes while it has the quorum. Cut off, it
// has not: it takes none of the others' sessions (it may see one of them
// lost while the other still counts); healed, their persistent sessions
// are where they were, with what was published for them meanwhile.
func TestClusterPartitionOfTheFirstNode(t *testing.T) {
	h := netnsHosts(t, 3)
	nodes := netnsCluster(t, h)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	for _, nd := range nodes {
		waitLog(t, nd.name, nd.log, "persistent sessions replicated on 3 nodes", 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keep := func(id string) client.Options {
		o := client.Options{ClientID: id, ProtocolVersion: client.MQTT5, KeepSession: true}
		o.Properties.SessionExpiry = 300
		o.Properties.Set(client.PropSessionExpiry)
		return o
	}
	for _, nd := range []*clusterNode{n2, n3} {
		r := record(t, nd.addr, keep("on-"+nd.name), client.Subscription{Filter: "s/#", QoS: 1})
		if err := r.c.Disconnect(ctx, client.Success, nil); err != nil {
			t.Fatal(err)
		}
	}

	h.cut(1, 2, true)
	h.cut(1, 3, true)
	waitLog(t, "n1", n1.log, "nodes cluster_quorum needs in reach: refusing", 1)
	waitLog(t, "n2", n2.log, "node n1 is not answering", 1)
	waitLog(t, "n3", n3.log, "node n1 is not answering", 1)
	pub := publisher(t, n3.addr, "pub")
	const n = 50
	if acked, err := publishStream(ctx, pub, "s/a", "a", n, 10); err != nil || acked != n {
		t.Fatalf("during the partition: %d of %d acknowledged: %v", acked, n, err)
	}

	h.cut(1, 2, false)
	h.cut(1, 3, false)
	waitLog(t, "n1", n1.log, "as cluster_quorum needs: taking every message", 2)
	// Past the moment a take-over n1 started while cut off would be
	// done.
	time.Sleep(6 * time.Second)
	for _, other := range []string{"n2", "n3"} {
		if strings.Contains(n1.log(), "persistent sessions of node "+other) {
			t.Fatalf("n1, cut off, took over the sessions of %s, which was not lost", other)
		}
	}
	for _, nd := range []*clusterNode{n2, n3} {
		again := record(t, nd.addr, keep("on-"+nd.name))
		if !again.c.Connack().SessionPresent {
			t.Fatalf("the session on %s did not outlive the partition of n1", nd.name)
		}
		again.waitStream(t, "a", n)
		if lost, dup, first := again.lostAndDuplicated("a", n); lost != 0 || dup != 0 {
			t.Fatalf("session on %s: %d lost (the first %s), %d duplicated", nd.name, lost, first, dup)
		}
	}
}
