// Command cluster measures a midge cluster on this machine: the same load
// against a single midge and against clusters of 1, 2 and 3 nodes, with
// the publishers and subscribers spread so that messages cross between
// the nodes.
//
// Usage, from the repository root:
//
//	go run ./bench/cluster [-nodes 0,1,2,3] [-loads pairs,fanout] [-q 0,1]
//	    [-pairs 100] [-subscribers 50] [-fanin 50] [-d 10s] [-drain 3s]
//	    [-latency=true] [-rate 0] [-payload 64] [-inflight 100] [-queued 10000]
//	    [-out FILE] [-midge BINARY]
//
// Node count 0 is a plain midge without cluster options, the baseline. For
// every load, QoS and node count it starts fresh nodes on loopback ports
// (MQTT listener and NATS route port each), waits until a probe message
// crosses from every node to every other, and runs midge bench's load
// through the nodes: as fast as they take it, then at one fixed rate for
// every node count, for latency. Every run reports each node's CPU, so
// that what the machine's cores allow can be told from what the cluster
// costs. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/midge-mqtt/midge/bench/internal/harness"
	"github.com/midge-mqtt/midge/internal/cli/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// settings are the command line's load and node parameters.
type settings struct {
	nodes       []int
	loads       []string
	qos         []byte
	pairs       int // pairs: publisher/subscriber pairs
	subscribers int // fanout: subscribers of the one publisher
	fanin       int // fanin: publishers to the one subscriber
	duration    time.Duration
	drain       time.Duration
	rate        float64 // fixed rate of the latency runs; 0: half the lowest maximum
	latency     bool
	payload     int
	inflight    int
	queued      int
	persistent  bool // subscribers keep their sessions
}

func run() error {
	var (
		nodeList = flag.String("nodes", "0,1,2,3", "comma-separated node counts to measure; 0 is one midge without cluster options")
		loadList = flag.String("loads", "pairs,fanout", "comma-separated loads: pairs, fanout, fanin")
		qosList  = flag.String("q", "0,1", "comma-separated QoS levels of the messages and subscriptions (0, 1 or 2)")
		pairs    = flag.Int("pairs", 100, "pairs: publisher/subscriber pairs")
		subs     = flag.Int("subscribers", 50, "fanout: subscribers of the one publisher")
		fanin    = flag.Int("fanin", 50, "fanin: publishers to the one subscriber")
		duration = flag.Duration("d", 10*time.Second, "how long each run publishes")
		drain    = flag.Duration("drain", 3*time.Second, "how long each run waits for deliveries after publishing")
		rate     = flag.Float64("rate", 0, "messages per second of the latency runs (0: half of the lowest maximum over the node counts)")
		latency  = flag.Bool("latency", true, "also run every load at a fixed rate, for latency")
		payload  = flag.Int("payload", 64, "payload size in bytes (at least 8, for the timestamp)")
		inflight = flag.Int("inflight", 100, "max_inflight_messages of every node")
		queued   = flag.Int("queued", 10000, "max_queued_messages of every node")
		out      = flag.String("out", "", "also write the results as markdown to this file")
		persist  = flag.Bool("persistent", false, "subscribers keep a session (clean session off): with a cluster, their messages go through the session replicas")
		midgeBin = flag.String("midge", "", "use this midge binary instead of building ./cmd/midge")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}
	s := settings{pairs: *pairs, subscribers: *subs, fanin: *fanin, duration: *duration, drain: *drain, rate: *rate,
		latency: *latency, payload: *payload, inflight: *inflight, queued: *queued, persistent: *persist}
	if err := s.parse(*nodeList, *loadList, *qosList); err != nil {
		return err
	}
	if _, err := harness.RaiseFileLimit(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "midge-cluster-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path, err := harness.BrokerPath(ctx, "midge", dir, *midgeBin)
	if err != nil {
		return err
	}
	spec := harness.Spec{Name: "midge", Path: path}
	machine := append(harness.Machine([]harness.Spec{spec}), s.describe())
	for _, line := range machine {
		fmt.Println(line)
	}

	var sections []section
	for _, load := range s.loads {
		for _, qos := range s.qos {
			sec, err := runCase(ctx, spec, dir, &s, load, qos)
			if err != nil {
				return err
			}
			sections = append(sections, sec)
		}
	}
	rep := report{machine: machine, command: harness.CommandLine("go run ./bench/cluster"), sections: sections}
	fmt.Println()
	fmt.Print(rep.text())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(rep.markdown()), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		fmt.Printf("\nwrote %s\n", *out)
	}
	return nil
}

// parse fills in the lists of the command line and checks the settings.
func (s *settings) parse(nodes, loads, qos string) error {
	for _, f := range harness.SplitList(nodes) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 9 {
			return fmt.Errorf("-nodes: %q is not a node count from 0 to 9", f)
		}
		s.nodes = append(s.nodes, n)
	}
	for _, f := range harness.SplitList(loads) {
		if f != "pairs" && f != "fanout" && f != "fanin" {
			return fmt.Errorf("unknown load %q (want pairs, fanout or fanin)", f)
		}
		s.loads = append(s.loads, f)
	}
	for _, f := range harness.SplitList(qos) {
		q, err := strconv.Atoi(f)
		if err != nil || q < 0 || q > 2 {
			return fmt.Errorf("-q: %q is not 0, 1 or 2", f)
		}
		s.qos = append(s.qos, byte(q))
	}
	switch {
	case len(s.nodes) == 0 || len(s.loads) == 0 || len(s.qos) == 0:
		return errors.New("-nodes, -loads and -q must name at least one each")
	case s.pairs < 1 || s.subscribers < 1 || s.fanin < 1:
		return errors.New("-pairs, -subscribers and -fanin must be positive")
	case s.duration <= 0 || s.drain < 0:
		return errors.New("-d must be positive and -drain not negative")
	case s.rate < 0:
		return errors.New("-rate must not be negative")
	case s.payload < 8:
		return errors.New("-payload must be at least 8 bytes (the send timestamp)")
	case s.inflight < 1 || s.inflight > 65535 || s.queued < 0:
		return errors.New("-inflight must be 1 to 65535 and -queued not negative")
	}
	return nil
}

func (s *settings) describe() string {
	rate := "at half of the lowest maximum"
	if s.rate > 0 {
		rate = fmt.Sprintf("at %.0f msg/s", s.rate)
	}
	if !s.latency {
		rate = "not run"
	}
	return fmt.Sprintf("max_inflight_messages %d, max_queued_messages %d on every node; MQTT 3.1.1 clients; %d-byte payloads; %v per run as fast as possible, latency runs %s",
		s.inflight, s.queued, s.payload, s.duration, rate)
}

// loadConfig is the bench configuration of a load through the nodes at
// addrs, placed so that messages cross between nodes wherever there is
// more than one:
//
//   - pairs: publisher i on node i mod n, its subscriber on the next node;
//   - fanout: the publisher on the first node, the subscribers spread
//     over all (so a share (n-1)/n of the deliveries cross);
//   - fanin: the publishers spread over all nodes, the subscriber on the
//     first.
func loadConfig(load string, qos byte, s *settings, addrs []string) bench.Config {
	all := endpoints(addrs)
	first := all[:1]
	var cfg bench.Config
	switch load {
	case "pairs":
		next := append(slices.Clone(all[1:]), all[0])
		cfg = bench.Config{Scenario: bench.Pairs, Publishers: s.pairs, Subscribers: s.pairs, PubBrokers: all, SubBrokers: next}
	case "fanout":
		cfg = bench.Config{Scenario: bench.Fanout, Publishers: 1, Subscribers: s.subscribers, PubBrokers: first, SubBrokers: all}
	default:
		cfg = bench.Config{Scenario: bench.Fanin, Publishers: s.fanin, Subscribers: 1, PubBrokers: all, SubBrokers: first}
	}
	cfg.QoS = qos
	cfg.Version = bench.V311
	cfg.Payload = s.payload
	cfg.Duration = s.duration
	cfg.Drain = s.drain
	cfg.Inflight = s.inflight
	cfg.Persistent = s.persistent
	return cfg
}

func endpoints(addrs []string) []bench.Endpoint {
	out := make([]bench.Endpoint, len(addrs))
	for i, a := range addrs {
		out[i] = bench.Endpoint{Addr: a}
	}
	return out
}

// loadTitle names a load and QoS in tables.
func loadTitle(load string, qos byte, s *settings) string {
	switch load {
	case "pairs":
		return fmt.Sprintf("%d pairs, QoS %d", s.pairs, qos)
	case "fanout":
		return fmt.Sprintf("fan-out 1 -> %d, QoS %d", s.subscribers, qos)
	}
	return fmt.Sprintf("fan-in %d -> 1, QoS %d", s.fanin, qos)
}

func nodesTitle(n int) string {
	switch n {
	case 0:
		return "midge, no cluster"
	case 1:
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

// outcome is what one run measured.
type outcome struct {
	r       bench.Result
	nodeCPU []float64 // per node, % of one core over the run
	genCPU  float64
	peakRSS []int64
}

// measure starts n fresh nodes, runs the load through them and stops them.
func measure(ctx context.Context, spec harness.Spec, dir string, s *settings, n int, load string, qos byte, rate float64) (*outcome, error) {
	c, err := startCluster(ctx, spec, dir, n, s)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	cfg := loadConfig(load, qos, s, c.addrs())
	cfg.Rate = rate

	start := time.Now()
	cpu0, err := c.cpu()
	if err != nil {
		return nil, err
	}
	self0 := bench.SelfCPU()
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (nodes: %v)", nodesTitle(n), err, c.alive())
	}
	window := time.Since(start).Seconds()
	cpu1, err := c.cpu()
	if err != nil {
		return nil, err
	}
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / window }
	out := &outcome{r: r, genCPU: pct(bench.SelfCPU() - self0)}
	for i := range cpu1 {
		out.nodeCPU = append(out.nodeCPU, pct(cpu1[i]-cpu0[i]))
		rss, err := bench.ProcPeakRSS(c.procs[i].PID())
		if err != nil {
			return nil, err
		}
		out.peakRSS = append(out.peakRSS, rss)
	}
	return out, c.alive()
}

// runCase measures every node count under one load and QoS: as fast as
// possible, then at one fixed rate.
func runCase(ctx context.Context, spec harness.Spec, dir string, s *settings, load string, qos byte) (section, error) {
	sec := section{title: loadTitle(load, qos, s), qos: qos}
	fmt.Println(sec.title)
	lowest := 0.0
	for _, n := range s.nodes {
		m, err := measure(ctx, spec, dir, s, n, load, qos, 0)
		if err != nil {
			return sec, err
		}
		printRun(n, "as fast as possible", m)
		sec.rows = append(sec.rows, row{nodes: n, max: m})
		if rate := harness.MaxRate(&m.r); lowest == 0 || rate < lowest {
			lowest = rate
		}
	}
	if !s.latency {
		return sec, nil
	}
	sec.rate = s.rate
	if sec.rate == 0 {
		sec.rate = lowest / 2
	}
	for i, n := range s.nodes {
		m, err := measure(ctx, spec, dir, s, n, load, qos, sec.rate)
		if err != nil {
			return sec, err
		}
		printRun(n, fmt.Sprintf("at %.0f msg/s", sec.rate), m)
		sec.rows[i].fixed = m
	}
	return sec, nil
}

func printRun(n int, how string, m *outcome) {
	r := &m.r
	fmt.Printf("  %s %s: sent %d (%.0f msg/s), delivered %d (%.0f msg/s), lost %d of %d; latency p50 %v p99 %v; CPU nodes %s, generator %.0f%%\n",
		nodesTitle(n), how, r.Sent, r.SentRate, r.Delivered, r.DeliveredRate, r.Lost, r.Expected,
		r.Latency.P50.Round(time.Microsecond), r.Latency.P99.Round(time.Microsecond), percents(m.nodeCPU), m.genCPU)
}

func percents(v []float64) string {
	parts := make([]string, len(v))
	for i, p := range v {
		parts[i] = fmt.Sprintf("%.0f%%", p)
	}
	return strings.Join(parts, " ")
}
