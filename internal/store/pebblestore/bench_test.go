package pebblestore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/midge-mqtt/midge/internal/store"
)

// BenchmarkApply measures durable (fsync'd) Applies per second with 1, 8
// and 64 concurrent writers, each Apply queueing one 64-byte QoS 1 message.
// With group commit, ops/s grows with writers while each Apply still waits
// for its fsync.
func BenchmarkApply(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := open(b, b.TempDir())
			defer s.Close()
			payload := make([]byte, 64)
			var done atomic.Int64 // Applies claimed so far, across writers
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				id := fmt.Sprintf("client-%d", w)
				wg.Go(func() {
					for seq := uint64(1); done.Add(1) <= int64(b.N); seq++ {
						o := &store.Outgoing{Seq: seq, QoS: 1, Message: store.Message{Topic: "bench/topic", QoS: 1, Payload: payload}}
						if err := s.Apply(context.Background(), store.PutOutgoing(id, o)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "applies/s")
		})
	}
}

// BenchmarkDiskPerMessage reports bytes on disk per stored 64-byte message
// (queued QoS 1 outgoing message, topic "bench/topic", client id
// "client-0000"), after a flush and compaction into sstables.
func BenchmarkDiskPerMessage(b *testing.B) {
	const n = 100_000
	for range b.N {
		s := open(b, b.TempDir())
		ctx := context.Background()
		payload := make([]byte, 64)
		for i := range payload {
			payload[i] = byte(i * 7) // not all zero: compression would flatter it
		}
		ops := make([]store.Op, 0, 1000)
		outs := make([]store.Outgoing, 1000)
		for i := 0; i < n; i += len(outs) {
			ops = ops[:0]
			for j := range outs {
				outs[j] = store.Outgoing{Seq: uint64(i + j + 1), QoS: 1,
					Message: store.Message{Topic: "bench/topic", QoS: 1, Payload: payload, Origin: "publisher"}}
				ops = append(ops, store.PutOutgoing(fmt.Sprintf("client-%04d", j%100), &outs[j]))
			}
			if err := s.Apply(ctx, ops...); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Compact(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(s.DiskUsage())/n, "disk-bytes/msg")
		s.Close()
	}
}
