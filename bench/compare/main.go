// Command compare runs the same load against midge and Mosquitto, one
// broker at a time on the same machine, and prints each broker's figures
// side by side with their ratio.
//
// Usage, from the repository root:
//
//	go run ./bench/compare [-brokers midge,mosquitto] [-scenarios idle,fanout]
//	    [-conns 10000] [-parallel 100] [-subs 50] [-qos 0] [-payload 64]
//	    [-duration 10s] [-rate 0] [-rounds 1] [-out FILE]
//	    [-midge BINARY] [-mosquitto BINARY]
//
// It builds midge from ./cmd/midge, starts each broker as a child process
// with the same generated config file on its own loopback port, and runs
// each scenario against a freshly started broker. See bench/README.md for
// what each figure means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// settings are the load parameters shared by all scenarios.
type settings struct {
	conns    int           // idle: connections to open
	parallel int           // idle: connection attempts in flight at once
	subs     int           // fanout: subscribers
	qos      byte          // fanout: QoS of the subscriptions and messages
	payload  int           // fanout: message size in bytes
	duration time.Duration // fanout: how long to publish
	rate     float64       // fanout: messages per second to publish, 0 for as fast as possible
}

// scenario runs one load against a started broker and returns its figures.
type scenario func(ctx context.Context, b *brokerProc, s settings) ([]metric, error)

var scenarios = map[string]scenario{
	"idle":   runIdle,
	"fanout": runFanout,
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		brokerList   = flag.String("brokers", "midge,mosquitto", "comma-separated brokers to run: midge, mosquitto")
		scenarioList = flag.String("scenarios", "idle,fanout", "comma-separated scenarios to run: idle, fanout")
		conns        = flag.Int("conns", 10000, "idle: number of idle connections")
		parallel     = flag.Int("parallel", 100, "idle: connection attempts in flight at once (Mosquitto listens with a backlog of 100)")
		subs         = flag.Int("subs", 50, "fanout: number of subscribers")
		qos          = flag.Int("qos", 0, "fanout: QoS of subscriptions and messages (0 or 1)")
		duration     = flag.Duration("duration", 10*time.Second, "fanout: how long to publish")
		rate         = flag.Float64("rate", 0, "fanout: messages per second to publish (0: as fast as the broker takes them)")
		payload      = flag.Int("payload", 64, "fanout: payload size in bytes (at least 8, for the timestamp)")
		rounds       = flag.Int("rounds", 1, "rounds to run; brokers alternate and the table shows medians")
		out          = flag.String("out", "", "also write the results as a markdown table to this file")
		midgeBin     = flag.String("midge", "", "use this midge binary instead of building ./cmd/midge")
		mosqBin      = flag.String("mosquitto", "", "mosquitto binary (default: found on PATH or in the sbin directories)")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}

	s := settings{conns: *conns, parallel: *parallel, subs: *subs, qos: byte(*qos), payload: *payload, duration: *duration, rate: *rate}
	brokerNames := splitList(*brokerList)
	scenarioNames := splitList(*scenarioList)
	if err := validate(s, brokerNames, scenarioNames, *qos, *rounds); err != nil {
		return err
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

	specs, err := brokerSpecs(ctx, brokerNames, dir, *midgeBin, *mosqBin)
	if err != nil {
		return err
	}
	machine := describeMachine(specs, s, *rounds)
	for _, line := range machine {
		fmt.Println(line)
	}

	res := newResults(brokerNames)
	for round := 1; round <= *rounds; round++ {
		order := slices.Clone(specs)
		if round%2 == 0 {
			slices.Reverse(order) // neither broker always goes first
		}
		for _, name := range scenarioNames {
			for _, spec := range order {
				fmt.Printf("round %d/%d: %s on %s\n", round, *rounds, name, spec.name)
				ms, err := runOne(ctx, spec, dir, scenarios[name], s)
				if err != nil {
					return fmt.Errorf("round %d, %s on %s: %w", round, name, spec.name, err)
				}
				res.add(spec.name, ms)
			}
		}
	}

	table := res.table(*rounds)
	fmt.Println()
	fmt.Print(table.text())
	if *out != "" {
		md := markdownReport(machine, table)
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			return err
		}
		fmt.Printf("\nwrote %s\n", *out)
	}
	return nil
}

// runOne starts a fresh broker, runs one scenario against it and stops it,
// whatever happens.
func runOne(ctx context.Context, spec brokerSpec, dir string, sc scenario, s settings) ([]metric, error) {
	b, err := startBroker(ctx, spec, dir)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	return sc(ctx, b, s)
}

func validate(s settings, brokers, scens []string, qos, rounds int) error {
	if len(brokers) == 0 || len(scens) == 0 {
		return errors.New("-brokers and -scenarios must name at least one each")
	}
	for _, b := range brokers {
		if b != "midge" && b != "mosquitto" {
			return fmt.Errorf("unknown broker %q (want midge or mosquitto)", b)
		}
	}
	for _, sc := range scens {
		if scenarios[sc] == nil {
			return fmt.Errorf("unknown scenario %q (want idle or fanout)", sc)
		}
	}
	switch {
	case s.conns < 1, s.parallel < 1, s.subs < 1:
		return errors.New("-conns, -parallel and -subs must be positive")
	case qos != 0 && qos != 1:
		return errors.New("-qos must be 0 or 1")
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
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read open-file limit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise open-file limit: %w", err)
	}
	need := uint64(s.subs + 100)
	if slices.Contains(scens, "idle") {
		need = max(need, uint64(s.conns+100))
	}
	if need > lim.Cur {
		return fmt.Errorf("the open-file limit is %d, too low for %d connections (raise it with ulimit -n)", lim.Cur, need-100)
	}
	return nil
}

func brokerSpecs(ctx context.Context, names []string, dir, midgeBin, mosqBin string) ([]brokerSpec, error) {
	var specs []brokerSpec
	for _, name := range names {
		var path string
		var err error
		switch name {
		case "midge":
			path = midgeBin
			if path == "" {
				var root string
				if root, err = moduleRoot(ctx); err == nil {
					fmt.Println("building midge from ./cmd/midge")
					path, err = buildMidge(ctx, root, dir)
				}
			}
		case "mosquitto":
			path = mosqBin
			if path == "" {
				path, err = findMosquitto()
			}
		}
		if err != nil {
			return nil, err
		}
		specs = append(specs, brokerSpec{name: name, path: path})
	}
	return specs, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
