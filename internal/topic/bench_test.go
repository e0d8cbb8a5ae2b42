package topic

import (
	"fmt"
	"strconv"
	"testing"
)

// benchTree returns a tree of 100k subscriptions shaped like a fleet of
// devices: mostly literal filters, one '+' per device, a '+' in the middle,
// '#' per site, shared groups and a few firehose "#" subscribers.
func benchTree() *Tree[int] {
	tr := NewTree[int]()
	const devices = 50000
	for i := range devices {
		tr.Subscribe(i, "dev/"+strconv.Itoa(i)+"/telemetry", Options{QoS: 1}) // 50k literal
	}
	for i := range 25000 {
		tr.Subscribe(i, "dev/"+strconv.Itoa(i)+"/+", Options{}) // 25k single-level
	}
	for i := range 10000 {
		tr.Subscribe(devices+i, "dev/+/cmd/"+strconv.Itoa(i), Options{}) // 10k '+' in the middle
	}
	for i := range 10000 {
		tr.Subscribe(devices+i, "site/"+strconv.Itoa(i%1000)+"/#", Options{}) // 10k multi-level
	}
	for i := range 4990 {
		tr.Subscribe(i, fmt.Sprintf("$share/g%d/dev/%d/telemetry", i%3, i), Options{}) // shared
	}
	for i := range 10 {
		tr.Subscribe(-1-i, "#", Options{})
	}
	return tr
}

func benchNames() []string {
	names := make([]string, 1024)
	for i := range names {
		switch i % 4 {
		case 0, 1:
			names[i] = fmt.Sprintf("dev/%d/telemetry", i*37%50000)
		case 2:
			names[i] = fmt.Sprintf("dev/%d/cmd/%d", i*37%50000, i%10000)
		default:
			names[i] = fmt.Sprintf("site/%d/floor/%d", i%1000, i)
		}
	}
	return names
}

func BenchmarkTreeMatch(b *testing.B) {
	tr, names := benchTree(), benchNames()
	var m Matches[int]
	matched := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Reset()
		tr.Match(names[i%len(names)], &m)
		matched += len(m.Subs) + len(m.Shared)
		i++
	}
	b.ReportMetric(float64(matched)/float64(i), "matches/op")
}

func BenchmarkTreeMatchParallel(b *testing.B) {
	tr, names := benchTree(), benchNames()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var m Matches[int]
		for i := 0; pb.Next(); i++ {
			m.Reset()
			tr.Match(names[i%len(names)], &m)
		}
	})
}

// BenchmarkSubscribe adds new filters to a tree of 100k subscriptions,
// each creating a level under a node with 50k children.
func BenchmarkSubscribe(b *testing.B) {
	tr := benchTree()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Subscribe(i, "dev/"+strconv.Itoa(100000+i)+"/telemetry", Options{})
		i++
	}
}

// BenchmarkSubscribeUnsubscribe is churn: a filter created and pruned.
func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	tr := benchTree()
	filters := make([]string, 1024)
	for i := range filters {
		filters[i] = "dev/" + strconv.Itoa(100000+i) + "/+"
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := filters[i%len(filters)]
		tr.Subscribe(i, f, Options{})
		tr.Unsubscribe(i, f)
		i++
	}
}

// BenchmarkSubscribeCrowded subscribes to a filter that already has 100k
// subscribers.
func BenchmarkSubscribeCrowded(b *testing.B) {
	tr := NewTree[int]()
	for i := range 100000 {
		tr.Subscribe(i, "broadcast/all", Options{})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Subscribe(100000+i%1000, "broadcast/all", Options{QoS: byte(i % 3)})
		i++
	}
}

// benchRetained holds 100k retained topics: 100 buildings x 100 rooms x 10
// sensors, plus a few $SYS topics.
func benchRetained() *Retained[int] {
	r := NewRetained[int]()
	for b := range 100 {
		for room := range 100 {
			for s := range 10 {
				r.Set(fmt.Sprintf("bld/%d/%d/s%d", b, room, s), b*1000+room*10+s)
			}
		}
	}
	for i := range 20 {
		r.Set(fmt.Sprintf("$SYS/broker/%d", i), i)
	}
	return r
}

func BenchmarkRetainedMatch(b *testing.B) {
	r := benchRetained()
	for _, filter := range []string{
		"bld/42/17/s3",  // literal: one message
		"bld/42/17/+",   // 10 messages
		"bld/42/+/s3",   // 100 messages
		"bld/42/#",      // 1000 messages
		"bld/+/+/s3",    // 10k messages
		"+/+/+/s99",     // no message, but walks every room
		"$SYS/broker/+", // 20 messages
	} {
		b.Run(filter, func(b *testing.B) {
			b.ReportAllocs()
			n, ops := 0, 0
			count := func(string, int) bool { n++; return true }
			for b.Loop() {
				r.Match(filter, count)
				ops++
			}
			b.ReportMetric(float64(n)/float64(ops), "msgs/op")
		})
	}
}

func BenchmarkRetainedSet(b *testing.B) {
	r := benchRetained()
	names := make([]string, 1024)
	for i := range names {
		names[i] = fmt.Sprintf("bld/%d/%d/s%d", i%100, i*7%100, i%10)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Set(names[i%len(names)], i)
		i++
	}
}
