package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/bench/internal/harness"
)

// link is one bridge under test: the near broker holds the `connection`
// block and takes the publishers, the far broker gets the subscribers.
type link struct {
	near, far string // broker names: midge or mosquitto
}

func (l link) String() string { return l.near + " -> " + l.far }

// parseLink reads NEAR-FAR, e.g. midge-mosquitto.
func parseLink(s string) (link, error) {
	near, far, ok := strings.Cut(s, "-")
	l := link{near: near, far: far}
	if !ok || !knownBroker(near) || !knownBroker(far) {
		return l, fmt.Errorf("bridge %q: want NEAR-FAR, each midge or mosquitto (e.g. midge-mosquitto)", s)
	}
	return l, nil
}

func knownBroker(name string) bool { return name == "midge" || name == "mosquitto" }

// limits are the queue and socket settings both brokers of every bridge
// run with.
type limits struct {
	inflight int    // max_inflight_messages
	queued   int    // max_queued_messages
	nodelay  string // set_tcp_nodelay: "true", "false", or "" for each broker's default
}

// baseConfig is what every broker runs with (harness.BaseConfig). Nagle's
// algorithm on client sockets is left to each broker's default (midge
// off, Mosquitto on) unless set_tcp_nodelay is given.
func baseConfig(port int, lim limits) string {
	conf := harness.BaseConfig(port, lim.inflight, lim.queued)
	if lim.nodelay != "" {
		conf += "set_tcp_nodelay " + lim.nodelay + "\n"
	}
	return conf
}

// bridgeConfig is the near broker's config: the base and one bridge to
// the far broker's port for every topic under bench/ at QoS qos. The
// rest is the brokers' defaults (clean session off, notifications on);
// restart_timeout only shortens the wait should the first attempt fail.
func bridgeConfig(port int, lim limits, farPort int, qos byte, protocol string) string {
	return baseConfig(port, lim) + fmt.Sprintf(`
connection bench
address 127.0.0.1:%d
topic bench/# out %d
bridge_protocol_version %s
restart_timeout 1
`, farPort, qos, protocol)
}

// pair is the two running brokers of one bridge.
type pair struct {
	near, far *harness.Proc
}

func (p *pair) stop() {
	// The near broker first: its bridge then stops while the far broker
	// is still there.
	p.near.Stop()
	p.far.Stop()
}

// alive reports an error if either broker has exited.
func (p *pair) alive() error { return errors.Join(p.near.Alive(), p.far.Alive()) }

// startPair starts the far broker, then the near one with its bridge,
// and waits until a message published on the near broker reaches a
// subscriber of the far one.
func startPair(ctx context.Context, specs map[string]harness.Spec, l link, dir string, lim limits, qos byte, protocol string) (*pair, error) {
	far, err := harness.Start(ctx, specs[l.far], dir, func(port int) string { return baseConfig(port, lim) })
	if err != nil {
		return nil, fmt.Errorf("far %s: %w", l.far, err)
	}
	near, err := harness.Start(ctx, specs[l.near], dir, func(port int) string {
		return bridgeConfig(port, lim, far.Port, qos, protocol)
	})
	if err != nil {
		far.Stop()
		return nil, fmt.Errorf("near %s: %w", l.near, err)
	}
	p := &pair{near: near, far: far}
	if err := harness.WaitCrossed(ctx, near.Addr, far.Addr, probeTopic, bridgeTimeout); err != nil {
		err = fmt.Errorf("%s: %w\nnear broker's output: %s\nfar broker's output: %s", l, err, near.Output(), far.Output())
		p.stop()
		return nil, err
	}
	return p, nil
}

// bridgeTimeout bounds the wait for a new bridge to carry its first
// message.
const bridgeTimeout = 30 * time.Second

// probeTopic is under the bridged bench/# but matches none of the load's
// subscriptions.
const probeTopic = "bench/probe"
