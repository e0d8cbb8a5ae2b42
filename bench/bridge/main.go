// Command bridge measures the throughput and latency of one MQTT bridge
// between two brokers, for several kinds of bridge side by side: midge
// bridging to Mosquitto, midge to midge and Mosquitto to Mosquitto (and
// Mosquitto to midge on request).
//
// Usage, from the repository root:
//
//	go run ./bench/bridge [-bridges midge-mosquitto,midge-midge,mosquitto-mosquitto]
//	    [-loads single,fanin] [-fanin 10] [-q 0,1] [-d 10s] [-rate 0] [-latency=true]
//	    [-rounds 1] [-payload 64] [-inflight 100] [-queued 10000]
//	    [-bridge-protocol mqttv311] [-set-tcp-nodelay true|false]
//	    [-out FILE] [-midge BINARY] [-mosquitto BINARY]
//
// For every round, load, QoS and bridge it starts two fresh brokers on
// loopback ports, the near one with a `connection` block that bridges
// bench/# out to the far one, waits until a probe message crosses, and
// runs the load of midge bench with its publishers on the near broker and
// its subscribers on the far one: as fast as the brokers take it, and at a
// fixed rate for latency. It prints the medians over the rounds with the
// ratio of each bridge to Mosquitto's. See bench/README.md.
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
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		os.Exit(1)
	}
}

// settings are the command line's load and broker parameters.
type settings struct {
	links    []link
	loads    []string
	fanin    int // publishers of the fanin load
	qos      []byte
	duration time.Duration
	drain    time.Duration
	rate     float64 // fixed rate of the latency runs; 0 for half the reference's maximum
	latency  bool    // run the fixed-rate runs
	rounds   int
	payload  int
	limits   limits
	protocol string // bridge_protocol_version
}

const defaultLinks = "midge-mosquitto,midge-midge,mosquitto-mosquitto"

func run() error {
	var (
		linkList = flag.String("bridges", defaultLinks, "comma-separated bridges NEAR-FAR to measure, each broker midge or mosquitto")
		loadList = flag.String("loads", "single,fanin", "comma-separated loads: single (1 publisher -> 1 subscriber), fanin (-fanin publishers -> 1 subscriber)")
		fanin    = flag.Int("fanin", 10, "fanin: publishers, each on its own topic")
		qosList  = flag.String("q", "0,1", "comma-separated QoS levels of the messages, the subscriptions and the bridge's topic (0, 1 or 2)")
		duration = flag.Duration("d", 10*time.Second, "how long each run publishes")
		drain    = flag.Duration("drain", 3*time.Second, "how long each run waits for deliveries after publishing")
		rate     = flag.Float64("rate", 0, "messages per second of the latency runs (0: half of the reference bridge's maximum for the same load and QoS in the same round)")
		latency  = flag.Bool("latency", true, "also run every load at a fixed rate, for latency")
		rounds   = flag.Int("rounds", 1, "rounds to run; the bridges' order flips every round and the tables show medians")
		payload  = flag.Int("payload", 64, "payload size in bytes (at least 8, for the timestamp)")
		inflight = flag.Int("inflight", 100, "max_inflight_messages of every broker (and so of every bridge)")
		queued   = flag.Int("queued", 10000, "max_queued_messages of every broker")
		protocol = flag.String("bridge-protocol", "mqttv311", "bridge_protocol_version of the bridges: mqttv311 or mqttv50")
		nodelay  = flag.String("set-tcp-nodelay", "", "set_tcp_nodelay of every broker: true or false (default: each broker's own, midge true, Mosquitto false)")
		out      = flag.String("out", "", "also write the results as markdown to this file")
		midgeBin = flag.String("midge", "", "use this midge binary instead of building ./cmd/midge")
		mosqBin  = flag.String("mosquitto", "", "mosquitto binary (default: found on PATH or in the sbin directories)")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}
	s := settings{fanin: *fanin, duration: *duration, drain: *drain, rate: *rate, latency: *latency,
		rounds: *rounds, payload: *payload, limits: limits{inflight: *inflight, queued: *queued, nodelay: *nodelay}, protocol: *protocol}
	if err := s.parse(*linkList, *loadList, *qosList); err != nil {
		return err
	}
	if _, err := harness.RaiseFileLimit(); err != nil {
		return err
	}

	// Interrupts cancel the run; deferred stops then end the brokers.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "midge-bridge-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	specs, err := brokerSpecs(ctx, s.links, dir, *midgeBin, *mosqBin)
	if err != nil {
		return err
	}
	machine := describe(specs, &s)
	for _, line := range machine {
		fmt.Println(line)
	}

	res := newResults(s.links, s.reference())
	for r := 1; r <= s.rounds; r++ {
		order := slices.Clone(s.links)
		if r%2 == 0 {
			slices.Reverse(order) // no bridge always goes first
		}
		for _, load := range s.loads {
			for _, qos := range s.qos {
				fmt.Printf("round %d/%d: %s\n", r, s.rounds, loadTitle(load, qos, &s))
				if err := runCase(ctx, specs, dir, &s, order, load, qos, res); err != nil {
					return fmt.Errorf("round %d: %w", r, err)
				}
			}
		}
	}

	rep := report{machine: machine, command: harness.CommandLine("go run ./bench/bridge"), tables: res.tables(s.rounds), lossCheck: res.lossCheck()}
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
func (s *settings) parse(links, loads, qos string) error {
	for _, f := range harness.SplitList(links) {
		l, err := parseLink(f)
		if err != nil {
			return err
		}
		s.links = append(s.links, l)
	}
	for _, f := range harness.SplitList(loads) {
		if f != "single" && f != "fanin" {
			return fmt.Errorf("unknown load %q (want single or fanin)", f)
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
	case len(s.links) == 0 || len(s.loads) == 0 || len(s.qos) == 0:
		return errors.New("-bridges, -loads and -q must name at least one each")
	case s.fanin < 1:
		return errors.New("-fanin must be positive")
	case s.duration <= 0 || s.drain < 0:
		return errors.New("-d must be positive and -drain not negative")
	case s.rate < 0:
		return errors.New("-rate must not be negative")
	case s.rounds < 1:
		return errors.New("-rounds must be at least 1")
	case s.payload < 8:
		return errors.New("-payload must be at least 8 bytes (the send timestamp)")
	case s.limits.inflight < 1 || s.limits.inflight > 65535 || s.limits.queued < 0:
		return errors.New("-inflight must be 1 to 65535 and -queued not negative")
	case s.limits.nodelay != "" && s.limits.nodelay != "true" && s.limits.nodelay != "false":
		return fmt.Errorf("-set-tcp-nodelay %q: want true or false", s.limits.nodelay)
	case s.protocol != "mqttv311" && s.protocol != "mqttv50":
		return fmt.Errorf("-bridge-protocol %q: want mqttv311 or mqttv50", s.protocol)
	}
	return nil
}

// reference is the bridge the others are compared with, and whose
// maximum sets the latency runs' rate: Mosquitto's own if it is measured.
func (s *settings) reference() link {
	ref := link{near: "mosquitto", far: "mosquitto"}
	if slices.Contains(s.links, ref) {
		return ref
	}
	return s.links[0]
}

func brokerSpecs(ctx context.Context, links []link, dir, midgeBin, mosqBin string) (map[string]harness.Spec, error) {
	specs := map[string]harness.Spec{}
	for _, l := range links {
		for _, name := range []string{l.near, l.far} {
			if _, ok := specs[name]; ok {
				continue
			}
			path, err := harness.BrokerPath(ctx, name, dir, map[string]string{"midge": midgeBin, "mosquitto": mosqBin}[name])
			if err != nil {
				return nil, err
			}
			specs[name] = harness.Spec{Name: name, Path: path}
		}
	}
	return specs, nil
}

// describe returns the lines that say where and how the figures were
// measured.
func describe(specs map[string]harness.Spec, s *settings) []string {
	var list []harness.Spec
	for _, name := range []string{"midge", "mosquitto"} {
		if spec, ok := specs[name]; ok {
			list = append(list, spec)
		}
	}
	lines := harness.Machine(list)
	names := make([]string, len(s.links))
	for i, l := range s.links {
		names[i] = l.String()
	}
	qos := make([]string, len(s.qos))
	for i, q := range s.qos {
		qos[i] = strconv.Itoa(int(q))
	}
	rate := "at half of " + s.reference().String() + "'s maximum"
	if s.rate > 0 {
		rate = fmt.Sprintf("at %.0f msg/s", s.rate)
	}
	if !s.latency {
		rate = "not run"
	}
	nodelay := "set_tcp_nodelay each broker's default"
	if s.limits.nodelay != "" {
		nodelay = "set_tcp_nodelay " + s.limits.nodelay
	}
	lines = append(lines,
		fmt.Sprintf("bridges: %s; bridge_protocol_version %s; max_inflight_messages %d, max_queued_messages %d, %s on every broker",
			strings.Join(names, ", "), s.protocol, s.limits.inflight, s.limits.queued, nodelay),
		fmt.Sprintf("load: %s; QoS %s; MQTT 3.1.1 clients; %d-byte payloads; %v per run as fast as possible, latency runs %s; %d round(s)",
			strings.Join(s.loads, ", "), strings.Join(qos, ", "), s.payload, s.duration, rate, s.rounds))
	return lines
}
