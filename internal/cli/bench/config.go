package bench

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Config describes one benchmark run. Zero values take the scenario's
// defaults (see withDefaults).
type Config struct {
	// Addr is the broker's host:port.
	Addr string
	// PubBrokers and SubBrokers, when set, are the brokers of a message
	// scenario's publishers and of its subscribers (slow ones included)
	// instead of Addr: connection i of each kind goes to entry i modulo
	// the list's length. Publishers on one broker and subscribers on
	// another measure whatever links the two: a bridge, a cluster.
	PubBrokers, SubBrokers []Endpoint
	// Scenario is one of Fanout, Fanin, Pairs, Shared, Idle.
	Scenario string
	// Version is the protocol level, V311 (default) or V5.
	Version byte
	// Username and Password go into every CONNECT when set.
	Username, Password string

	// Publishers and Subscribers are the connection counts of the message
	// scenarios. In Pairs both are the number of pairs.
	Publishers, Subscribers int
	// SlowSubscribers subscribe like the others (plainly, to the first
	// publisher's topic) and then never read: they show whether a slow
	// consumer slows the broker for everyone else. Their deliveries are
	// not counted.
	SlowSubscribers int
	// Persistent subscribers keep a session (3.x Clean Session off, 5 a
	// Session Expiry Interval): with persistence on, the broker must then
	// store each QoS 1/2 message before acknowledging it.
	Persistent bool
	// Topics spreads Fanout and Shared publishers and subscribers over
	// this many topics (default 1).
	Topics int
	// Connections is the number of connections of the Idle scenario.
	Connections int
	// Parallel is how many connection attempts are in flight at once
	// (default 100: Mosquitto listens with a backlog of 100).
	Parallel int

	// QoS of the subscriptions and messages: 0, 1 or 2.
	QoS byte
	// Payload is the message size in bytes, at least 8 (the send time).
	Payload int
	// Rate is the total messages per second over all publishers; 0
	// publishes as fast as the broker takes them.
	Rate float64
	// Inflight is how many QoS 1/2 messages each publisher keeps
	// unacknowledged (default 20, Mosquitto's max_inflight_messages).
	Inflight int
	// Duration is how long to publish (or, for Idle, to stay connected).
	Duration time.Duration
	// Drain bounds the wait for deliveries after publishing stops (default 2s).
	Drain time.Duration
	// ConnectTimeout bounds each connection's CONNECT and SUBSCRIBE (default 15s).
	ConnectTimeout time.Duration

	// TopicPrefix starts every topic (default "bench").
	TopicPrefix string
	// ClientIDPrefix starts every client id (default "bench-" and a random
	// suffix, so that runs against the same broker do not collide).
	ClientIDPrefix string

	// BrokerPID, when positive, is the broker's process on this machine:
	// its CPU time and memory are then measured too.
	BrokerPID int

	// Progress, when set, is called every ProgressInterval (default 1s)
	// from another goroutine while the run lasts.
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// Endpoint is a broker that connections go to.
type Endpoint struct {
	// Addr is the broker's host:port.
	Addr string
	// Username and Password, each when set, replace the Config's for the
	// connections to this broker.
	Username, Password string
}

// Progress is a snapshot of a running benchmark.
type Progress struct {
	Elapsed   time.Duration // since publishing (or connecting, for Idle) began
	Connected int           // connections open
	Sent      int64         // messages published so far
	Delivered int64         // messages received by the normal subscribers so far
}

// withDefaults returns c with the scenario's defaults filled in.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	switch c.Scenario {
	case "":
		c.Scenario = Fanout
		fallthrough
	case Fanout:
		def(&c.Publishers, 1)
		def(&c.Subscribers, 50)
	case Fanin:
		def(&c.Publishers, 50)
		def(&c.Subscribers, 1)
	case Pairs:
		n := firstPositive(c.Publishers, c.Subscribers, 100)
		c.Publishers, c.Subscribers = n, n
	case Shared:
		def(&c.Publishers, 1)
		def(&c.Subscribers, 10)
	case Idle:
		def(&c.Connections, 1000)
	}
	if c.Version == 0 {
		c.Version = V311
	}
	def(&c.Topics, 1)
	def(&c.Parallel, 100)
	def(&c.Payload, 64)
	def(&c.Inflight, 20)
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 2 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 15 * time.Second
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = time.Second
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "bench"
	}
	return c
}

// dialers returns the dialers of one kind of connection: one per broker
// of brokers, or one for Addr if there are none.
func (c *Config) dialers(brokers []Endpoint) []*dialer {
	if len(brokers) == 0 {
		brokers = []Endpoint{{Addr: c.Addr}}
	}
	ds := make([]*dialer, len(brokers))
	for i, e := range brokers {
		user, pw := c.Username, c.Password
		if e.Username != "" {
			user = e.Username
		}
		if e.Password != "" {
			pw = e.Password
		}
		ds[i] = &dialer{addr: e.Addr, version: c.Version, username: user, password: pw, timeout: c.ConnectTimeout}
	}
	return ds
}

// firstPositive returns the first positive value.
func firstPositive(vs ...int) int {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}

// validate reports the first problem of a Config with defaults applied.
func (c *Config) validate() error {
	split := len(c.PubBrokers) > 0 || len(c.SubBrokers) > 0
	switch {
	case split && c.Scenario == Idle:
		return errors.New("idle has no publishers or subscribers: give its broker as Addr")
	case c.Addr == "" && (len(c.PubBrokers) == 0 || len(c.SubBrokers) == 0):
		return errors.New("no broker address")
	case slices.ContainsFunc(append(slices.Clip(c.PubBrokers), c.SubBrokers...), func(e Endpoint) bool { return e.Addr == "" }):
		return errors.New("a publishers' or subscribers' broker has no address")
	case !slices.Contains(ScenarioNames(), c.Scenario):
		return fmt.Errorf("unknown scenario %q (want one of %v)", c.Scenario, ScenarioNames())
	case c.Version != V311 && c.Version != V5:
		return fmt.Errorf("protocol version %d not supported (want 4 for 3.1.1 or 5)", c.Version)
	case c.QoS > 2:
		return fmt.Errorf("QoS %d is not 0, 1 or 2", c.QoS)
	case c.Publishers < 0 || c.Subscribers < 0 || c.SlowSubscribers < 0 || c.Connections < 0:
		return errors.New("connection counts must not be negative")
	case c.Topics < 1 || c.Parallel < 1 || c.Inflight < 1 || c.Inflight > 65535:
		return errors.New("topics, parallel and inflight must be positive (inflight at most 65535)")
	case c.Payload < 8:
		return errors.New("the payload must be at least 8 bytes (the send timestamp)")
	case c.Payload > 64<<20:
		return errors.New("the payload must be at most 64 MiB")
	case c.Rate < 0:
		return errors.New("the rate must not be negative")
	case c.Duration < 0 || c.Drain < 0:
		return errors.New("durations must not be negative")
	case c.Scenario != Idle && (c.Publishers == 0 || c.Subscribers == 0):
		return errors.New("need at least one publisher and one subscriber")
	}
	return nil
}
