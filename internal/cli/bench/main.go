// Package bench is midge bench, an MQTT load generator, and the Go API the
// comparison program bench/compare runs its scenarios with.
//
// A run connects subscribers and publishers to a broker, publishes
// timestamped messages for a while (as fast as the broker takes them or at
// a fixed rate), and reports messages sent, delivered and lost, the
// delivered rate, end-to-end latency percentiles from the timestamps and
// the connect rate, with the generator's own CPU use so that a reader can
// tell whether the generator or the broker was the limit. The MQTT client
// is a minimal hand-written one that encodes each PUBLISH once and
// allocates nothing per message.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// Main runs midge bench; args exclude the program name. It returns the
// exit status: 0 on success, 1 when the run failed or lost messages at
// QoS 1 or 2, 2 on a usage error.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr)
}

// options are the command line beyond Config.
type options struct {
	cfg  Config
	json bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\nUse 'midge bench --help' to see usage.\n", err)
		return 2
	}
	cfg := o.cfg
	var pp *progressPrinter
	if !o.json {
		pp = &progressPrinter{w: stdout, terminal: isTerminal(stdout), idle: cfg.Scenario == Idle}
		cfg.Progress = pp.print
	} else if isTerminal(stderr) {
		// Machines read stdout; a person watching gets the progress aside.
		pp = &progressPrinter{w: stderr, terminal: true, idle: cfg.Scenario == Idle}
		cfg.Progress = pp.print
	}
	if !o.json {
		// Say what runs before the progress lines; the figures follow.
		fmt.Fprintln(stdout, describe(ptr(cfg.withDefaults())))
	}
	res, err := Run(ctx, cfg)
	if pp != nil {
		pp.finish()
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	if o.json {
		err = WriteJSON(stdout, &res)
	} else {
		err = writeFigures(stdout, &res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	if res.Config.QoS > 0 && res.Lost > 0 {
		fmt.Fprintf(stderr, "Error: %d messages lost at QoS %d\n", res.Lost, res.Config.QoS)
		return 1
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

const usageHead = `Usage: midge bench [SCENARIO] [options]

Generates MQTT load against a broker and reports messages sent, delivered
and lost, the delivered rate, latency percentiles and the connect rate.

Scenarios:
  fanout   publishers -> subscribers of the same topic (default 1 -> 50)
  fanin    publishers on their own topics -> subscribers of all (50 -> 1)
  pairs    publisher i -> subscriber i, one topic per pair (100 pairs)
  shared   publishers -> one $share group of subscribers (1 -> 10)
  idle     connections that connect and stay silent (1000)

With --pub-url and --sub-url, publishers and subscribers connect to
different brokers (spread round-robin when one is repeated): the run then
measures what links the brokers, such as a bridge.

Options:
`

// parseArgs turns the command line into options. A first argument that is
// not an option names the scenario.
func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.cfg.Scenario, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("midge bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		host     = "localhost"
		port     = 1883
		rawURL   string
		version  = "311"
		qos      int
		scenario string
	)
	both := func(short, long string, fn func(name string)) { fn(short); fn(long) }
	both("h", "host", func(n string) { fs.StringVar(&host, n, host, "broker host") })
	both("p", "port", func(n string) { fs.IntVar(&port, n, port, "broker port") })
	both("L", "url", func(n string) {
		fs.StringVar(&rawURL, n, "", "broker as mqtt://[USER[:PASSWORD]@]HOST[:PORT] (instead of -h, -p)")
	})
	both("V", "protocol-version", func(n string) { fs.StringVar(&version, n, version, "MQTT version: 311 (3.1.1) or 5") })
	both("u", "username", func(n string) { fs.StringVar(&o.cfg.Username, n, "", "username") })
	both("P", "pw", func(n string) { fs.StringVar(&o.cfg.Password, n, "", "password") })
	both("s", "scenario", func(n string) {
		fs.StringVar(&scenario, n, "", "fanout, fanin, pairs, shared or idle (default fanout)")
	})
	both("c", "connections", func(n string) { fs.IntVar(&o.cfg.Connections, n, 0, "idle: connections to open (default 1000)") })
	fs.IntVar(&o.cfg.Publishers, "publishers", 0, "publishers (pairs: the number of pairs; default per scenario)")
	fs.IntVar(&o.cfg.Subscribers, "subscribers", 0, "subscribers (default per scenario)")
	fs.IntVar(&o.cfg.SlowSubscribers, "slow", 0, "extra subscribers that never read (a slow consumer)")
	fs.BoolVar(&o.cfg.Persistent, "persistent", false, "subscribers keep a session (clean session off), so a broker with persistence stores every QoS 1/2 message")
	fs.IntVar(&o.cfg.Topics, "topics", 0, "fanout, shared: spread over this many topics (default 1)")
	fs.IntVar(&o.cfg.Parallel, "parallel", 0, "connection attempts in flight at once (default 100)")
	both("q", "qos", func(n string) { fs.IntVar(&qos, n, 0, "QoS of subscriptions and messages: 0, 1 or 2") })
	fs.IntVar(&o.cfg.Payload, "payload", 0, "payload bytes, at least 8 for the timestamp (default 64)")
	both("r", "rate", func(n string) {
		fs.Float64Var(&o.cfg.Rate, n, 0, "messages per second over all publishers (default 0: as fast as possible)")
	})
	fs.IntVar(&o.cfg.Inflight, "inflight", 0, "QoS 1/2 messages each publisher keeps unacknowledged (default 20)")
	both("d", "duration", func(n string) {
		fs.DurationVar(&o.cfg.Duration, n, 0, "how long to publish, or for idle to stay connected (default 10s)")
	})
	fs.DurationVar(&o.cfg.Drain, "drain", 0, "how long to wait for deliveries after publishing (default 2s)")
	fs.StringVar(&o.cfg.TopicPrefix, "topic-prefix", "", "first topic level(s) (default bench)")
	fs.IntVar(&o.cfg.BrokerPID, "broker-pid", 0, "the broker's process id on this machine: also report its CPU and memory")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	brokerList := func(list *[]Endpoint) func(string) error {
		return func(raw string) error {
			e, _, err := parseBrokerURL(raw)
			if err == nil {
				*list = append(*list, e)
			}
			return err
		}
	}
	fs.Func("pub-url", "a publishers' broker as mqtt://[USER[:PASSWORD]@]HOST[:PORT] instead of -h, -p, -L; repeat it to spread them round-robin", brokerList(&o.cfg.PubBrokers))
	fs.Func("sub-url", "a subscribers' broker as mqtt://[USER[:PASSWORD]@]HOST[:PORT] instead of -h, -p, -L; repeat it to spread them round-robin", brokerList(&o.cfg.SubBrokers))
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if scenario != "" {
		o.cfg.Scenario = scenario
	}
	if qos < 0 || qos > 2 {
		return o, fmt.Errorf("QoS %d is not 0, 1 or 2", qos)
	}
	o.cfg.QoS = byte(qos)
	var err error
	if o.cfg.Version, err = parseVersion(version); err != nil {
		return o, err
	}
	if port < 1 || port > 65535 {
		return o, fmt.Errorf("invalid port %d", port)
	}
	o.cfg.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	if rawURL != "" {
		if err := o.applyURL(rawURL); err != nil {
			return o, err
		}
	}
	c := o.cfg.withDefaults()
	if err := c.validate(); err != nil {
		return o, err
	}
	return o, nil
}

func parseVersion(s string) (byte, error) {
	switch strings.ToLower(s) {
	case "311", "3.1.1", "mqttv311", "4":
		return V311, nil
	case "5", "50", "5.0", "mqttv5":
		return V5, nil
	}
	return 0, fmt.Errorf("unsupported protocol version %q (want 311 or 5)", s)
}

// applyURL takes the broker address (and credentials) from an mqtt:// URL.
func (o *options) applyURL(raw string) error {
	e, user, err := parseBrokerURL(raw)
	if err != nil {
		return err
	}
	o.cfg.Addr = e.Addr
	if user != nil {
		o.cfg.Username = user.Username()
		if pw, ok := user.Password(); ok {
			o.cfg.Password = pw
		}
	}
	return nil
}

// parseBrokerURL reads mqtt://[USER[:PASSWORD]@]HOST[:PORT] (or tcp://),
// the port 1883 by default. It also returns the user information, nil
// when the URL has none.
func parseBrokerURL(raw string) (Endpoint, *url.Userinfo, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Endpoint{}, nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "mqtt" && u.Scheme != "tcp" {
		return Endpoint{}, nil, fmt.Errorf("unsupported URL scheme %q (want mqtt://)", u.Scheme)
	}
	if u.Hostname() == "" {
		return Endpoint{}, nil, fmt.Errorf("no host in URL %q", raw)
	}
	port := u.Port()
	if port == "" {
		port = "1883"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Endpoint{}, nil, fmt.Errorf("invalid port in URL %q", raw)
	}
	e := Endpoint{Addr: net.JoinHostPort(u.Hostname(), port)}
	if u.User != nil {
		e.Username = u.User.Username()
		e.Password, _ = u.User.Password()
	}
	return e, u.User, nil
}
