package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/cli/bench"
)

// BenchmarkCrossNode runs midge bench's pairs load through two nodes in
// this process, every subscriber on the other node than its publisher,
// and reports the delivered rate (run with -benchtime 1x: each iteration
// is a run of a few seconds). For profiles of the cluster's path; the
// figures to quote come from bench/cluster, with nodes as processes.
func BenchmarkCrossNode(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run("QoS"+string('0'+qos), func(b *testing.B) {
			crossNode(b, newCluster(b, 2), qos, false)
		})
	}
}

// BenchmarkCrossNodePersistent is BenchmarkCrossNode's QoS 1 load with
// persistent subscribers on three nodes that replicate sessions: every
// queued message and its acknowledgement go through the stream. The
// heartbeat is a node's default: the tests' 50 ms is lost under such a
// load.
func BenchmarkCrossNodePersistent(b *testing.B) {
	tc := routed3(b)
	tc.heartbeat = time.Second
	tc.startReplicated()
	crossNode(b, tc, 1, true)
}

// crossNode runs the pairs load over tc's first two nodes, each
// publisher's subscriber on the other node.
func crossNode(b *testing.B, tc *testCluster, qos byte, persistent bool) {
	for b.Loop() {
		r, err := bench.Run(context.Background(), bench.Config{Scenario: bench.Pairs, Publishers: 100, Subscribers: 100, QoS: qos, Persistent: persistent,
			PubBrokers: []bench.Endpoint{{Addr: tc.members[0].addr}, {Addr: tc.members[1].addr}},
			SubBrokers: []bench.Endpoint{{Addr: tc.members[1].addr}, {Addr: tc.members[0].addr}},
			Inflight:   100, Duration: 3 * time.Second, Drain: 3 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.DeliveredRate, "delivered/s")
		b.ReportMetric(float64(r.Lost), "lost")
	}
}
