package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/midge-mqtt/midge/bench/internal/harness"
	"github.com/midge-mqtt/midge/internal/cli/bench"
)

// round runs every scenario once on every broker, alternating brokers
// within each scenario. It remembers the maximum rates measured so far,
// which the latency and slow-subscriber scenarios derive their fixed
// offered rate from.
type round struct {
	specs    []harness.Spec // in this round's order
	ref      string         // the broker whose maximum sets the fixed rates (-ref)
	dir      string
	s        settings
	res      *results
	maxRates map[string]map[string]float64 // base scenario -> broker -> msg/s
	// fixedRuns keeps each broker's latency-fanout result for the slow
	// scenario, which compares against it.
	fixedRuns map[string]*bench.Result
	lossCheck *[]string // QoS 1/2 loss lines for the report
}

func newRound(specs []harness.Spec, ref, dir string, s settings, res *results, lossCheck *[]string) *round {
	return &round{specs: specs, ref: ref, dir: dir, s: s, res: res,
		maxRates: map[string]map[string]float64{}, fixedRuns: map[string]*bench.Result{}, lossCheck: lossCheck}
}

// withBroker starts a fresh broker, runs fn against it and stops it,
// whatever happens.
func (rd *round) withBroker(ctx context.Context, spec harness.Spec, fn func(t target) error) error {
	b, err := harness.Start(ctx, spec, rd.dir, brokerConfig)
	if err != nil {
		return err
	}
	defer b.Stop()
	if err := fn(target{name: spec.Name, addr: b.Addr, pid: b.PID()}); err != nil {
		return err
	}
	return b.Alive()
}

// load runs one bench configuration on a fresh broker.
func (rd *round) load(ctx context.Context, spec harness.Spec, name string, cfg bench.Config) (*bench.Result, error) {
	var r bench.Result
	err := rd.withBroker(ctx, spec, func(t target) error {
		var err error
		r, err = bench.Run(ctx, benchConfig(cfg, t, rd.s))
		return err
	})
	if err != nil {
		return nil, err
	}
	printRun(spec.Name+" "+name, &r)
	if r.Config.QoS > 0 {
		verdict := "no loss"
		if r.Lost > 0 {
			verdict = fmt.Sprintf("LOST %d of %d", r.Lost, r.Expected)
			fmt.Printf("  %s %s: %d messages lost at QoS %d\n", spec.Name, name, r.Lost, r.Config.QoS)
		}
		*rd.lossCheck = append(*rd.lossCheck, fmt.Sprintf("%s, %s (QoS %d): %d delivered, %s", spec.Name, name, r.Config.QoS, r.Delivered, verdict))
	}
	return &r, nil
}

func (rd *round) run(ctx context.Context, name string) error {
	switch {
	case name == "idle":
		return rd.onEach(ctx, name, runIdle)
	case name == "connect":
		return rd.onEach(ctx, name, runConnect)
	case name == "slow":
		return rd.runSlow(ctx)
	case strings.HasPrefix(name, "latency-"):
		return rd.runLatency(ctx, strings.TrimPrefix(name, "latency-"))
	}
	sc := loadScenarios()[name]
	title := sc.title(rd.s)
	for _, spec := range rd.specs {
		r, err := rd.load(ctx, spec, name, sc.cfg(rd.s))
		if err != nil {
			return fmt.Errorf("%s on %s: %w", name, spec.Name, err)
		}
		rd.noteMax(name, spec.Name, r)
		rd.res.add(spec.Name, loadMetrics(title, r))
	}
	return nil
}

// onEach runs a connection scenario once on a fresh broker of each kind
// and records its figures.
func (rd *round) onEach(ctx context.Context, name string, run func(context.Context, target, settings) ([]metric, error)) error {
	for _, spec := range rd.specs {
		err := rd.withBroker(ctx, spec, func(t target) error {
			ms, err := run(ctx, t, rd.s)
			rd.res.add(spec.Name, ms)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s on %s: %w", name, spec.Name, err)
		}
	}
	return nil
}

func (rd *round) noteMax(base, broker string, r *bench.Result) {
	if r.Config.Rate > 0 {
		return // not a maximum
	}
	if rd.maxRates[base] == nil {
		rd.maxRates[base] = map[string]float64{}
	}
	rd.maxRates[base][broker] = harness.MaxRate(r)
}

// fixedRate is half the reference broker's maximum for a base scenario,
// measured first if this round has not measured it yet.
func (rd *round) fixedRate(ctx context.Context, base string) (float64, error) {
	if rate, ok := rd.maxRates[base][rd.ref]; ok {
		return rate / 2, nil
	}
	sc := loadScenarios()[base]
	cfg := sc.cfg(rd.s)
	cfg.Rate = 0
	spec := rd.specs[slices.IndexFunc(rd.specs, func(b harness.Spec) bool { return b.Name == rd.ref })]
	fmt.Printf("  measuring %s's maximum for %s first\n", rd.ref, base)
	r, err := rd.load(ctx, spec, base+" (maximum)", cfg)
	if err != nil {
		return 0, fmt.Errorf("%s maximum on %s: %w", base, rd.ref, err)
	}
	rd.noteMax(base, rd.ref, r)
	return harness.MaxRate(r) / 2, nil
}

// runLatency offers half the reference broker's maximum rate for a base
// scenario to every broker and compares their latency percentiles.
func (rd *round) runLatency(ctx context.Context, base string) error {
	rate, err := rd.fixedRate(ctx, base)
	if err != nil {
		return err
	}
	sc := loadScenarios()[base]
	title := fmt.Sprintf("%s at half of %s's maximum", sc.title(rd.s), rd.ref)
	for _, spec := range rd.specs {
		cfg := sc.cfg(rd.s)
		cfg.Rate = rate
		r, err := rd.load(ctx, spec, fmt.Sprintf("latency-%s at %.0f msg/s", base, rate), cfg)
		if err != nil {
			return fmt.Errorf("latency-%s on %s: %w", base, spec.Name, err)
		}
		if base == "fanout" {
			rd.fixedRuns[spec.Name] = r
		}
		rd.res.add(spec.Name, []metric{
			{name: title + ": offered (msg/s)", value: rate, format: "%.0f", info: true},
			{name: title + ": latency p50 (ms)", value: ms(r.Latency.P50), format: "%.3f", lowerIsBetter: true},
			{name: title + ": latency p99 (ms)", value: ms(r.Latency.P99), format: "%.3f", lowerIsBetter: true, group: groupLatency},
			{name: title + ": latency p99.9 (ms)", value: ms(r.Latency.P999), format: "%.3f", lowerIsBetter: true},
			{name: title + ": lost (% of expected)", value: lostPct(r), format: "%.3f", lowerIsBetter: true},
			{name: title + ": broker CPU (% of a core)", value: r.BrokerCPUPercent, format: "%.0f", info: true},
			{name: title + ": generator CPU (% of a core)", value: r.GeneratorCPUPercent, format: "%.0f", info: true},
		})
	}
	return nil
}

// runSlow runs fan-out at the fixed rate with one extra subscriber that
// never reads, and compares the other subscribers' delivered rate and
// latency with the same run without it (latency-fanout's, or its own).
func (rd *round) runSlow(ctx context.Context) error {
	rate, err := rd.fixedRate(ctx, "fanout")
	if err != nil {
		return err
	}
	sc := loadScenarios()["fanout"]
	title := "slow subscriber: " + sc.title(rd.s) + " + 1 never reading, at half of " + rd.ref + "'s maximum"
	for _, spec := range rd.specs {
		cfg := sc.cfg(rd.s)
		cfg.Rate = rate
		without := rd.fixedRuns[spec.Name]
		if without == nil {
			if without, err = rd.load(ctx, spec, fmt.Sprintf("fanout at %.0f msg/s (no slow subscriber)", rate), cfg); err != nil {
				return fmt.Errorf("slow baseline on %s: %w", spec.Name, err)
			}
		}
		cfg.SlowSubscribers = 1
		with, err := rd.load(ctx, spec, fmt.Sprintf("fanout at %.0f msg/s + 1 slow subscriber", rate), cfg)
		if err != nil {
			return fmt.Errorf("slow on %s: %w", spec.Name, err)
		}
		rd.res.add(spec.Name, []metric{
			{name: title + ": delivered without it (msg/s)", value: without.DeliveredRate, format: "%.0f"},
			{name: title + ": delivered with it (msg/s)", value: with.DeliveredRate, format: "%.0f"},
			{name: title + ": delivered with / without (%)", value: 100 * with.DeliveredRate / max(without.DeliveredRate, 1), format: "%.1f", group: groupSlow},
			{name: title + ": latency p99 without it (ms)", value: ms(without.Latency.P99), format: "%.3f", lowerIsBetter: true},
			{name: title + ": latency p99 with it (ms)", value: ms(with.Latency.P99), format: "%.3f", lowerIsBetter: true},
			{name: title + ": others lost with it (% of expected)", value: lostPct(with), format: "%.3f", lowerIsBetter: true},
			{name: title + ": broker peak RSS without it (MB)", value: mb(without.BrokerPeakRSS), format: "%.1f", lowerIsBetter: true},
			{name: title + ": broker peak RSS with it (MB)", value: mb(with.BrokerPeakRSS), format: "%.1f", lowerIsBetter: true, group: groupSlow},
		})
	}
	return nil
}
