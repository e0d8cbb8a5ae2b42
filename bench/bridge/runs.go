package main

import (
	"context"
	"fmt"
	"time"

	"github.com/midge-mqtt/midge/bench/internal/harness"
	"github.com/midge-mqtt/midge/internal/cli/bench"
)

// loadConfig is the bench configuration of a load: publishers on the near
// broker, subscribers on the far one (filled in by measure).
func loadConfig(load string, qos byte, s *settings) bench.Config {
	cfg := bench.Config{Scenario: bench.Pairs, Publishers: 1, QoS: qos}
	if load == "fanin" {
		cfg = bench.Config{Scenario: bench.Fanin, Publishers: s.fanin, Subscribers: 1, QoS: qos}
	}
	cfg.Version = bench.V311
	cfg.Payload = s.payload
	cfg.Duration = s.duration
	cfg.Drain = s.drain
	return cfg
}

// loadTitle names a load and QoS in tables.
func loadTitle(load string, qos byte, s *settings) string {
	pubs := 1
	if load == "fanin" {
		pubs = s.fanin
	}
	return fmt.Sprintf("%d -> 1, QoS %d", pubs, qos)
}

// outcome is what one bridge did under one load.
type outcome struct {
	r bench.Result
	// CPU use over the whole run, in % of one core.
	nearCPU, farCPU, genCPU, otherCPU float64
	nearPeakRSS, farPeakRSS           int64
}

// measure starts a fresh pair of brokers bridged by l, runs cfg with the
// publishers on the near broker and the subscribers on the far one, and
// stops the brokers.
func measure(ctx context.Context, specs map[string]harness.Spec, dir string, s *settings, l link, cfg bench.Config) (*outcome, error) {
	p, err := startPair(ctx, specs, l, dir, s.limits, cfg.QoS, s.protocol)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	cfg.PubBrokers = []bench.Endpoint{{Addr: p.near.Addr}}
	cfg.SubBrokers = []bench.Endpoint{{Addr: p.far.Addr}}

	start := time.Now()
	near0, err1 := bench.ProcCPU(p.near.PID())
	far0, err2 := bench.ProcCPU(p.far.PID())
	self0, busy0 := bench.SelfCPU(), bench.MachineBusy()
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (brokers: %v)", l, err, p.alive())
	}
	window := time.Since(start).Seconds()
	near1, err1 := bench.ProcCPU(p.near.PID())
	far1, err2 := bench.ProcCPU(p.far.PID())
	self, busy := bench.SelfCPU()-self0, bench.MachineBusy()-busy0
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / window }
	out := &outcome{r: r, nearCPU: pct(near1 - near0), farCPU: pct(far1 - far0), genCPU: pct(self)}
	out.otherCPU = max(0, pct(busy-self-(near1-near0)-(far1-far0)))
	out.nearPeakRSS, err1 = bench.ProcPeakRSS(p.near.PID())
	out.farPeakRSS, err2 = bench.ProcPeakRSS(p.far.PID())
	if err := firstErr(err1, err2, p.alive()); err != nil {
		return nil, err
	}
	return out, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runCase measures every bridge under one load and QoS: as fast as
// possible, then at the fixed rate.
func runCase(ctx context.Context, specs map[string]harness.Spec, dir string, s *settings, order []link, load string, qos byte, res *results) error {
	title := loadTitle(load, qos, s)
	maxRates := map[link]float64{}
	for _, l := range order {
		m, err := measure(ctx, specs, dir, s, l, loadConfig(load, qos, s))
		if err != nil {
			return err
		}
		printRun(l, "as fast as possible", m)
		maxRates[l] = harness.MaxRate(&m.r)
		res.addMax(l, title, m)
	}
	if !s.latency {
		return nil
	}
	rate := s.rate
	if rate == 0 {
		rate = maxRates[res.ref] / 2
	}
	for _, l := range order {
		cfg := loadConfig(load, qos, s)
		cfg.Rate = rate
		m, err := measure(ctx, specs, dir, s, l, cfg)
		if err != nil {
			return err
		}
		printRun(l, fmt.Sprintf("at %.0f msg/s", rate), m)
		res.addFixed(l, title, m)
	}
	return nil
}

// printRun prints one line per finished run.
func printRun(l link, how string, m *outcome) {
	r := &m.r
	fmt.Printf("  %s %s: sent %d (%.0f msg/s), delivered %d (%.0f msg/s), lost %d of %d; latency p50 %v p99 %v; CPU near %.0f%% far %.0f%% generator %.0f%% others %.0f%%\n",
		l, how, r.Sent, r.SentRate, r.Delivered, r.DeliveredRate, r.Lost, r.Expected,
		r.Latency.P50.Round(time.Microsecond), r.Latency.P99.Round(time.Microsecond),
		m.nearCPU, m.farCPU, m.genCPU, m.otherCPU)
}
