// Command compare runs the same load against midge, Mosquitto and the
// multi-core peers mochi-mqtt and nats-server, one broker at a time on the
// same machine, and prints each broker's figures side by side with
// midge's ratio to each.
//
// Usage, from the repository root:
//
//	go run ./bench/compare [-brokers midge,mosquitto,mochi,nats] [-scenarios LIST]
//	    [-ref mosquitto] [-conns 10000] [-parallel 100] [-connect-conns 2000]
//	    [-connect-parallel 200] [-subs 50] [-qos 0] [-payload 64]
//	    [-duration 10s] [-rate 0] [-protocol 311] [-rounds 1]
//	    [-out FILE] [-write-docs] [-midge BINARY] [-mosquitto BINARY]
//	    [-mochi BINARY] [-nats BINARY]
//
// It builds midge from ./cmd/midge and the peers from bench/peers (a
// module of its own), starts each broker as a child process with the same
// generated config file on its own loopback port (the peers take its
// listener line and keep their defaults otherwise), and runs each scenario
// against a freshly started broker. The load itself comes
// from the bench package (midge bench). See bench/README.md for what each
// figure means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/midge-mqtt/midge/bench/internal/harness"
	"github.com/midge-mqtt/midge/internal/cli/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		brokerList   = flag.String("brokers", "midge,mosquitto,mochi,nats", "comma-separated brokers to run: midge, mosquitto, mochi, nats")
		scenarioList = flag.String("scenarios", defaultScenarios, "comma-separated scenarios: idle, connect, fanout, fanout-qos1, fanin, pairs, pairs-qos1, shared, latency-NAME (NAME one of the message scenarios), slow")
		ref          = flag.String("ref", "", "broker whose maximum rate sets the latency and slow scenarios' fixed rate (default mosquitto if it runs, else the first broker)")
		conns        = flag.Int("conns", 10000, "idle: number of idle connections")
		parallel     = flag.Int("parallel", 100, "connection attempts in flight at once (Mosquitto listens with a backlog of 100)")
		connConns    = flag.Int("connect-conns", 2000, "connect: clients that connect")
		connParallel = flag.Int("connect-parallel", 200, "connect: clients connecting at once")
		subs         = flag.Int("subs", 50, "fanout: number of subscribers")
		qos          = flag.Int("qos", 0, "fanout, shared, slow: QoS of subscriptions and messages (0, 1 or 2)")
		duration     = flag.Duration("duration", 10*time.Second, "how long each run publishes")
		rate         = flag.Float64("rate", 0, "fanout: messages per second to publish (0: as fast as the broker takes them)")
		payload      = flag.Int("payload", 64, "payload size in bytes (at least 8, for the timestamp)")
		protocol     = flag.String("protocol", "311", "MQTT version of the load: 311 or 5")
		rounds       = flag.Int("rounds", 1, "rounds to run; brokers alternate and the table shows medians")
		out          = flag.String("out", "", "also write the results as markdown to this file")
		writeDocs    = flag.Bool("write-docs", false, "also write the results to docs/benchmarks.md of the repository")
		midgeBin     = flag.String("midge", "", "use this midge binary instead of building ./cmd/midge")
		mosqBin      = flag.String("mosquitto", "", "mosquitto binary (default: found on PATH or in the sbin directories)")
		mochiBin     = flag.String("mochi", "", "mochi binary (default: built from bench/peers/mochi)")
		natsBin      = flag.String("nats", "", "nats binary (default: built from bench/peers/nats)")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}

	s := settings{conns: *conns, parallel: *parallel, connectConns: *connConns, connectParallel: *connParallel, subs: *subs, qos: byte(*qos), payload: *payload, duration: *duration, rate: *rate}
	switch *protocol {
	case "311", "3.1.1":
		s.version = bench.V311
	case "5":
		s.version = bench.V5
	default:
		return fmt.Errorf("-protocol %q: want 311 or 5", *protocol)
	}
	brokerNames := harness.SplitList(*brokerList)
	scenarioNames := harness.SplitList(*scenarioList)
	if err := validate(s, brokerNames, scenarioNames, *qos, *rounds); err != nil {
		return err
	}
	refName := *ref
	switch {
	case refName == "" && slices.Contains(brokerNames, "mosquitto"):
		refName = "mosquitto"
	case refName == "":
		refName = brokerNames[0]
	case !slices.Contains(brokerNames, refName):
		return fmt.Errorf("-ref %q is not among -brokers", refName)
	}
	if err := raiseFileLimit(s, scenarioNames); err != nil {
		return err
	}

	// Interrupts cancel the run; deferred stops then end the brokers.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := os.MkdirTemp("", "midge-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bins := map[string]string{"midge": *midgeBin, "mosquitto": *mosqBin, "mochi": *mochiBin, "nats": *natsBin}
	specs, err := brokerSpecs(ctx, brokerNames, dir, bins)
	if err != nil {
		return err
	}
	machine := describeMachine(specs, s, scenarioNames, *rounds, refName)
	for _, line := range machine {
		fmt.Println(line)
	}

	res := newResults(brokerNames)
	var lossCheck []string
	for r := 1; r <= *rounds; r++ {
		order := slices.Clone(specs)
		if r%2 == 0 {
			slices.Reverse(order) // neither broker always goes first
		}
		rd := newRound(order, refName, dir, s, res, &lossCheck)
		for _, name := range scenarioNames {
			fmt.Printf("round %d/%d: %s\n", r, *rounds, name)
			if err := rd.run(ctx, name); err != nil {
				return fmt.Errorf("round %d: %w", r, err)
			}
		}
	}

	rep := report{machine: machine, command: harness.CommandLine("go run ./bench/compare"), summary: res.summary(*rounds), full: res.table(*rounds), lossCheck: lossCheck}
	fmt.Println()
	fmt.Print(rep.text())
	var paths []string
	if *out != "" {
		paths = append(paths, *out)
	}
	if *writeDocs {
		root, err := harness.ModuleRoot(ctx)
		if err != nil {
			return err
		}
		paths = append(paths, filepath.Join(root, "docs", "benchmarks.md"))
	}
	for _, p := range paths {
		if err := writeReport(p, rep.markdown()); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		fmt.Printf("\nwrote %s\n", p)
	}
	return nil
}

// The generated part of a report file lies between these lines; what
// the file holds outside them (notes written by hand) is kept.
const (
	beginGenerated = "<!-- generated by bench/compare: begin -->"
	endGenerated   = "<!-- generated by bench/compare: end -->"
)

// writeReport writes the report md to path, replacing only the generated
// part of an existing file that has one.
func writeReport(path, md string) error {
	body := beginGenerated + "\n" + md + endGenerated + "\n"
	if old, err := os.ReadFile(path); err == nil {
		s := string(old)
		i, j := strings.Index(s, beginGenerated), strings.Index(s, endGenerated)
		if i >= 0 && j > i {
			body = s[:i] + body + strings.TrimPrefix(s[j+len(endGenerated):], "\n")
		}
	}
	return os.WriteFile(path, []byte(body), 0o644)
}

func validate(s settings, brokers, scens []string, qos, rounds int) error {
	if len(brokers) == 0 || len(scens) == 0 {
		return errors.New("-brokers and -scenarios must name at least one each")
	}
	for _, b := range brokers {
		if _, peer := harness.Peers[b]; b != "midge" && b != "mosquitto" && !peer {
			return fmt.Errorf("unknown broker %q (want midge, mosquitto, mochi or nats)", b)
		}
	}
	for _, sc := range scens {
		if !knownScenario(sc) {
			return fmt.Errorf("unknown scenario %q (want one of %s, or latency-NAME)", sc, defaultScenarios)
		}
	}
	switch {
	case s.conns < 1, s.parallel < 1, s.subs < 1, s.connectConns < 1, s.connectParallel < 1:
		return errors.New("-conns, -parallel, -connect-conns, -connect-parallel and -subs must be positive")
	case qos < 0 || qos > 2:
		return errors.New("-qos must be 0, 1 or 2")
	case s.payload < 8:
		return errors.New("-payload must be at least 8 bytes (the send timestamp)")
	case s.duration <= 0:
		return errors.New("-duration must be positive")
	case s.rate < 0:
		return errors.New("-rate must not be negative")
	case rounds < 1:
		return errors.New("-rounds must be at least 1")
	}
	return nil
}

// raiseFileLimit lifts this process's open-file limit to the hard limit.
// Setting it explicitly makes the broker children inherit the raised
// limit too; each side of the idle scenario needs one descriptor per
// connection.
func raiseFileLimit(s settings, scens []string) error {
	limit, err := harness.RaiseFileLimit()
	if err != nil {
		return err
	}
	need := uint64(max(s.subs, 200) + 100)
	if slices.Contains(scens, "idle") {
		need = max(need, uint64(s.conns+100))
	}
	if slices.Contains(scens, "connect") {
		need = max(need, uint64(s.connectConns+100))
	}
	if need > limit {
		return fmt.Errorf("the open-file limit is %d, too low for %d connections (raise it with ulimit -n)", limit, need-100)
	}
	return nil
}

func brokerSpecs(ctx context.Context, names []string, dir string, bins map[string]string) ([]harness.Spec, error) {
	var specs []harness.Spec
	for _, name := range names {
		path, err := harness.BrokerPath(ctx, name, dir, bins[name])
		if err != nil {
			return nil, err
		}
		specs = append(specs, harness.Spec{Name: name, Path: path})
	}
	return specs, nil
}
