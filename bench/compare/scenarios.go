package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/internal/cli/bench"
)

// This file defines the comparison's scenarios on top of the bench
// package, which does all the load generation and measuring.

// Settling times around the idle scenario's memory readings, so that
// connection set-up work has finished before each.
const (
	idleSettleBefore = 1 * time.Second
	idleSettleAfter  = 2 * time.Second
)

// settings are the load parameters from the command line.
type settings struct {
	conns           int           // idle: connections to open
	parallel        int           // connection attempts in flight at once
	connectConns    int           // connect: connections opened ...
	connectParallel int           // ... this many at once
	subs            int           // fanout: subscribers
	qos             byte          // fanout, shared, slow: QoS
	payload         int           // message size in bytes
	duration        time.Duration // how long to publish
	rate            float64       // fanout: total messages per second, 0 for as fast as possible
	version         byte          // bench.V311 or bench.V5
}

// loadScenario is a message scenario: a bench configuration and a label.
type loadScenario struct {
	label string
	cfg   func(s settings) bench.Config
}

// loadScenarios are the throughput scenarios, run as fast as the broker
// takes the messages (fanout honours -rate). latency-NAME and slow reuse
// them.
func loadScenarios() map[string]loadScenario {
	return map[string]loadScenario{
		"fanout": {"fan-out 1 -> %d, QoS %d", func(s settings) bench.Config {
			return bench.Config{Scenario: bench.Fanout, Subscribers: s.subs, QoS: s.qos, Rate: s.rate}
		}},
		"fanout-qos1": {"fan-out 1 -> %[1]d, QoS 1", func(s settings) bench.Config {
			return bench.Config{Scenario: bench.Fanout, Subscribers: s.subs, QoS: 1, Rate: s.rate}
		}},
		"fanin": {"fan-in 50 -> 1, QoS 0", func(s settings) bench.Config {
			return bench.Config{Scenario: bench.Fanin, Publishers: 50, Subscribers: 1}
		}},
		"pairs": {"100 pairs, QoS 0", func(s settings) bench.Config {
			return bench.Config{Scenario: bench.Pairs, Publishers: 100}
		}},
		"pairs-qos1": {"100 pairs, QoS 1", func(s settings) bench.Config {
			return bench.Config{Scenario: bench.Pairs, Publishers: 100, QoS: 1}
		}},
		"shared": {"shared 1 -> 10 in one group, QoS %[2]d", func(s settings) bench.Config {
			return bench.Config{Scenario: bench.Shared, Subscribers: 10, QoS: s.qos}
		}},
	}
}

// label names a scenario in tables, with the settings filled in.
func (l loadScenario) title(s settings) string {
	if !strings.Contains(l.label, "%") {
		return l.label
	}
	return fmt.Sprintf(l.label, s.subs, s.qos)
}

// defaultScenarios is what go run ./bench/compare runs.
const defaultScenarios = "idle,connect,fanout,fanout-qos1,fanin,pairs,pairs-qos1,shared,latency-fanout,latency-pairs-qos1,slow"

// knownScenario reports whether name is a scenario this program runs.
func knownScenario(name string) bool {
	if name == "idle" || name == "connect" || name == "slow" {
		return true
	}
	_, ok := loadScenarios()[strings.TrimPrefix(name, "latency-")]
	return ok
}

// target is a started broker the bench package can measure.
type target struct {
	name string
	addr string
	pid  int
}

// benchConfig completes a scenario's configuration with what all runs share.
func benchConfig(cfg bench.Config, t target, s settings) bench.Config {
	cfg.Addr = t.addr
	cfg.BrokerPID = t.pid
	cfg.Payload = s.payload
	cfg.Duration = s.duration
	cfg.Parallel = s.parallel
	cfg.Version = s.version
	return cfg
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

// loadMetrics are the figures of a throughput run.
func loadMetrics(title string, r *bench.Result) []metric {
	out := []metric{
		{name: title + ": delivered (msg/s)", value: r.DeliveredRate, format: "%.0f", group: groupThroughput},
		{name: title + ": published (msg/s)", value: r.SentRate, format: "%.0f", info: true},
		{name: title + ": lost (% of expected)", value: lostPct(r), format: "%.3f", lowerIsBetter: true},
		{name: title + ": latency p50 (ms)", value: ms(r.Latency.P50), format: "%.3f", info: true},
		{name: title + ": latency p99 (ms)", value: ms(r.Latency.P99), format: "%.3f", info: true},
		{name: title + ": broker CPU (% of a core)", value: r.BrokerCPUPercent, format: "%.0f", info: true},
		{name: title + ": generator CPU (% of a core)", value: r.GeneratorCPUPercent, format: "%.0f", info: true},
		{name: title + ": other processes' CPU (% of a core)", value: r.OtherCPUPercent, format: "%.0f", info: true},
		{name: title + ": broker peak RSS (MB)", value: mb(r.BrokerPeakRSS), format: "%.1f", lowerIsBetter: true},
	}
	return out
}

func lostPct(r *bench.Result) float64 {
	if r.Expected == 0 {
		return 0
	}
	return 100 * float64(r.Lost) / float64(r.Expected)
}

// printRun prints one line per finished run, as the bench CLI would.
func printRun(name string, r *bench.Result) {
	fmt.Printf("  %s: sent %d (%.0f msg/s), delivered %d (%.0f msg/s), lost %d of %d; latency p50 %v p99 %v p99.9 %v; CPU broker %.0f%% generator %.0f%% others %.0f%%; peak RSS %.1f MB\n",
		name, r.Sent, r.SentRate, r.Delivered, r.DeliveredRate, r.Lost, r.Expected,
		r.Latency.P50.Round(time.Microsecond), r.Latency.P99.Round(time.Microsecond), r.Latency.P999.Round(time.Microsecond),
		r.BrokerCPUPercent, r.GeneratorCPUPercent, r.OtherCPUPercent, mb(r.BrokerPeakRSS))
}

// runIdle measures memory per idle connection and the connect rate.
func runIdle(ctx context.Context, t target, s settings) ([]metric, error) {
	if err := sleepCtx(ctx, idleSettleBefore); err != nil {
		return nil, err
	}
	overflows0 := listenOverflows()
	cfg := benchConfig(bench.Config{Scenario: bench.Idle, Connections: s.conns}, t, s)
	cfg.Duration = idleSettleAfter
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	overflows := listenOverflows() - overflows0
	fmt.Printf("  %s idle: RSS %.1f MB -> %.1f MB with %d connections: %.0f B/conn; connected in %v (%.0f conn/s, %d listen queue overflows)\n",
		t.name, mb(r.BrokerRSSBefore), mb(r.BrokerRSSAfter), s.conns, r.MemoryPerConnection,
		r.ConnectTime.Round(time.Millisecond), r.ConnectRate, overflows)
	return []metric{
		{name: "idle: RSS with no clients (MB)", value: mb(r.BrokerRSSBefore), format: "%.1f", lowerIsBetter: true},
		{name: fmt.Sprintf("idle: RSS with %d clients (MB)", s.conns), value: mb(r.BrokerRSSAfter), format: "%.1f", lowerIsBetter: true},
		{name: fmt.Sprintf("idle: memory per connection, %d connections (bytes)", s.conns), value: r.MemoryPerConnection, format: "%.0f", lowerIsBetter: true, group: groupMemory},
		{name: "idle: connect rate (conn/s)", value: r.ConnectRate, format: "%.0f"},
		{name: "idle: listen queue overflows", value: float64(overflows), format: "%.0f", info: true},
	}, nil
}

// runConnect measures a connect storm: s.connectConns clients connecting,
// s.connectParallel at a time, each timed from its dial to its CONNACK.
func runConnect(ctx context.Context, t target, s settings) ([]metric, error) {
	overflows0 := listenOverflows()
	cfg := benchConfig(bench.Config{Scenario: bench.Idle, Connections: s.connectConns}, t, s)
	cfg.Parallel = s.connectParallel
	cfg.Duration = 100 * time.Millisecond
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	overflows := listenOverflows() - overflows0
	l := r.ConnectLatency
	fmt.Printf("  %s connect: %d connections, %d at once, in %v (%.0f conn/s); dial to CONNACK p50 %v p99 %v max %v; %d listen queue overflows\n",
		t.name, s.connectConns, s.connectParallel, r.ConnectTime.Round(time.Millisecond), r.ConnectRate,
		l.P50.Round(time.Microsecond), l.P99.Round(time.Microsecond), l.Max.Round(time.Microsecond), overflows)
	title := fmt.Sprintf("connect: %d clients, %d at once", s.connectConns, s.connectParallel)
	return []metric{
		{name: title + ": rate (conn/s)", value: r.ConnectRate, format: "%.0f", group: groupConnect},
		{name: title + ": dial to CONNACK p99 (ms)", value: ms(l.P99), format: "%.2f", lowerIsBetter: true, group: groupConnect},
		{name: title + ": dial to CONNACK p50 (ms)", value: ms(l.P50), format: "%.2f", info: true},
		{name: title + ": broker CPU (% of a core)", value: r.BrokerCPUPercent, format: "%.0f", info: true},
		{name: title + ": listen queue overflows", value: float64(overflows), format: "%.0f", info: true},
	}, nil
}
